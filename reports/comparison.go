package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// ComparisonSchema is the comparison format this package writes and reads.
const ComparisonSchema = "engram-bench/comparison/v1"

// Comparison is the same workload (scenario, seed, op stream) run against
// several systems one after another, each on a fresh data set.
type Comparison struct {
	Schema       string  `json:"schema"`
	Scenario     string  `json:"scenario"`
	ScenarioName string  `json:"scenario_name,omitempty"`
	Seed         uint64  `json:"seed"`
	TargetRate   float64 `json:"target_rate"` // ops/s offered to every system
	DurationS    float64 `json:"duration_s"`  // measured window per system
	WarmupS      float64 `json:"warmup_s"`
	Concurrency  int     `json:"concurrency"`
	Preload      int64   `json:"preload"` // memories stored before measuring
	// Kinds are the op kinds the scenario sends (weight > 0), in op order.
	Kinds []string `json:"kinds"`
	// SearchK and MaxResults are the scenario's k of embedding searches and
	// of recalls by cue; recall@10 looks at the first min(k, 10) results.
	SearchK    int       `json:"search_k"`
	MaxResults int       `json:"max_results"`
	NoSync     bool      `json:"no_sync"`
	StartedAt  time.Time `json:"started_at"`
	// Partial is set when the comparison was interrupted.
	Partial bool        `json:"partial"`
	Systems []SystemRun `json:"systems"`
	Env     Env         `json:"env"`
}

// SystemRun is one system's part of a comparison.
type SystemRun struct {
	// Name is the driver name.
	Name string `json:"name"`
	// Describe says what the driver ran against and how it searched.
	Describe string `json:"describe,omitempty"`
	// Version and Settings describe a server compare-systems started.
	Version  string   `json:"version,omitempty"`
	Settings []string `json:"settings,omitempty"`
	// Managed is set when compare-systems started the system fresh (and
	// stopped it afterwards); false for an external --target.
	Managed   bool      `json:"managed"`
	Footprint Footprint `json:"footprint"`
	// Result is the run; nil when the system could not be run (Error says why).
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Footprint is the memory and disk a system used. A nil value was not
// measured (its Why says why): shown as n/a, never as zero.
type Footprint struct {
	// Memory: proportional set size of the system's process(es), bytes.
	MemoryStart *int64 `json:"memory_start,omitempty"` // before the preload
	MemoryEnd   *int64 `json:"memory_end,omitempty"`   // at the end of the measured run
	MemoryPeak  *int64 `json:"memory_peak,omitempty"`
	// MemoryHow says what was measured ("PSS of 12 processes").
	MemoryHow string `json:"memory_how,omitempty"`
	// InProcess is set when the system ran inside the harness: its memory
	// includes the harness's own (MemoryStart is then the harness alone).
	InProcess bool   `json:"in_process,omitempty"`
	MemoryWhy string `json:"memory_why,omitempty"`
	// Disk: bytes allocated under the system's data directory.
	DiskStart *int64 `json:"disk_start,omitempty"`
	DiskEnd   *int64 `json:"disk_end,omitempty"`
	DiskPeak  *int64 `json:"disk_peak,omitempty"`
	DiskWhy   string `json:"disk_why,omitempty"`
}

// WriteFile writes c as indented JSON to path, atomically.
func (c *Comparison) WriteFile(path string) error {
	return writeJSONFile(path, c)
}

// ReadComparison reads a comparison written by WriteFile.
func ReadComparison(path string) (*Comparison, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("comparison file %s: not found", path)
		}
		return nil, fmt.Errorf("comparison file %s: %w", path, err)
	}
	return DecodeComparison(path, b)
}

// DecodeComparison parses a comparison; name labels errors.
func DecodeComparison(name string, b []byte) (*Comparison, error) {
	var probe struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("comparison file %s: not valid JSON: %v", name, err)
	}
	if probe.Schema == nil || *probe.Schema != ComparisonSchema {
		got := "none"
		if probe.Schema != nil {
			got = fmt.Sprintf("%q", *probe.Schema)
		}
		return nil, fmt.Errorf("comparison file %s: schema %s, want %q", name, got, ComparisonSchema)
	}
	var c Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("comparison file %s: %v", name, err)
	}
	return &c, nil
}

// Cell is one value of the comparison table: Text is what is shown; NA marks
// "the system cannot do this" (or it was not measured), never a zero.
type Cell struct {
	Text  string
	NA    bool
	Value float64 // for charts; meaningful when !NA and Has
	Has   bool
}

