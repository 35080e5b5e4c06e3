package workloads

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// PhaseSpec is one [[phases]] entry: a stretch of the run with its own
// duration, arrival and op mix. A phase named "preload" (first, at most one)
// is the bulk load and takes only `memories`; a phase named "warmup" is not
// recorded unless record = true. Unrecorded phases come before recorded ones.
type PhaseSpec struct {
	Name            string  `toml:"name" json:"name"`
	DurationSeconds float64 `toml:"duration_seconds" json:"duration_seconds,omitempty"`
	// Arrival is the phase's [phases.arrival]; unset, the top-level [arrival].
	Arrival *ArrivalSpec `toml:"arrival" json:"arrival,omitempty"`
	// Operations is the phase's [phases.operations]: keys it sets override the
	// top-level [operations]; if it sets any weight, its weights replace all of
	// the top-level ones.
	Operations *OperationsSpec `toml:"operations" json:"operations,omitempty"`
	// Record says whether the phase's ops are in the results. Default: false
	// for "warmup", true otherwise.
	Record *bool `toml:"record" json:"record,omitempty"`
	// Memories (preload phase only) is how many memories are bulk-loaded.
	Memories *int64 `toml:"memories" json:"memories,omitempty"`
}

// IsPreload reports whether p is the bulk-load phase.
func (p *PhaseSpec) IsPreload() bool { return p.Name == "preload" }

// Recorded reports whether the phase's ops count in the results.
func (p *PhaseSpec) Recorded() bool {
	if p.Record != nil {
		return *p.Record
	}
	return p.Name != "warmup" && !p.IsPreload()
}

func (p PhaseSpec) clone() PhaseSpec {
	c := p
	if p.Arrival != nil {
		a := *p.Arrival
		c.Arrival = &a
	}
	if p.Operations != nil {
		o := *p.Operations
		o.SpreadingDepthWeights = append([]float64(nil), p.Operations.SpreadingDepthWeights...)
		c.Operations = &o
	}
	if p.Record != nil {
		r := *p.Record
		c.Record = &r
	}
	if p.Memories != nil {
		m := *p.Memories
		c.Memories = &m
	}
	return c
}

var phaseNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// phaseKeys returns, per [[phases]] entry, the keys its file text defines
// ("name", "arrival.rate", "operations.store_weight", ...).
func phaseKeys(md toml.MetaData) []map[string]bool {
	var out []map[string]bool
	for _, k := range md.Keys() {
		if len(k) == 0 || k[0] != "phases" {
			continue
		}
		if len(k) == 1 {
			out = append(out, map[string]bool{})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1][strings.Join(k[1:], ".")] = true
		}
	}
	return out
}

// resolvePhases validates the phases and fills in what they inherit. It runs
// after the top-level defaults are applied.
func (s *Scenario) resolvePhases(v *validator) {
	if len(s.Phases) == 0 {
		return
	}
	if len(s.Phases) > 64 {
		v.errf("phases", len(s.Phases), "at most 64 phases")
		return
	}
	for _, k := range []string{"duration.total_seconds", "duration.warmup_seconds"} {
		if v.defined(k) {
			v.errf(k, nil, "a scenario with [[phases]] takes its length from each phase's duration_seconds")
			return
		}
	}
	keys := phaseKeys(v.md)
	seen := map[string]bool{}
	recorded, total, warm := false, 0.0, 0.0
	for n := range s.Phases {
		p := &s.Phases[n]
		pre := fmt.Sprintf("phases[%d]", n)
		def := map[string]bool{}
		if n < len(keys) {
			def = keys[n]
		}
		if !phaseNameRe.MatchString(p.Name) {
			v.errf(pre+".name", p.Name, "must be 1-40 characters of [a-z0-9_-] (preload, warmup, steady, burst, cooldown, ...)")
			return
		}
		if seen[p.Name] {
			v.errf(pre+".name", p.Name, "is used by an earlier phase")
			return
		}
		seen[p.Name] = true
		if p.IsPreload() {
			if n != 0 {
				v.errf(pre+".name", p.Name, "the preload phase must come first")
				return
			}
			for k := range def {
				if k != "name" && k != "memories" {
					v.errf(pre+"."+k, nil, "a preload phase takes only name and memories")
					return
				}
			}
			if p.Memories != nil && *p.Memories < 0 {
				v.errf(pre+".memories", *p.Memories, "must be >= 0")
			}
			continue
		}
		if def["memories"] {
			v.errf(pre+".memories", nil, "only the preload phase takes memories")
			return
		}
		if !(p.DurationSeconds > 0) || p.DurationSeconds > 1e7 {
			v.errf(pre+".duration_seconds", p.DurationSeconds, "must be > 0")
			return
		}
		if p.Arrival == nil {
			if !v.defined("arrival") {
				v.errf(pre+".arrival", nil, "missing: give the phase an [phases.arrival] table or the scenario an [arrival]")
				return
			}
			a := s.Arrival
			p.Arrival = &a
		} else {
			validateArrivalAt(v, pre+".arrival", p.Arrival, func(k string) bool { return def["arrival."+k] })
		}
		if p.Arrival.Pattern == "closed_loop" || p.Arrival.Pattern == "trace" {
			v.errf(pre+".arrival.pattern", p.Arrival.Pattern, "is not allowed inside phases (use it as the scenario's only [arrival])")
			return
		}
		p.Operations = mergeOps(s.Operations, p.Operations, def)
		validateOps(v, pre+".operations", p.Operations)
		if p.Recorded() {
			recorded = true
			total += p.DurationSeconds
		} else {
			if recorded {
				v.errf(pre+".record", false, "unrecorded phases (warm-up) must come before recorded ones")
				return
			}
			warm += p.DurationSeconds
		}
		if v.err != nil {
			return
		}
	}
	if !recorded {
		v.errf("phases", nil, "no recorded phase: at least one phase besides preload and warmup must be measured")
		return
	}
	s.Duration.TotalSeconds, s.Duration.WarmupSeconds = total, warm
}

