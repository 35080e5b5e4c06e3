package workloads

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Scenario is a parsed scenario file: Engram's loadtest format plus our
// extensions (docs/scenarios.md). Parse and Load validate it; the zero value of
// each optional field means "use the documented default".
type Scenario struct {
	Name        string         `toml:"name" json:"name"`
	Description string         `toml:"description" json:"description,omitempty"`
	Duration    DurationSpec   `toml:"duration" json:"duration"`
	Arrival     ArrivalSpec    `toml:"arrival" json:"arrival"`
	Operations  OperationsSpec `toml:"operations" json:"operations"`
	Data        DataSpec       `toml:"data" json:"data"`
	Validation  ValidationSpec `toml:"validation" json:"validation"`
	Chaos       ChaosSpec      `toml:"chaos" json:"chaos"`
	Run         RunSpec        `toml:"run" json:"run"`
	// Phases (extension) split the run into consecutive phases, each with its
	// own duration, arrival and op mix (docs/scenarios.md, "Phases").
	Phases []PhaseSpec `toml:"phases" json:"phases,omitempty"`
	// Drill (extension) makes the run a disaster-recovery drill
	// (docs/disaster-recovery.md); nil for an ordinary run.
	Drill *DrillSpec `toml:"drill" json:"drill,omitempty"`

	// ID is the scenario's short name: the built-in name or the file name
	// without its extension. Results and benchmark names use it.
	ID string `toml:"-" json:"id"`
	// Source is where the scenario came from: a file path or "builtin:<name>".
	Source string `toml:"-" json:"source"`
	// Text is the scenario file as read, kept so that a Result can describe itself.
	Text string `toml:"-" json:"-"`
}

// DurationSpec is the [duration] table.
type DurationSpec struct {
	// TotalSeconds is the measured run length (Engram's key). Default 300.
	TotalSeconds float64 `toml:"total_seconds" json:"total_seconds"`
	// WarmupSeconds (extension) runs load before measuring starts; it is not in
	// the results. Default 0.
	WarmupSeconds float64 `toml:"warmup_seconds" json:"warmup_seconds,omitempty"`
}

// Total returns the measured duration.
func (d DurationSpec) Total() time.Duration { return seconds(d.TotalSeconds) }

// Warmup returns the warm-up duration.
func (d DurationSpec) Warmup() time.Duration { return seconds(d.WarmupSeconds) }

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// ArrivalSpec is the [arrival] table: a pattern and its parameters. Which keys
// each pattern takes is listed by ArrivalPatterns.
type ArrivalSpec struct {
	Pattern          string  `toml:"pattern" json:"pattern"`
	Rate             float64 `toml:"rate" json:"rate,omitempty"`
	Lambda           float64 `toml:"lambda" json:"lambda,omitempty"`
	BaseRate         float64 `toml:"base_rate" json:"base_rate,omitempty"`
	BurstRate        float64 `toml:"burst_rate" json:"burst_rate,omitempty"`
	BurstDurationSec float64 `toml:"burst_duration_sec" json:"burst_duration_sec,omitempty"`
	BurstPeriodSec   float64 `toml:"burst_period_sec" json:"burst_period_sec,omitempty"`
	// ramp
	StartRate float64 `toml:"start_rate" json:"start_rate,omitempty"`
	EndRate   float64 `toml:"end_rate" json:"end_rate,omitempty"`
	RampSec   float64 `toml:"ramp_sec" json:"ramp_sec,omitempty"`
	// step (also Rate)
	Step    float64 `toml:"step" json:"step,omitempty"`
	HoldSec float64 `toml:"hold_sec" json:"hold_sec,omitempty"`
	Steps   int     `toml:"steps" json:"steps,omitempty"`
	// sine (also Rate)
	Amplitude float64 `toml:"amplitude" json:"amplitude,omitempty"`
	PeriodSec float64 `toml:"period_sec" json:"period_sec,omitempty"`
	// Poisson switches ramp, step and sine from evenly spaced ops to an
	// inhomogeneous Poisson process with the same rate.
	Poisson bool `toml:"poisson" json:"poisson,omitempty"`
	// bursty
	OnRate     float64 `toml:"on_rate" json:"on_rate,omitempty"`
	OffRate    float64 `toml:"off_rate" json:"off_rate,omitempty"`
	MeanOnSec  float64 `toml:"mean_on_sec" json:"mean_on_sec,omitempty"`
	MeanOffSec float64 `toml:"mean_off_sec" json:"mean_off_sec,omitempty"`
	// trace
	File           string  `toml:"file" json:"file,omitempty"`
	RateMultiplier float64 `toml:"rate_multiplier" json:"rate_multiplier,omitempty"`
	// closed_loop
	Users             int     `toml:"users" json:"users,omitempty"`
	ThinkTimeSec      float64 `toml:"think_time_sec" json:"think_time_sec,omitempty"`
	ThinkDistribution string  `toml:"think_distribution" json:"think_distribution,omitempty"`
}