func na() Cell                     { return Cell{Text: "n/a", NA: true} }
func txt(s string) Cell            { return Cell{Text: s} }
func num(v float64, s string) Cell { return Cell{Text: s, Value: v, Has: true} }
func nsCell(ns int64) Cell         { return num(float64(ns), FormatNs(ns)) }
func bytesCell(b *int64) Cell {
	if b == nil {
		return na()
	}
	return num(float64(*b), FormatBytes(*b))
}

// Row is one line of the comparison table: a group (op kind or section), a
// metric, and one cell per system.
type Row struct {
	Group, Metric string
	Cells         []Cell
}

// opSupport says how a system did one op kind.
type opSupport int

const (
	opAbsent      opSupport = iota // no op of this kind finished
	opUnsupported                  // every op failed as unsupported
	opFailed                       // every op failed otherwise
	opRan
)

func support(r *Result, kind string) (OpStats, opSupport) {
	if r == nil {
		return OpStats{}, opAbsent
	}
	st, ok := r.Ops[kind]
	switch {
	case !ok || st.Count == 0:
		return st, opAbsent
	case st.ErrorsByClass["unsupported"] == st.Count:
		return st, opUnsupported
	case st.Errors == st.Count:
		return st, opFailed
	}
	return st, opRan
}

// searchKinds are the op kinds that search: their rows include recall@10
// and the hit rate even where no system measured them (n/a).
var searchKinds = map[string]bool{"recall_by_cue": true, "embedding_search": true}

// Rows builds the comparison table: per op kind the successful throughput,
// p50/p99/p99.9 latency, errors and (for searches, and any kind a system
// scored) recall@10 — the share of expected memories among the first
// min(k, 10) results (OpStats.RecallAt10) — and, for searches, the hit rate
// (the share of searches whose target came back, OpStats.HitRate); then the
// whole run; then memory and disk.
func (c *Comparison) Rows() []Row {
	kinds := append([]string(nil), c.Kinds...)
	seen := map[string]bool{}
	for _, k := range kinds {
		seen[k] = true
	}
	for _, s := range c.Systems {
		if s.Result == nil {
			continue
		}
		for _, k := range s.Result.OpNames() {
			if !seen[k] && s.Result.Ops[k].Count > 0 {
				seen[k] = true
				kinds = append(kinds, k)
			}
		}
	}
	sortKinds(kinds)
	var rows []Row
	row := func(group, metric string, f func(s SystemRun) Cell) {
		r := Row{Group: group, Metric: metric}
		for _, s := range c.Systems {
			if s.Result == nil {
				r.Cells = append(r.Cells, txt("not run"))
				continue
			}
			r.Cells = append(r.Cells, f(s))
		}
		rows = append(rows, r)
	}
	for _, k := range kinds {
		lat := func(get func(p Percentiles) int64) func(s SystemRun) Cell {
			return func(s SystemRun) Cell {
				st, sup := support(s.Result, k)
				switch sup {
				case opUnsupported:
					return na()
				case opAbsent:
					return txt("none finished")
				case opFailed:
					return txt("all failed")
				}
				return nsCell(get(st.Latency))
			}
		}
		row(k, "ok ops/s", func(s SystemRun) Cell {
			st, sup := support(s.Result, k)
			if sup == opUnsupported {
				return na()
			}
			v := 0.0
			if s.Result.DurationS > 0 {
				v = float64(st.Count-st.Errors) / s.Result.DurationS
			}
			return num(v, fmt.Sprintf("%.1f", v))
		})
		row(k, "p50", lat(func(p Percentiles) int64 { return p.P50 }))
		row(k, "p99", lat(func(p Percentiles) int64 { return p.P99 }))
		row(k, "p99.9", lat(func(p Percentiles) int64 { return p.P999 }))
		row(k, "errors", func(s SystemRun) Cell {
			st, sup := support(s.Result, k)
			if sup == opUnsupported {
				return na()
			}
			return num(float64(st.Errors), errorsText(st))
		})
		quality := func(get func(OpStats) *float64) func(s SystemRun) Cell {
			return func(s SystemRun) Cell {
				st, sup := support(s.Result, k)
				switch {
				case sup == opAbsent:
					return txt("none finished")
				case sup == opFailed:
					return txt("all failed")
				case sup != opRan || get(st) == nil:
					return na()
				}
				return num(*get(st), fractionCell(get(st)))
			}
		}
		if searchKinds[k] || c.scored(k) {
			row(k, "recall@10", quality(func(st OpStats) *float64 { return st.RecallAt10 }))
		}
		if searchKinds[k] {
			row(k, "hit rate", quality(func(st OpStats) *float64 { return st.HitRate }))
		}
	}
	row("all ops", "achieved ops/s", func(s SystemRun) Cell {
		return num(s.Result.AchievedRate, fmt.Sprintf("%.1f", s.Result.AchievedRate))
	})
	row("all ops", "p99", func(s SystemRun) Cell {
		if s.Result.Total.Count == 0 {
			return txt("none finished")
		}
		if s.Result.Total.Count == s.Result.Total.Errors {
			return txt("all failed")
		}
		return nsCell(s.Result.Total.Latency.P99)
	})
	row("all ops", "errors (not n/a)", func(s SystemRun) Cell {
		n := s.Result.Total.Errors - s.Result.Total.ErrorsByClass["unsupported"]
		return num(float64(n), fmt.Sprint(n))
	})
	row("all ops", "not finished", func(s SystemRun) Cell {
		n := s.Result.Harness.Unsent + s.Result.Harness.Abandoned
		return num(float64(n), fmt.Sprint(n))
	})
	row("all ops", "preload", func(s SystemRun) Cell {
		p := s.Result.Preload
		return num(p.DurationS, fmt.Sprintf("%d in %.1fs", p.Memories, p.DurationS))
	})
	foot := func(group, metric string, f func(fp Footprint) (*int64, string)) {
		r := Row{Group: group, Metric: metric}
		for _, s := range c.Systems {
			v, _ := f(s.Footprint)
			r.Cells = append(r.Cells, bytesCell(v))
		}
		rows = append(rows, r)
	}
	foot("memory", "at end", func(fp Footprint) (*int64, string) { return fp.MemoryEnd, fp.MemoryWhy })
	foot("memory", "peak", func(fp Footprint) (*int64, string) { return fp.MemoryPeak, fp.MemoryWhy })
	foot("memory", "before preload", func(fp Footprint) (*int64, string) { return fp.MemoryStart, fp.MemoryWhy })
	foot("disk", "at end", func(fp Footprint) (*int64, string) { return fp.DiskEnd, fp.DiskWhy })
	foot("disk", "growth", func(fp Footprint) (*int64, string) {
		if fp.DiskEnd == nil || fp.DiskStart == nil {
			return nil, fp.DiskWhy
		}
		g := *fp.DiskEnd - *fp.DiskStart
		return &g, ""
	})
	return rows
}