// mergeOps overlays the keys a phase defines on the top-level operations.
func mergeOps(top OperationsSpec, phase *OperationsSpec, def map[string]bool) *OperationsSpec {
	out := top
	out.SpreadingDepthWeights = append([]float64(nil), top.SpreadingDepthWeights...)
	if phase == nil {
		return &out
	}
	anyWeight := false
	for k := range def {
		if strings.HasPrefix(k, "operations.") && strings.HasSuffix(k, "_weight") {
			anyWeight = true
		}
	}
	src, dst := reflect.ValueOf(phase).Elem(), reflect.ValueOf(&out).Elem()
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
		isWeight := strings.HasSuffix(tag, "_weight")
		switch {
		case def["operations."+tag]:
			dst.Field(i).Set(src.Field(i))
		case isWeight && anyWeight:
			dst.Field(i).SetFloat(0)
		}
	}
	if def["operations.search_k"] && !def["operations.search_k_min"] {
		out.SearchKMin = out.SearchK
	}
	return &out
}

// validateArrivalAt checks an arrival table under prefix; present says which
// of its keys the file defines.
func validateArrivalAt(v *validator, prefix string, spec *ArrivalSpec, present func(string) bool) {
	if v.err != nil {
		return
	}
	fix := func(key string) string { return prefix + strings.TrimPrefix(key, "arrival") }
	m, ok := lookupArrival(spec.Pattern)
	if !ok {
		if spec.Pattern == "" {
			v.errf(prefix+".pattern", nil, "missing")
			return
		}
		_, err := NewArrival(*spec, 0)
		se := err.(*SpecError)
		v.errf(fix(se.Key), se.Value, "%s", se.Msg)
		return
	}
	for _, k := range allArrivalKeys {
		if present(k) && !contains(m.Keys, k) {
			v.errf(prefix+"."+k, nil, "not used by pattern %q (it takes %s)", spec.Pattern, strings.Join(m.Keys, ", "))
			return
		}
	}
	if _, err := m.New(*spec, 0); err != nil {
		if se, ok := err.(*SpecError); ok {
			v.errf(fix(se.Key), se.Value, "%s", se.Msg)
		} else {
			v.errf(prefix, nil, "%v", err)
		}
	}
}

var phaseKeyRe = regexp.MustCompile(`^phases\[(\d+)\](?:\.(.*))?$`)