// OperationsSpec is the [operations] table: relative weights (percentages or
// fractions; only their ratios matter) and op parameters.
type OperationsSpec struct {
	StoreWeight             float64 `toml:"store_weight" json:"store_weight"`
	RecallWeight            float64 `toml:"recall_weight" json:"recall_weight"`
	EmbeddingSearchWeight   float64 `toml:"embedding_search_weight" json:"embedding_search_weight"`
	PatternCompletionWeight float64 `toml:"pattern_completion_weight" json:"pattern_completion_weight"`
	// Extensions.
	RecallByIDWeight          float64 `toml:"recall_by_id_weight" json:"recall_by_id_weight,omitempty"`
	SpreadingActivationWeight float64 `toml:"spreading_activation_weight" json:"spreading_activation_weight,omitempty"`
	ConsolidationWeight       float64 `toml:"consolidation_weight" json:"consolidation_weight,omitempty"`
	ForgetWeight              float64 `toml:"forget_weight" json:"forget_weight,omitempty"`
	StoreBatchWeight          float64 `toml:"store_batch_weight" json:"store_batch_weight,omitempty"`
	UpdateWeight              float64 `toml:"update_weight" json:"update_weight,omitempty"`
	ReadModifyWriteWeight     float64 `toml:"read_modify_write_weight" json:"read_modify_write_weight,omitempty"`

	RecallMode      string  `toml:"recall_mode" json:"recall_mode,omitempty"`           // similarity (default), spreading, hybrid
	MaxResults      int     `toml:"max_results" json:"max_results,omitempty"`           // recall: default 10
	RecallThreshold float64 `toml:"recall_threshold" json:"recall_threshold,omitempty"` // recall: default 0.5 (Engram's)
	SearchK         int     `toml:"search_k" json:"search_k,omitempty"`                 // embedding_search: default 10
	SpreadingDepth  int     `toml:"spreading_depth" json:"spreading_depth,omitempty"`   // default 3
	BatchSize       int     `toml:"batch_size" json:"batch_size,omitempty"`             // store_batch: default 100
	ConfidenceMin   float64 `toml:"confidence_min" json:"confidence_min,omitempty"`     // store: default 0.9
	ConfidenceMax   float64 `toml:"confidence_max" json:"confidence_max,omitempty"`     // store: default 1.0
	// SearchKMin (extension): embedding_search draws k uniformly from
	// [search_k_min, search_k]. Default search_k (a fixed k).
	SearchKMin int `toml:"search_k_min" json:"search_k_min,omitempty"`
	// SpreadingDepthWeights (extension): depth d is drawn with weight [d−1];
	// e.g. [1, 1] shallow 1–2 hops, [0, 0, 0, 0, 1, 1, 1] deep 5–7. Unset:
	// every op uses spreading_depth.
	SpreadingDepthWeights []float64 `toml:"spreading_depth_weights" json:"spreading_depth_weights,omitempty"`
	// KeyDistribution (extension) picks the memory a by-id op, update, cue or
	// spreading seed targets, among the memories stored so far: uniform
	// (default), zipfian, latest or hot_spot.
	KeyDistribution string  `toml:"key_distribution" json:"key_distribution,omitempty"`
	ZipfTheta       float64 `toml:"zipf_theta" json:"zipf_theta,omitempty"`           // zipfian, latest: default 0.99
	HotFraction     float64 `toml:"hot_fraction" json:"hot_fraction,omitempty"`       // hot_spot: default 0.2
	HotOpFraction   float64 `toml:"hot_op_fraction" json:"hot_op_fraction,omitempty"` // hot_spot: default 0.8
	// MinTargetAge (extension): targets are memories stored at least this many
	// ops earlier, so that writes still in flight are rarely aimed at. Default 64.
	MinTargetAge int64 `toml:"min_target_age" json:"min_target_age,omitempty"`
}

