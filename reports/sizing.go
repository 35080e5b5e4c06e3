package reports

import (
	"fmt"
	"io"
	"math"
	"time"
)

// SizingSchema is the format of a sizing measurement's file.
const SizingSchema = "engram-bench/sizing/v1"

// Sizing is what one sizing measurement found: how the target's memory and
// disk grew while N memories were loaded into it (a line fitted through
// samples taken during the load), and what one op of the scenario's mix
// costs in CPU at a steady rate. engram-bench plan projects from it.
type Sizing struct {
	Schema         string    `json:"schema"`
	Scenario       string    `json:"scenario"`
	ScenarioSource string    `json:"scenario_source,omitempty"`
	Driver         string    `json:"driver"`
	Target         string    `json:"target,omitempty"`
	Seed           uint64    `json:"seed"`
	Dim            int       `json:"dim"`
	StartedAt      time.Time `json:"started_at"`
	Env            Env       `json:"env"`
	// System says what was measured: "engramd pid 1234" or "this process
	// (the engine in-process, with the harness)"; MemoryHow how (PSS, RSS).
	System    string `json:"system"`
	MemoryHow string `json:"memory_how"`
	// Loaded is how many memories were loaded; Points the samples taken
	// while loading, Memory and Disk the lines through them (FitSizing).
	Loaded int64         `json:"loaded"`
	Points []SizingPoint `json:"points"`
	Memory SizingFit     `json:"memory"`
	Disk   SizingFit     `json:"disk"`
	// PeakMemoryBytes and PeakDiskBytes are the largest samples.
	PeakMemoryBytes int64 `json:"peak_memory_bytes"`
	PeakDiskBytes   int64 `json:"peak_disk_bytes"`
	// CPU is the cost of one op at a steady rate.
	CPU SizingCPU `json:"cpu"`
	// Result names the measured run's result file, when written.
	Result   string   `json:"result,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// Path is the file the sizing was read from (not stored).
	Path string `json:"-"`
}

// SizingPoint is one sample: memories held, memory and disk used.
type SizingPoint struct {
	Memories    int64   `json:"memories"`
	MemoryBytes int64   `json:"memory_bytes"`
	DiskBytes   int64   `json:"disk_bytes"`
	AtS         float64 `json:"at_s"` // seconds since the load began
}

// SizingFit is bytes = BaseBytes + BytesPerMemory × memories, least squares.
type SizingFit struct {
	BytesPerMemory float64 `json:"bytes_per_memory"`
	BaseBytes      float64 `json:"base_bytes"`
	R2             float64 `json:"r2"`
	Points         int     `json:"points"`
	// FromMemories and ToMemories bound the memories the fit saw.
	FromMemories int64 `json:"from_memories"`
	ToMemories   int64 `json:"to_memories"`
}

// PerMillion is the bytes a million more memories take.
func (f SizingFit) PerMillion() float64 { return f.BytesPerMemory * 1e6 }

// At is the fitted bytes for n memories.
func (f SizingFit) At(n int64) float64 { return f.BaseBytes + f.BytesPerMemory*float64(n) }

// SizingCPU is the CPU one op of the scenario's mix took at a steady rate.
type SizingCPU struct {
	// Rate is the offered rate, ops/s; Ops the ops measured over Seconds.
	Rate    float64 `json:"rate"`
	Seconds float64 `json:"seconds"`
	Ops     int64   `json:"ops"`
	// CPUSeconds is the target's CPU time over those ops (after subtracting
	// the harness's, for an in-process target).
	CPUSeconds float64 `json:"cpu_seconds"`
	// PerOpNs is CPUSeconds / Ops in nanoseconds.
	PerOpNs float64 `json:"per_op_ns"`
	// HarnessPerOpNs is the harness's own CPU per op, measured with the null
	// driver on the same op stream and subtracted (in-process targets only).
	HarnessPerOpNs float64 `json:"harness_per_op_ns,omitempty"`
	// How says where the CPU time came from.
	How string `json:"how"`
	// Latency at this rate (end − intended start, successful ops).
	P50Ns int64 `json:"p50_ns"`
	P99Ns int64 `json:"p99_ns"`
	// ErrorRate of the measured ops.
	ErrorRate float64 `json:"error_rate"`
}

// MinUpperSamples is how many samples the upper half of a load needs for
// FitSizing to fit through it alone.
const MinUpperSamples = 5

// MinSizingR2 is the R² below which a sizing line is reported as a poor fit:
// below it, more than a tenth of the samples' variance is noise around the
// line, and its slope (bytes per memory) is not to be trusted.
const MinSizingR2 = 0.9

// FitSizing fits memory and disk lines through the samples of the upper
// half of the load: those holding at least half the most memories seen, when
// there are at least MinUpperSamples of them (else every sample holding at
// least one memory). The early samples are left out of the fit, not the
// file: an engine allocates its fixed costs on the first writes — the
// write-ahead log, the first memtables and their flush, index arenas — so
// the early process is not on the line the data grows along, and it is that
// line a projection to many more memories extrapolates. The fixed costs end
// up in the base.
func FitSizing(all []SizingPoint) (mem, disk SizingFit) {
	var most int64
	loaded := 0
	for _, p := range all {
		if p.Memories > 0 {
			loaded++
			most = max(most, p.Memories)
		}
	}
	upper := 0
	for _, p := range all {
		if p.Memories > 0 && 2*p.Memories >= most {
			upper++
		}
	}
	from := int64(1)
	if upper >= MinUpperSamples {
		from = (most + 1) / 2
	}
	pts := make([]SizingPoint, 0, loaded)
	for _, p := range all {
		if p.Memories >= from {
			pts = append(pts, p)
		}
	}
	fit := func(y func(SizingPoint) float64) SizingFit {
		f := SizingFit{Points: len(pts)}
		if len(pts) == 0 {
			return f
		}
		f.FromMemories, f.ToMemories = pts[0].Memories, pts[0].Memories
		var sx, sy float64
		for _, p := range pts {
			f.FromMemories, f.ToMemories = min(f.FromMemories, p.Memories), max(f.ToMemories, p.Memories)
			sx += float64(p.Memories)
			sy += y(p)
		}
		n := float64(len(pts))
		mx, my := sx/n, sy/n
		var sxx, sxy, syy float64
		for _, p := range pts {
			dx, dy := float64(p.Memories)-mx, y(p)-my
			sxx += dx * dx
			sxy += dx * dy
			syy += dy * dy
		}
		if sxx == 0 {
			f.BaseBytes = my
			return f
		}
		f.BytesPerMemory = sxy / sxx
		f.BaseBytes = my - f.BytesPerMemory*mx
		f.R2 = 1
		if syy > 0 {
			f.R2 = sxy * sxy / (sxx * syy)
		}
		return f
	}
	return fit(func(p SizingPoint) float64 { return float64(p.MemoryBytes) }), fit(func(p SizingPoint) float64 { return float64(p.DiskBytes) })
}

// WriteFile writes s as indented JSON to path, atomically.
func (s *Sizing) WriteFile(path string) error { return writeJSONFile(path, s) }

// ReadSizing reads a sizing file, with clear errors for a missing,
// truncated, foreign or malformed one (validateSizing).
func ReadSizing(path string) (*Sizing, error) {
	var s Sizing
	b, err := readSchemaFile(path, SizingSchema, "sizing", &s)
	if err != nil {
		return nil, err
	}
	if err := validateSizing(path, b, &s); err != nil {
		return nil, err
	}
	s.Path = path
	return &s, nil
}

// Bounds of a sizing file's numbers: far past anything measured, so a value
// beyond them is a damaged file, not a measurement.
const (
	maxSizingBytesPerMemory = 1e12
	maxSizingBytes          = 1e18
	maxSizingCount          = 1e15
	maxSizingPerOpNs        = 1e12 // 1,000 s of CPU per op
)

// validateSizing checks the fields of a sizing file (b, decoded into s) that
// plan reads, naming the file, field and value of the first bad one: every
// field present, counts, rates, bytes and CPU times not negative, those plan
// multiplies or divides by (CPU per op, ops, seconds, dim) above 0, R² in
// [0, 1]. A memory or disk line that does not rise (bytes_per_memory ≤ 0) is
// a measurement plan reports as not projected — FitSizing writes one when
// the samples fall or stay flat — so it is accepted only when the file's own
// samples (points) give such a line too.
func validateSizing(path string, b []byte, s *Sizing) error {
	ck := &fieldCheck{kind: "sizing file", file: path}
	required := []string{"scenario", "system", "memory_how", "dim", "loaded", "points"}
	for _, fit := range []string{"memory", "disk"} {
		for _, f := range []string{"bytes_per_memory", "base_bytes", "r2", "points", "from_memories", "to_memories"} {
			required = append(required, fit+"."+f)
		}
	}
	required = append(required, "cpu.rate", "cpu.seconds", "cpu.ops", "cpu.cpu_seconds", "cpu.per_op_ns", "cpu.how")
	if f := missingJSON(b, required...); f != "" {
		ck.fail(f, "", "missing")
		return ck.err
	}
	for _, f := range []struct{ field, v string }{{"scenario", s.Scenario}, {"system", s.System}, {"memory_how", s.MemoryHow}, {"cpu.how", s.CPU.How}} {
		if f.v == "" {
			ck.fail(f.field, `""`, "empty")
		}
	}
	ck.positive("dim", float64(s.Dim), 1<<20)
	ck.positive("loaded", float64(s.Loaded), maxSizingCount)
	ck.nonNegative("peak_memory_bytes", float64(s.PeakMemoryBytes), maxSizingBytes)
	ck.nonNegative("peak_disk_bytes", float64(s.PeakDiskBytes), maxSizingBytes)
	loadedSamples := 0
	for i, p := range s.Points {
		if p.Memories > 0 {
			loadedSamples++
		}
		at := fmt.Sprintf("points[%d].", i)
		ck.nonNegative(at+"memories", float64(p.Memories), maxSizingCount)
		ck.nonNegative(at+"memory_bytes", float64(p.MemoryBytes), maxSizingBytes)
		ck.nonNegative(at+"disk_bytes", float64(p.DiskBytes), maxSizingBytes)
		ck.nonNegative(at+"at_s", p.AtS, 1e9)
	}
	if ck.err != nil {
		return ck.err
	}
	memFit, diskFit := FitSizing(s.Points)
	for _, f := range []struct {
		name    string
		fit     SizingFit
		samples SizingFit
	}{{"memory", s.Memory, memFit}, {"disk", s.Disk, diskFit}} {
		fit := f.fit
		ck.finite(f.name+".bytes_per_memory", fit.BytesPerMemory, maxSizingBytesPerMemory)
		ck.finite(f.name+".base_bytes", fit.BaseBytes, maxSizingBytes)
		ck.within(f.name+".r2", fit.R2, 0, 1+1e-9)
		if fit.Points < 2 {
			ck.fail(f.name+".points", fieldNum(float64(fit.Points)), "a line needs at least 2 samples")
		} else if fit.Points > loadedSamples {
			ck.fail(f.name+".points", fieldNum(float64(fit.Points)), "the file holds %d samples with memories loaded (points)", loadedSamples)
		}
		ck.within(f.name+".from_memories", float64(fit.FromMemories), 1, float64(fit.ToMemories))
		ck.within(f.name+".to_memories", float64(fit.ToMemories), float64(fit.FromMemories), maxSizingCount)
		if ck.err == nil && fit.BytesPerMemory <= 0 && f.samples.BytesPerMemory > 0 {
			ck.fail(f.name+".bytes_per_memory", fieldNum(fit.BytesPerMemory), "must be > 0: the file's %d samples (points) rise by %s per memory", len(s.Points), fmtBytes(int64(math.Round(f.samples.BytesPerMemory))))
		}
	}
	c := s.CPU
	if c.PerOpNs == 0 {
		ck.fail("cpu.per_op_ns", "0", "must be > 0: the sizing run measured no CPU per op; measure again (engram-bench sizing, at a higher --rate)")
	}
	ck.positive("cpu.per_op_ns", c.PerOpNs, maxSizingPerOpNs)
	ck.positive("cpu.ops", float64(c.Ops), maxSizingCount)
	ck.positive("cpu.seconds", c.Seconds, 1e9)
	ck.positive("cpu.rate", c.Rate, maxSizingCount)
	ck.nonNegative("cpu.cpu_seconds", c.CPUSeconds, 1e12)
	ck.nonNegative("cpu.harness_per_op_ns", c.HarnessPerOpNs, maxSizingPerOpNs)
	ck.within("cpu.error_rate", c.ErrorRate, 0, 1)
	ck.nonNegative("cpu.p50_ns", float64(c.P50Ns), math.MaxInt64)
	ck.nonNegative("cpu.p99_ns", float64(c.P99Ns), math.MaxInt64)
	return ck.err
}

// WriteSizingText writes what the measurement found.
func WriteSizingText(w io.Writer, s *Sizing) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "engram-bench sizing %s · driver %s · %s\n", s.Scenario, s.Driver, s.System)
	fmt.Fprintf(ew, "  loaded %d memories of %d dimensions; %d samples of %s and disk while loading\n", s.Loaded, s.Dim, len(s.Points), s.MemoryHow)
	fit := func(name string, f SizingFit) {
		fmt.Fprintf(ew, "  %-6s %s per million memories (%s per memory) + %s base; R² %.3f over %d samples, %d–%d memories\n",
			name, fmtBytes(int64(f.PerMillion())), fmtBytes(int64(math.Round(f.BytesPerMemory))), fmtBytes(int64(f.BaseBytes)), f.R2, f.Points, f.FromMemories, f.ToMemories)
	}
	fit("memory", s.Memory)
	fit("disk", s.Disk)
	fmt.Fprintf(ew, "  peaks  memory %s, disk %s\n", fmtBytes(s.PeakMemoryBytes), fmtBytes(s.PeakDiskBytes))
	for _, f := range []struct {
		name, why string
		fit       SizingFit
	}{
		{"memory", "garbage collection and allocator caches move it up and down", s.Memory},
		{"disk", "the store grows in steps (write-ahead logs, memtable flushes, compactions)", s.Disk},
	} {
		if f.fit.R2 < MinSizingR2 {
			fmt.Fprintf(ew, "warning: the %s line fits its samples poorly (R² %s < %.2f): %s, and at this size the steps are large against the data; load more memories\n", f.name, FormatAgainst(f.fit.R2, MinSizingR2, 2, 2), MinSizingR2, f.why)
		}
	}
	c := s.CPU
	fmt.Fprintf(ew, "  cpu    %s per op at %s ops/s (%d ops over %.1fs, %.2f CPU-seconds; %s)\n",
		FormatNs(int64(c.PerOpNs)), fmtNum(c.Rate), c.Ops, c.Seconds, c.CPUSeconds, c.How)
	if c.HarnessPerOpNs > 0 {
		fmt.Fprintf(ew, "         the harness's own %s per op was measured with the null driver and subtracted\n", FormatNs(int64(c.HarnessPerOpNs)))
	}
	fmt.Fprintf(ew, "         latency at that rate: p50 %s, p99 %s; errors %.3f%%\n", FormatNs(c.P50Ns), FormatNs(c.P99Ns), 100*c.ErrorRate)
	for _, wmsg := range s.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", wmsg)
	}
	return ew.err
}
