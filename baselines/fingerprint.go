package baselines

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/engram-bench/engram-bench/reports"
)

// Fingerprint says where a run came from: the machine and toolchain (which
// must match for a comparison to mean anything), the build (which is expected
// to differ), and the workload and engine options (which must match unless
// they are the point of the experiment).
type Fingerprint struct {
	// File is the file the run was read from (not saved).
	File string `json:"-"`
	// Source is "engram-bench" for results, "go-bench" for Go benchmark files.
	Source string `json:"source"`
	// Runs is how many repetitions the file held.
	Runs int `json:"runs,omitempty"`

	// Machine and toolchain.
	CPUModel   string `json:"cpu_model,omitempty"`
	Cores      int    `json:"cores,omitempty"`
	GOMAXPROCS int    `json:"gomaxprocs,omitempty"`
	GoVersion  string `json:"go_version,omitempty"`
	OS         string `json:"os,omitempty"`
	Arch       string `json:"arch,omitempty"`
	Kernel     string `json:"kernel,omitempty"`

	// Build.
	GitRevision string `json:"git_revision,omitempty"`
	GitDirty    bool   `json:"git_dirty,omitempty"`

	// Workload and engine.
	Package       string            `json:"package,omitempty"` // pkg: of a Go benchmark file
	Scenario      string            `json:"scenario,omitempty"`
	ScenarioHash  string            `json:"scenario_sha256,omitempty"` // of the scenario's TOML text, first 12 hex digits
	Driver        string            `json:"driver,omitempty"`
	DriverOptions map[string]string `json:"engine_options,omitempty"`
	TargetRate    float64           `json:"target_rate,omitempty"`
	Concurrency   int               `json:"concurrency,omitempty"`
}

// FingerprintOf describes the run behind r.
func FingerprintOf(r *reports.Result) Fingerprint {
	fp := Fingerprint{
		Source:        "engram-bench",
		CPUModel:      r.Env.CPUModel,
		Cores:         r.Env.Cores,
		GOMAXPROCS:    r.Env.GOMAXPROCS,
		GoVersion:     r.Env.GoVersion,
		OS:            r.Env.OS,
		Arch:          r.Env.Arch,
		Kernel:        r.Env.Kernel,
		GitRevision:   r.Env.GitRevision,
		GitDirty:      r.Env.GitDirty,
		Scenario:      r.Scenario,
		Driver:        r.Driver,
		DriverOptions: r.DriverOptions,
		TargetRate:    r.TargetRate,
		Concurrency:   r.Concurrency,
	}
	if r.ScenarioText != "" {
		h := sha256.Sum256([]byte(r.ScenarioText))
		fp.ScenarioHash = hex.EncodeToString(h[:6])
	}
	return fp
}

// fromConfig fills what a Go benchmark file says about itself.
func (fp *Fingerprint) fromConfig(r *benchfmt.Result) {
	fp.Source = "go-bench"
	for _, c := range r.Config {
		v := string(c.Value)
		switch c.Key {
		case "goos":
			fp.OS = v
		case "goarch":
			fp.Arch = v
		case "cpu":
			fp.CPUModel = v
		case "pkg":
			fp.Package = v
		}
	}
	if fp.Source == "go-bench" && fp.Package == "" && strings.HasPrefix(string(r.Name), BenchPrefix+"/") {
		fp.Source = "engram-bench"
	}
}

// field is one comparable property of a fingerprint.
type field struct {
	name  string
	kind  int // machine, build or workload
	value func(f *Fingerprint) string
}

const (
	kindMachine = iota
	kindBuild
	kindWorkload
)

var fields = []field{
	{"cpu model", kindMachine, func(f *Fingerprint) string { return f.CPUModel }},
	{"cores", kindMachine, func(f *Fingerprint) string { return itoa(f.Cores) }},
	{"GOMAXPROCS", kindMachine, func(f *Fingerprint) string { return itoa(f.GOMAXPROCS) }},
	{"go version", kindMachine, func(f *Fingerprint) string { return f.GoVersion }},
	{"os/arch", kindMachine, func(f *Fingerprint) string {
		if f.OS == "" && f.Arch == "" {
			return ""
		}
		return f.OS + "/" + f.Arch
	}},
	{"kernel", kindMachine, func(f *Fingerprint) string { return f.Kernel }},
	{"git revision", kindBuild, func(f *Fingerprint) string {
		if f.GitRevision == "" {
			return ""
		}
		r := f.GitRevision
		if len(r) > 12 {
			r = r[:12]
		}
		if f.GitDirty {
			r += "+dirty"
		}
		return r
	}},
	{"package", kindWorkload, func(f *Fingerprint) string { return f.Package }},
	{"scenario", kindWorkload, func(f *Fingerprint) string {
		if f.Scenario == "" {
			return ""
		}
		return f.Scenario + " " + f.ScenarioHash
	}},
	{"driver", kindWorkload, func(f *Fingerprint) string { return f.Driver }},
	{"engine options", kindWorkload, func(f *Fingerprint) string {
		if f.Source != "engram-bench" {
			return ""
		}
		return optionsString(f.DriverOptions)
	}},
	{"target rate", kindWorkload, func(f *Fingerprint) string { return ftoa(f.TargetRate) }},
	{"concurrency", kindWorkload, func(f *Fingerprint) string { return itoa(f.Concurrency) }},
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func ftoa(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%g", v)
}

func optionsString(m map[string]string) string {
	if len(m) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// EnvDiff is one property that differs between or within two sides.
type EnvDiff struct {
	// Field names the property ("cpu model", "engine options").
	Field string
	// Old and New are the distinct values seen on each side.
	Old, New []string
	// Loud is set for differences that undermine the comparison (machine,
	// toolchain, workload); a different git revision is expected and is not.
	Loud bool
}

// String reads like "cpu model: AMD EPYC 7B13 (baseline) vs Intel Xeon (current)".
func (d EnvDiff) String() string {
	return fmt.Sprintf("%s: %s (baseline) vs %s (current)", d.Field, strings.Join(d.Old, " | "), strings.Join(d.New, " | "))
}

// DiffFingerprints lists the properties whose values differ between the runs
// of old and new (or among the runs of one side). A property that one side
// does not record (a Go benchmark file has no Go version) is not a difference.
func DiffFingerprints(old, new []Fingerprint) []EnvDiff {
	var out []EnvDiff
	for _, f := range fields {
		ov, nv := distinct(old, f), distinct(new, f)
		if len(ov) == 0 || len(nv) == 0 {
			continue
		}
		if len(ov) == 1 && len(nv) == 1 && ov[0] == nv[0] {
			continue
		}
		if f.name == "engine options" && allNone(ov) && allNone(nv) {
			continue
		}
		out = append(out, EnvDiff{Field: f.name, Old: ov, New: nv, Loud: f.kind != kindBuild})
	}
	return out
}

func allNone(v []string) bool {
	return len(v) == 1 && v[0] == "(none)"
}

func distinct(fps []Fingerprint, f field) []string {
	seen := map[string]bool{}
	var out []string
	for i := range fps {
		v := f.value(&fps[i])
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