// Weights returns the weight of each op kind, indexed by Kind.
func (o OperationsSpec) Weights() [NumKinds]float64 {
	var w [NumKinds]float64
	w[KindStore] = o.StoreWeight
	w[KindRecall] = o.RecallWeight
	w[KindSearch] = o.EmbeddingSearchWeight
	w[KindComplete] = o.PatternCompletionWeight
	w[KindRecallByID] = o.RecallByIDWeight
	w[KindSpread] = o.SpreadingActivationWeight
	w[KindConsolidate] = o.ConsolidationWeight
	w[KindForget] = o.ForgetWeight
	w[KindStoreBatch] = o.StoreBatchWeight
	w[KindUpdate] = o.UpdateWeight
	w[KindReadModify] = o.ReadModifyWriteWeight
	return w
}

// DataSpec is the [data] table.
type DataSpec struct {
	NumNodes              int64            `toml:"num_nodes" json:"num_nodes"`
	EmbeddingDim          int              `toml:"embedding_dim" json:"embedding_dim"`
	MemorySpaces          int              `toml:"memory_spaces" json:"memory_spaces"`
	EmbeddingDistribution DistributionSpec `toml:"embedding_distribution" json:"embedding_distribution"`
	// Preload (extension) is how many memories are stored before measuring
	// starts. Unset: NumNodes capped at DefaultPreloadCap.
	Preload *int64 `toml:"preload" json:"preload,omitempty"`
	// CueNoise (extension) is the norm of the perturbation that turns a stored
	// memory's embedding into a recall or search cue. Default 0.05.
	CueNoise *float64 `toml:"cue_noise" json:"cue_noise,omitempty"`
	// TenantDistribution (extension): how stores spread over memory spaces,
	// uniform (default) or zipfian (space_0 the busiest; tenant_theta, default 0.99).
	TenantDistribution string  `toml:"tenant_distribution" json:"tenant_distribution,omitempty"`
	TenantTheta        float64 `toml:"tenant_theta" json:"tenant_theta,omitempty"`
	// PlantedGroupSize (extension): preload memories come in groups of this
	// many near-duplicates (noise planted_noise around a drawn base), so a cue
	// aimed at one has a known set of expected neighbours: recall@10 is scored
	// against it. 0 (default): the expected set is the target alone.
	PlantedGroupSize int     `toml:"planted_group_size" json:"planted_group_size,omitempty"`
	PlantedNoise     float64 `toml:"planted_noise" json:"planted_noise,omitempty"` // default 0.02
}

// DistributionSpec is [data.embedding_distribution], a sub-table or an inline table.
type DistributionSpec struct {
	Type        string    `toml:"type" json:"type"`
	NumClusters int       `toml:"num_clusters" json:"num_clusters,omitempty"`
	StdDev      float64   `toml:"std_dev" json:"std_dev,omitempty"`
	Center      []float64 `toml:"center" json:"center,omitempty"`
	// DriftOps (drifting): memories after which every centre has turned by
	// 90°. Default 1,000,000.
	DriftOps int64 `toml:"drift_ops" json:"drift_ops,omitempty"`
}

// ValidationSpec is the [validation] table: the run's targets. A nil field sets no target.
type ValidationSpec struct {
	ExpectedP50LatencyMs     *float64 `toml:"expected_p50_latency_ms" json:"expected_p50_latency_ms,omitempty"`
	ExpectedP99LatencyMs     *float64 `toml:"expected_p99_latency_ms" json:"expected_p99_latency_ms,omitempty"`
	ExpectedP999LatencyMs    *float64 `toml:"expected_p999_latency_ms" json:"expected_p999_latency_ms,omitempty"`
	ExpectedThroughputOpsSec *float64 `toml:"expected_throughput_ops_sec" json:"expected_throughput_ops_sec,omitempty"`
	MaxErrorRate             *float64 `toml:"max_error_rate" json:"max_error_rate,omitempty"`
	// ExpectedRecallAt10 (extension): the least recall@10 of cues (recall by
	// cue, embedding search, pattern completion) against their expected memories.
	ExpectedRecallAt10 *float64 `toml:"expected_recall_at_10" json:"expected_recall_at_10,omitempty"`
	// ExpectedRTOS (extension, drills): the longest recovery time, from the
	// disaster until the restored server serves the workload within its
	// targets again, in seconds.
	ExpectedRTOS *float64 `toml:"expected_rto_s" json:"expected_rto_s,omitempty"`
	// ExpectedRPOS (extension, drills): the longest data-loss window, from
	// the newest acknowledged memory that survived to the disaster, in seconds.
	ExpectedRPOS *float64 `toml:"expected_rpo_s" json:"expected_rpo_s,omitempty"`
}