// phaseKeyLine finds the line of "phases[n].rest" (e.g. phases[1].arrival.rate):
// the n-th [[phases]] block, then the key inside it or its sub-table.
func phaseKeyLine(src []byte, key string) int {
	m := phaseKeyRe.FindStringSubmatch(key)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	lines := bytes.Split(src, []byte("\n"))
	block := -1
	start := 0
	for i, line := range lines {
		if tm := tableRe.FindSubmatch(line); tm != nil && strings.ReplaceAll(string(tm[1]), " ", "") == "phases" && bytes.Contains(line, []byte("[[")) {
			block++
			if block == n {
				start = i
				break
			}
		}
	}
	if block != n {
		return 0
	}
	rest := m[2]
	if rest == "" {
		return start + 1
	}
	parts := strings.Split(rest, ".")
	for cut := len(parts) - 1; cut >= 0; cut-- {
		table := strings.Join(append([]string{"phases"}, parts[:cut]...), ".")
		k := parts[cut]
		keyRe := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(k) + `"?\s*=`)
		current := "phases"
		for i := start + 1; i < len(lines); i++ {
			if tm := tableRe.FindSubmatch(lines[i]); tm != nil {
				current = strings.ReplaceAll(string(tm[1]), " ", "")
				if current == "phases" && bytes.Contains(lines[i], []byte("[[")) {
					break // next phase
				}
				if current == table+"."+k {
					return i + 1
				}
				continue
			}
			if current == table && keyRe.Match(lines[i]) {
				return i + 1
			}
		}
	}
	return start + 1
}

// ScaleRate rescales the scenario's offered rate to rate ops/s, shapes kept:
// the arrival of a scenario without phases, or every phase's arrival by one
// factor so that the measured phases together offer rate on average. The
// throughput target (validation.expected_throughput_ops_sec), a share of the
// offered rate, is scaled by the same factor, as a replay's is.
func (s *Scenario) ScaleRate(rate float64, seed uint64) error {
	if len(s.Phases) == 0 {
		a, err := ScaleArrival(s.Arrival, rate)
		if err != nil {
			return err
		}
		if old, err := NewArrival(s.Arrival, seed); err == nil {
			s.scaleThroughputTarget(rate / old.Rate())
		}
		s.Arrival = a
		return nil
	}
	sched, err := NewSchedule(s, seed)
	if err != nil {
		return err
	}
	cur := sched.Rate()
	if !(cur > 0) {
		return fmt.Errorf("the measured phases offer no ops to scale")
	}
	f := rate / cur
	s.scaleThroughputTarget(f)
	for n := range s.Phases {
		p := &s.Phases[n]
		if p.IsPreload() {
			continue
		}
		m, ok := lookupArrival(p.Arrival.Pattern)
		if !ok {
			return fmt.Errorf("phase %s: unknown arrival pattern %q", p.Name, p.Arrival.Pattern)
		}
		a := m.Scale(*p.Arrival, f)
		p.Arrival = &a
	}
	return nil
}

// scaleThroughputTarget multiplies the throughput target by f (a finite,
// positive factor; anything else leaves it).
func (s *Scenario) scaleThroughputTarget(f float64) {
	if v := s.Validation.ExpectedThroughputOpsSec; v != nil && f > 0 && !math.IsInf(f, 0) {
		x := *v * f
		s.Validation.ExpectedThroughputOpsSec = &x
	}
}

// SetDurations sets the measured length (total > 0) and the warm-up
// (warmup ≥ 0; < 0: unchanged). Without phases it sets [duration]; with
// phases it stretches the recorded phases by one factor, and the warm-up
// phases by another (warm-up 0 drops them). Arrival parameters (a ramp's
// ramp_sec, say) are kept.
func (s *Scenario) SetDurations(total, warmup time.Duration) error {
	if len(s.Phases) == 0 {
		if total > 0 {
			s.Duration.TotalSeconds = total.Seconds()
		}
		if warmup >= 0 {
			s.Duration.WarmupSeconds = warmup.Seconds()
		}
		return nil
	}
	if total > 0 {
		f := total.Seconds() / s.Duration.TotalSeconds
		for n := range s.Phases {
			if p := &s.Phases[n]; !p.IsPreload() && p.Recorded() {
				p.DurationSeconds *= f
			}
		}
		s.Duration.TotalSeconds = total.Seconds()
	}
	if warmup >= 0 {
		kept := s.Phases[:0]
		for _, p := range s.Phases {
			if p.IsPreload() || p.Recorded() {
				kept = append(kept, p)
				continue
			}
			if warmup == 0 {
				continue
			}
			if s.Duration.WarmupSeconds > 0 {
				p.DurationSeconds *= warmup.Seconds() / s.Duration.WarmupSeconds
			}
			kept = append(kept, p)
		}
		if warmup > 0 && s.Duration.WarmupSeconds == 0 {
			return fmt.Errorf("scenario %s has no warm-up phase to set to %s (add a [[phases]] named \"warmup\")", s.ID, warmup)
		}
		s.Phases = kept
		s.Duration.WarmupSeconds = warmup.Seconds()
	}
	return nil
}