// scored reports whether any system has a recall@10 for op kind k.
func (c *Comparison) scored(k string) bool {
	for _, s := range c.Systems {
		if s.Result != nil && s.Result.Ops[k].RecallAt10 != nil {
			return true
		}
	}
	return false
}

func errorsText(st OpStats) string {
	n := st.Errors - st.ErrorsByClass["unsupported"]
	if n == 0 {
		return "0"
	}
	var parts []string
	for _, cl := range sortedKeys(st.ErrorsByClass) {
		if cl != "unsupported" && st.ErrorsByClass[cl] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", cl, st.ErrorsByClass[cl]))
		}
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

// sortKinds orders op kinds as the op model does (store first), unknown
// names last in name order.
func sortKinds(kinds []string) {
	order := map[string]int{"store": 0, "store_batch": 1, "recall_by_id": 2, "recall_by_cue": 3, "embedding_search": 4,
		"pattern_completion": 5, "spreading_activation": 6, "consolidation": 7, "forget": 8}
	rank := func(k string) int {
		if r, ok := order[k]; ok {
			return r
		}
		return 100
	}
	for i := 1; i < len(kinds); i++ {
		for j := i; j > 0 && (rank(kinds[j]) < rank(kinds[j-1]) || rank(kinds[j]) == rank(kinds[j-1]) && kinds[j] < kinds[j-1]); j-- {
			kinds[j], kinds[j-1] = kinds[j-1], kinds[j]
		}
	}
}

// FormatBytes renders bytes in binary units: "812 B", "45.2 KiB", "3.41 MiB".
func FormatBytes(b int64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	v := float64(b)
	switch {
	case b < 1024:
		return fmt.Sprintf("%s%d B", neg, b)
	case v < 1<<20:
		return neg + sig3(v/1024) + " KiB"
	case v < 1<<30:
		return neg + sig3(v/(1<<20)) + " MiB"
	default:
		return neg + sig3(v/(1<<30)) + " GiB"
	}
}

func newTab(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// Headline describes the workload in one line.
func (c *Comparison) Headline() string {
	return fmt.Sprintf("%s · seed %d · %.0f ops/s for %s (+%s warm-up) · concurrency %d · %d memories preloaded",
		c.Scenario, c.Seed, c.TargetRate, secs(c.DurationS), secs(c.WarmupS), c.Concurrency, c.Preload)
}

func secs(s float64) string { return (time.Duration(s * 1e9)).Round(time.Millisecond).String() }

// Notes are the footnotes every rendering carries: what n/a means, how
// memory and disk were measured, and each system's own caveats.
func (c *Comparison) Notes() []string {
	notes := []string{
		"Every system got the same op stream (same scenario and seed), one after another, each on a fresh data set.",
		"n/a: the system cannot do that op (every such op failed as unsupported), or the value was not measured; it is never a zero.",
		"Latency is end − intended start of successful ops (open loop, coordinated-omission free); ok ops/s counts successful ops. A system that cannot keep up shows it as latency, then as ops \"not finished\" (never started or still in flight when the run's drain timeout ended it) and \"none finished\".",
		"Memory is the proportional set size (PSS) of the system's processes, sampled every second; disk is the space allocated under its data directory (WAL and logs included, nothing forced to compact).",
	}
	if c.NoSync {
		notes = append(notes, "--no-sync: systems acknowledged writes before fsync (engine NoSync, redis appendfsync everysec, postgres synchronous_commit off).")
	} else {
		notes = append(notes, "Durable: every system fsyncs a write before acknowledging it (engine pebble Sync, redis appendfsync always, postgres synchronous_commit on).")
	}
	for _, s := range c.Systems {
		if s.Footprint.InProcess {
			notes = append(notes, fmt.Sprintf("%s runs inside the harness process: its memory includes the harness's own (\"before preload\" is the harness alone) and it pays no network or serialisation cost.", s.Name))
		}
		if s.Footprint.MemoryWhy != "" {
			notes = append(notes, fmt.Sprintf("%s memory n/a: %s.", s.Name, s.Footprint.MemoryWhy))
		}
		if s.Footprint.DiskWhy != "" {
			notes = append(notes, fmt.Sprintf("%s disk n/a: %s.", s.Name, s.Footprint.DiskWhy))
		}
		if s.Error != "" {
			notes = append(notes, fmt.Sprintf("%s not run: %s", s.Name, s.Error))
		}
		if s.Result != nil {
			if s.Result.Partial {
				notes = append(notes, s.Name+": interrupted, partial result.")
			}
			if s.Result.Harness.Limited {
				notes = append(notes, s.Name+": harness-limited run: "+s.Result.Harness.Reason)
			}
			for _, w := range s.Result.Warnings {
				notes = append(notes, s.Name+": "+w)
			}
		}
	}
	return notes
}

// WriteComparisonText writes the comparison as one table, systems side by
// side, with what each system is and the notes.
func WriteComparisonText(w io.Writer, c *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "engram-bench compare-systems · %s\n", c.Headline())
	if c.Partial {
		b.WriteString("INTERRUPTED: partial comparison\n")
	}
	b.WriteString("\nsystems\n")
	for _, s := range c.Systems {
		desc := s.Describe
		if desc == "" {
			desc = s.Version
		}
		fmt.Fprintf(&b, "  %-10s %s\n", s.Name, desc)
		if len(s.Settings) > 0 {
			fmt.Fprintf(&b, "  %-10s %s\n", "", strings.Join(s.Settings, ", "))
		}
		if s.Footprint.MemoryHow != "" {
			fmt.Fprintf(&b, "  %-10s memory: %s\n", "", s.Footprint.MemoryHow)
		}
	}
	b.WriteString("\n")
	tw := newTab(&b)
	fmt.Fprint(tw, "\t")
	for _, s := range c.Systems {
		fmt.Fprintf(tw, "\t%s", s.Name)
	}
	fmt.Fprint(tw, "\t\n")
	last := ""
	for _, r := range c.Rows() {
		g := r.Group
		if g == last {
			g = ""
		}
		last = r.Group
		fmt.Fprintf(tw, "  %s\t%s", g, r.Metric)
		for _, cell := range r.Cells {
			fmt.Fprintf(tw, "\t%s", cell.Text)
		}
		fmt.Fprint(tw, "\t\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nnotes\n")
	for _, n := range c.Notes() {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