// RunSpec is the [run] table (extension): run defaults that flags override.
type RunSpec struct {
	Seed        *uint64 `toml:"seed" json:"seed,omitempty"`
	Concurrency int     `toml:"concurrency" json:"concurrency,omitempty"`
	Driver      string  `toml:"driver" json:"driver,omitempty"`
}

// Documented defaults.
const (
	// DefaultPreloadCap caps the default preload (num_nodes) so that Engram's
	// million-node scenarios start within seconds; set data.preload to load more.
	DefaultPreloadCap   = 10_000
	DefaultTotalSeconds = 300
	DefaultEmbeddingDim = 768
	DefaultCueNoise     = 0.05
	DefaultMaxResults   = 10
	DefaultRecallThresh = 0.5
	DefaultSearchK      = 10
	DefaultSpreadDepth  = 3
	DefaultBatchSize    = 100
	DefaultMinTargetAge = 64
	DefaultDriftOps     = 1_000_000
	DefaultPlantedNoise = 0.02
	DefaultHotFraction  = 0.2
	DefaultHotOpFrac    = 0.8
	MaxEmbeddingDim     = 65536
	MaxMemorySpaces     = 100_000
)

// PreloadCount returns how many memories are stored before measuring.
func (s *Scenario) PreloadCount() int64 {
	for _, p := range s.Phases {
		if p.IsPreload() && p.Memories != nil {
			return *p.Memories
		}
	}
	if s.Data.Preload != nil {
		return *s.Data.Preload
	}
	return min(s.Data.NumNodes, DefaultPreloadCap)
}

// SpaceNames returns the memory space ids, as Engram's loadtest names them:
// "default" for one space, else "space_0" … "space_<n-1>".
func (s *Scenario) SpaceNames() []string {
	if s.Data.MemorySpaces <= 1 {
		return []string{"default"}
	}
	names := make([]string, s.Data.MemorySpaces)
	for i := range names {
		names[i] = fmt.Sprintf("space_%d", i)
	}
	return names
}

// SpecError is a problem with a scenario file. It prints as
// "read_heavy.toml:12: arrival.rate: must be > 0, got -5".
type SpecError struct {
	File  string // file name or "builtin:<name>"
	Line  int    // 1-based; 0 when unknown
	Key   string // dotted key, e.g. "arrival.rate"; empty for file-level problems
	Value any    // the offending value, when there is one
	Msg   string
	Err   error // underlying error, if any
}

func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Value != nil {
		fmt.Fprintf(&b, ", got %v", fmtValue(e.Value))
	}
	return b.String()
}

func (e *SpecError) Unwrap() error { return e.Err }

func fmtValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case float64:
		return fmt.Sprintf("%g", v)
	default:
		return fmt.Sprint(v)
	}
}

// Load reads and validates the scenario file at path.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &SpecError{File: path, Msg: "scenario file not found", Err: err}
		}
		return nil, &SpecError{File: path, Msg: "cannot read scenario file: " + err.Error(), Err: err}
	}
	return Parse(path, data)
}

// Resolve returns the built-in scenario called nameOrPath, or else loads the file.
func Resolve(nameOrPath string) (*Scenario, error) {
	if IsBuiltin(nameOrPath) {
		return LoadBuiltin(nameOrPath)
	}
	if !strings.ContainsAny(nameOrPath, "/.") {
		return nil, &SpecError{File: nameOrPath, Msg: fmt.Sprintf("no built-in scenario of that name and no such file (built-ins: %s)", strings.Join(BuiltinNames(), ", "))}
	}
	return Load(nameOrPath)
}

// tomlPrefixRe matches the "toml: line N (last key "K"): " prefix the TOML
// decoder puts on type errors (line and key each optional).
var tomlPrefixRe = regexp.MustCompile(`^toml: (?:line (\d+) ?)?(?:\(last key "([^"]*)"\): )?`)

// Parse parses and validates a scenario. file names it in errors.
func Parse(file string, data []byte) (*Scenario, error) {
	sc := &Scenario{Source: file, Text: string(data)}
	md, err := toml.Decode(string(data), sc)
	if err != nil {
		se := &SpecError{File: file, Msg: err.Error(), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			se.Line = pe.Position.Line
			se.Msg = pe.Message
			se.Key = pe.LastKey
		} else if m := tomlPrefixRe.FindStringSubmatch(err.Error()); m != nil {
			if m[1] != "" {
				fmt.Sscan(m[1], &se.Line)
			}
			se.Key = m[2]
			se.Msg = strings.TrimSpace(err.Error()[len(m[0]):])
		}
		if se.Msg == "" {
			se.Msg = "invalid TOML"
		}
		return nil, se
	}
	v := &validator{file: file, src: data, md: md}
	for _, k := range md.Undecoded() {
		v.errf(k.String(), nil, "unknown key")
		break
	}
	if v.err == nil {
		sc.applyDefaults(md)
		sc.validate(v)
	}
	if v.err != nil {
		return nil, v.err
	}
	sc.ID = strings.TrimSuffix(filepath.Base(strings.TrimPrefix(file, "builtin:")), ".toml")
	if sc.Name == "" {
		sc.Name = sc.ID
	}
	return sc, nil
}

func (s *Scenario) applyDefaults(md toml.MetaData) {
	if !md.IsDefined("duration", "total_seconds") {
		s.Duration.TotalSeconds = DefaultTotalSeconds
	}
	if !md.IsDefined("data", "embedding_dim") {
		s.Data.EmbeddingDim = DefaultEmbeddingDim
	}
	if !md.IsDefined("data", "memory_spaces") {
		s.Data.MemorySpaces = 1
	}
	if !md.IsDefined("data", "num_nodes") {
		s.Data.NumNodes = DefaultPreloadCap
	}
	d := &s.Data.EmbeddingDistribution
	if d.Type == "" {
		d.Type = "clustered"
	}
	if d.Type == "clustered" {
		if !md.IsDefined("data", "embedding_distribution", "num_clusters") {
			d.NumClusters = 10
		}
		if !md.IsDefined("data", "embedding_distribution", "std_dev") {
			d.StdDev = 0.1
		}
	}
	if d.Type == "hot_spot" && !md.IsDefined("data", "embedding_distribution", "std_dev") {
		d.StdDev = 0.01
	}
	if d.Type == "drifting" {
		if !md.IsDefined("data", "embedding_distribution", "num_clusters") {
			d.NumClusters = 10
		}
		if !md.IsDefined("data", "embedding_distribution", "std_dev") {
			d.StdDev = 0.1
		}
		if !md.IsDefined("data", "embedding_distribution", "drift_ops") {
			d.DriftOps = DefaultDriftOps
		}
	}
	if !md.IsDefined("data", "tenant_theta") {
		s.Data.TenantTheta = DefaultZipfTheta
	}
	if !md.IsDefined("data", "planted_noise") {
		s.Data.PlantedNoise = DefaultPlantedNoise
	}
	s.Operations.applyDefaults(func(k string) bool { return md.IsDefined("operations", k) })
	if s.Drill != nil {
		s.Drill.applyDefaults(func(k string) bool { return md.IsDefined("drill", k) })
	}
	if !md.IsDefined("chaos", "enabled") && len(s.Chaos.Faults) > 0 {
		s.Chaos.Enabled = true
	}
}

// applyDefaults sets every parameter that defined(key) says is missing.
func (o *OperationsSpec) applyDefaults(defined func(key string) bool) {
	if o.RecallMode == "" {
		o.RecallMode = "similarity"
	}
	if !defined("max_results") {
		o.MaxResults = DefaultMaxResults
	}
	if !defined("recall_threshold") {
		o.RecallThreshold = DefaultRecallThresh
	}
	if !defined("search_k") {
		o.SearchK = DefaultSearchK
	}
	if !defined("search_k_min") {
		o.SearchKMin = o.SearchK
	}
	if !defined("spreading_depth") {
		o.SpreadingDepth = DefaultSpreadDepth
	}
	if !defined("batch_size") {
		o.BatchSize = DefaultBatchSize
	}
	if !defined("confidence_min") {
		o.ConfidenceMin = 0.9
	}
	if !defined("confidence_max") {
		o.ConfidenceMax = 1.0
	}
	if o.KeyDistribution == "" {
		o.KeyDistribution = PopUniform
	}
	if !defined("zipf_theta") {
		o.ZipfTheta = DefaultZipfTheta
	}
	if !defined("hot_fraction") {
		o.HotFraction = DefaultHotFraction
	}
	if !defined("hot_op_fraction") {
		o.HotOpFraction = DefaultHotOpFrac
	}
	if !defined("min_target_age") {
		o.MinTargetAge = DefaultMinTargetAge
	}
}

// validator collects the first problem, with its line.
type validator struct {
	file string
	src  []byte
	md   toml.MetaData
	err  error
}

func (v *validator) errf(key string, value any, format string, args ...any) {
	if v.err != nil {
		return
	}
	line := keyLine(v.src, key)
	if strings.HasPrefix(key, "phases[") {
		line = phaseKeyLine(v.src, key)
	}
	v.err = &SpecError{File: v.file, Line: line, Key: key, Value: value, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) defined(key string) bool { return v.md.IsDefined(strings.Split(key, ".")...) }

func (v *validator) positive(key string, x float64) {
	if !(x > 0) || math.IsInf(x, 0) {
		v.errf(key, x, "must be > 0")
	}
}

func (v *validator) nonNegative(key string, x float64) {
	if !(x >= 0) || math.IsInf(x, 0) {
		v.errf(key, x, "must be >= 0")
	}
}

func (s *Scenario) validate(v *validator) {
	defer s.Chaos.validate(v)
	v.positive("duration.total_seconds", s.Duration.TotalSeconds)
	v.nonNegative("duration.warmup_seconds", s.Duration.WarmupSeconds)
	if !v.defined("arrival") {
		if len(s.Phases) == 0 {
			v.errf("arrival", nil, "missing [arrival] table (pattern = \"constant\", rate = ...)")
		}
	} else {
		validateArrival(v, &s.Arrival)
		if len(s.Phases) > 0 && (s.Arrival.Pattern == "closed_loop" || s.Arrival.Pattern == "trace") {
			v.errf("arrival.pattern", s.Arrival.Pattern, "cannot be combined with [[phases]]")
		}
	}

	validateOps(v, "operations", &s.Operations)

	d := &s.Data
	if d.NumNodes < 0 {
		v.errf("data.num_nodes", d.NumNodes, "must be >= 0")
	}
	if d.EmbeddingDim < 1 || d.EmbeddingDim > MaxEmbeddingDim {
		v.errf("data.embedding_dim", d.EmbeddingDim, "must be in [1, %d]", MaxEmbeddingDim)
	}
	if d.MemorySpaces < 1 || d.MemorySpaces > MaxMemorySpaces {
		v.errf("data.memory_spaces", d.MemorySpaces, "must be in [1, %d]", MaxMemorySpaces)
	}
	if d.Preload != nil && *d.Preload < 0 {
		v.errf("data.preload", *d.Preload, "must be >= 0")
	}
	if d.CueNoise != nil && (!(*d.CueNoise >= 0) || *d.CueNoise > 10) {
		v.errf("data.cue_noise", *d.CueNoise, "must be in [0, 10]")
	}
	dist := &d.EmbeddingDistribution
	switch dist.Type {
	case "clustered":
		if dist.NumClusters < 1 || dist.NumClusters > 1_000_000 {
			v.errf("data.embedding_distribution.num_clusters", dist.NumClusters, "must be in [1, 1000000]")
		}
		v.nonNegative("data.embedding_distribution.std_dev", dist.StdDev)
	case "uniform":
	case "hot_spot":
		v.nonNegative("data.embedding_distribution.std_dev", dist.StdDev)
		if len(dist.Center) > d.EmbeddingDim {
			v.errf("data.embedding_distribution.center", len(dist.Center), "has more values than embedding_dim (%d)", d.EmbeddingDim)
		}
		for _, x := range dist.Center {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				v.errf("data.embedding_distribution.center", x, "values must be finite")
			}
		}
	case "drifting":
		if dist.NumClusters < 1 || dist.NumClusters > 1_000_000 {
			v.errf("data.embedding_distribution.num_clusters", dist.NumClusters, "must be in [1, 1000000]")
		}
		v.nonNegative("data.embedding_distribution.std_dev", dist.StdDev)
		if dist.DriftOps < 1 {
			v.errf("data.embedding_distribution.drift_ops", dist.DriftOps, "must be >= 1")
		}
	default:
		v.errf("data.embedding_distribution.type", dist.Type, "must be clustered, uniform, hot_spot or drifting")
	}
	if v.defined("data.embedding_distribution.drift_ops") && dist.Type != "drifting" {
		v.errf("data.embedding_distribution.drift_ops", dist.DriftOps, "only applies to type = \"drifting\"")
	}
	switch d.TenantDistribution {
	case "", PopUniform, PopZipfian:
	default:
		v.errf("data.tenant_distribution", d.TenantDistribution, "must be uniform or zipfian")
	}
	if !(d.TenantTheta > 0) || d.TenantTheta > 10 {
		v.errf("data.tenant_theta", d.TenantTheta, "must be in (0, 10]")
	}
	if d.PlantedGroupSize < 0 || d.PlantedGroupSize > 1000 {
		v.errf("data.planted_group_size", d.PlantedGroupSize, "must be in [0, 1000]")
	}
	if !(d.PlantedNoise >= 0) || d.PlantedNoise > 1 {
		v.errf("data.planted_noise", d.PlantedNoise, "must be in [0, 1]")
	}

	val := &s.Validation
	for _, t := range []struct {
		key string
		p   *float64
	}{
		{"validation.expected_p50_latency_ms", val.ExpectedP50LatencyMs},
		{"validation.expected_p99_latency_ms", val.ExpectedP99LatencyMs},
		{"validation.expected_p999_latency_ms", val.ExpectedP999LatencyMs},
		{"validation.expected_throughput_ops_sec", val.ExpectedThroughputOpsSec},
	} {
		if t.p != nil {
			v.positive(t.key, *t.p)
		}
	}
	if val.MaxErrorRate != nil && !(*val.MaxErrorRate >= 0 && *val.MaxErrorRate <= 1) {
		v.errf("validation.max_error_rate", *val.MaxErrorRate, "must be a fraction in [0, 1]")
	}
	if val.ExpectedRecallAt10 != nil && !(*val.ExpectedRecallAt10 >= 0 && *val.ExpectedRecallAt10 <= 1) {
		v.errf("validation.expected_recall_at_10", *val.ExpectedRecallAt10, "must be a fraction in [0, 1]")
	}
	if s.Run.Concurrency < 0 {
		v.errf("run.concurrency", s.Run.Concurrency, "must be >= 0")
	}
	if v.err == nil {
		s.resolvePhases(v)
	}
	if v.err == nil {
		s.validateDrill(v)
	}
}

// validateOps checks an [operations] table (or a phase's) under prefix.
func validateOps(v *validator, prefix string, o *OperationsSpec) {
	w := o.Weights()
	sum := 0.0
	for k, x := range w {
		v.nonNegative(prefix+"."+weightKey(Kind(k)), x)
		sum += x
	}
	if v.err == nil && !(sum > 0) {
		v.errf(prefix, nil, "op weights sum to zero: give at least one of store_weight, recall_weight, embedding_search_weight, ... a positive weight")
	}
	if _, err := ParseRecallMode(o.RecallMode); err != nil {
		v.errf(prefix+".recall_mode", o.RecallMode, "must be similarity, spreading or hybrid")
	}
	if o.MaxResults < 1 || o.MaxResults > 10_000 {
		v.errf(prefix+".max_results", o.MaxResults, "must be in [1, 10000]")
	}
	if !(o.RecallThreshold >= 0 && o.RecallThreshold <= 1) {
		v.errf(prefix+".recall_threshold", o.RecallThreshold, "must be in [0, 1]")
	}
	if o.SearchK < 1 || o.SearchK > 10_000 {
		v.errf(prefix+".search_k", o.SearchK, "must be in [1, 10000]")
	}
	if o.SearchKMin < 1 || o.SearchKMin > o.SearchK {
		v.errf(prefix+".search_k_min", o.SearchKMin, "must be in [1, search_k]")
	}
	if o.SpreadingDepth < 1 || o.SpreadingDepth > 64 {
		v.errf(prefix+".spreading_depth", o.SpreadingDepth, "must be in [1, 64]")
	}
	if n := len(o.SpreadingDepthWeights); n > 0 {
		sum := 0.0
		for _, x := range o.SpreadingDepthWeights {
			if !(x >= 0) || math.IsInf(x, 0) {
				v.errf(prefix+".spreading_depth_weights", x, "weights must be >= 0")
			}
			sum += x
		}
		if n > 64 {
			v.errf(prefix+".spreading_depth_weights", n, "has weights for more than 64 depths")
		} else if !(sum > 0) {
			v.errf(prefix+".spreading_depth_weights", nil, "weights sum to zero")
		}
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatch {
		v.errf(prefix+".batch_size", o.BatchSize, "must be in [1, %d]", MaxBatch)
	}
	if !(o.ConfidenceMin >= 0 && o.ConfidenceMin <= 1) {
		v.errf(prefix+".confidence_min", o.ConfidenceMin, "must be in [0, 1]")
	}
	if !(o.ConfidenceMax >= o.ConfidenceMin && o.ConfidenceMax <= 1) {
		v.errf(prefix+".confidence_max", o.ConfidenceMax, "must be in [confidence_min, 1]")
	}
	switch o.KeyDistribution {
	case PopUniform, PopZipfian, PopLatest, PopHotSpot:
	default:
		v.errf(prefix+".key_distribution", o.KeyDistribution, "must be uniform, zipfian, latest or hot_spot")
	}
	if !(o.ZipfTheta > 0) || o.ZipfTheta > 10 {
		v.errf(prefix+".zipf_theta", o.ZipfTheta, "must be in (0, 10]")
	}
	if !(o.HotFraction > 0 && o.HotFraction < 1) {
		v.errf(prefix+".hot_fraction", o.HotFraction, "must be in (0, 1)")
	}
	if !(o.HotOpFraction >= 0 && o.HotOpFraction <= 1) {
		v.errf(prefix+".hot_op_fraction", o.HotOpFraction, "must be in [0, 1]")
	}
	if o.MinTargetAge < 0 {
		v.errf(prefix+".min_target_age", o.MinTargetAge, "must be >= 0")
	}
}

func weightKey(k Kind) string {
	switch k {
	case KindRecall:
		return "recall_weight"
	case KindSearch:
		return "embedding_search_weight"
	}
	return k.String() + "_weight"
}

var tableRe = regexp.MustCompile(`^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$`)

// keyLine finds the line that defines a dotted key ("data.embedding_distribution.std_dev"):
// the key in its own table, the key inside an inline table, or the table header.
// It returns 0 when the key is not in the text (a default value).
func keyLine(src []byte, key string) int {
	parts := strings.Split(key, ".")
	// Try: key k = parts[n] defined in table parts[:n], for n from len-1 down to 0.
	for n := len(parts) - 1; n >= 0; n-- {
		table := strings.Join(parts[:n], ".")
		if l := findKeyInTable(src, table, parts[n]); l > 0 {
			return l
		}
	}
	return 0
}

func findKeyInTable(src []byte, table, key string) int {
	current := ""
	keyRe := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for i, line := range bytes.Split(src, []byte("\n")) {
		if m := tableRe.FindSubmatch(line); m != nil {
			current = strings.ReplaceAll(string(m[1]), " ", "")
			if current == table+"."+key || (table == "" && current == key) {
				return i + 1
			}
			continue
		}
		if current == table && keyRe.Match(line) {
			return i + 1
		}
		// dotted keys: data.num_nodes = 5 at top level
		if table != "" && current == "" {
			dotted := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(table+"."+key) + `\s*=`)
			if dotted.Match(line) {
				return i + 1
			}
		}
	}
	return 0
}

// Clone returns a deep copy of s, for overriding fields per run.
func (s *Scenario) Clone() *Scenario {
	c := *s
	c.Data.EmbeddingDistribution.Center = append([]float64(nil), s.Data.EmbeddingDistribution.Center...)
	if s.Data.Preload != nil {
		p := *s.Data.Preload
		c.Data.Preload = &p
	}
	if s.Data.CueNoise != nil {
		p := *s.Data.CueNoise
		c.Data.CueNoise = &p
	}
	if s.Run.Seed != nil {
		p := *s.Run.Seed
		c.Run.Seed = &p
	}
	c.Chaos = s.Chaos.clone()
	cp := func(p *float64) *float64 {
		if p == nil {
			return nil
		}
		x := *p
		return &x
	}
	c.Validation = ValidationSpec{
		ExpectedP50LatencyMs:     cp(s.Validation.ExpectedP50LatencyMs),
		ExpectedP99LatencyMs:     cp(s.Validation.ExpectedP99LatencyMs),
		ExpectedP999LatencyMs:    cp(s.Validation.ExpectedP999LatencyMs),
		ExpectedThroughputOpsSec: cp(s.Validation.ExpectedThroughputOpsSec),
		MaxErrorRate:             cp(s.Validation.MaxErrorRate),
		ExpectedRecallAt10:       cp(s.Validation.ExpectedRecallAt10),
		ExpectedRTOS:             cp(s.Validation.ExpectedRTOS),
		ExpectedRPOS:             cp(s.Validation.ExpectedRPOS),
	}
	c.Drill = s.Drill.clone()
	c.Operations.SpreadingDepthWeights = append([]float64(nil), s.Operations.SpreadingDepthWeights...)
	c.Phases = make([]PhaseSpec, len(s.Phases))
	for i, p := range s.Phases {
		c.Phases[i] = p.clone()
	}
	if s.Phases == nil {
		c.Phases = nil
	}
	return &c
}
