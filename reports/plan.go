package reports

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
)

// PlanRequest is what an operator asks to size for.
type PlanRequest struct {
	// Memories to hold and Rate (ops/s of the sizing scenario's mix) to serve.
	Memories int64
	Rate     float64
	// SLO, when set, is the objective the rate must be served within.
	SLO *SLO
}

// Projection is a plan: each resource with the arithmetic behind it and the
// measurement every number came from, and the assumptions it rests on.
type Projection struct {
	RAMBytes  float64
	DiskBytes float64
	// CoresBusy is the CPU the ops take at 100% utilisation: a floor.
	CoresBusy float64
	// CoresSLO is the cores needed to serve Rate within the SLO, scaled
	// from the capacity knee (0 when it cannot be projected).
	CoresSLO float64
	// Lines are the results with their arithmetic and sources.
	Lines []PlanLine
	// Assumptions are what the projection takes for granted; Gaps what it
	// could not project and why.
	Assumptions []string
	Gaps        []string
}

// PlanLine is one projected resource.
type PlanLine struct {
	What  string // "RAM", "disk", "CPU", "cores"
	Value string // "14.3 GiB"
	Math  string // "118 MiB + 10,000,000 × 1.49 KiB"
	From  string // the measurement: file, method, sample
}

// Project sizes a deployment for req from a sizing measurement and,
// optionally, a capacity search of the same scenario. Every number is the
// measurement's or arithmetic on it:
//
//	RAM   = memory.base + memories × memory.per_memory   (the sizing fit)
//	disk  = disk.base + memories × disk.per_memory        (the sizing fit)
//	CPU   = rate × cpu.per_op                             (cores busy: a floor)
//	cores = rate × cores_measured / knee                  (within the SLO)
//
// The last needs a capacity search whose SLO covers the requested one
// (SLO.Covers): its knee is the rate the measured machine sustained within
// the SLO on its cores, so rate / (knee / cores) cores sustain rate, if
// throughput scales linearly with cores — an assumption, said so.
func Project(req PlanRequest, s *Sizing, c *Capacity) (*Projection, error) {
	switch {
	case s == nil:
		return nil, errors.New("no sizing measurement")
	case req.Memories < 0:
		return nil, fmt.Errorf("memories %d: must be >= 0", req.Memories)
	case !(req.Rate >= 0) || math.IsInf(req.Rate, 0):
		return nil, fmt.Errorf("rate %v: must be >= 0", req.Rate)
	}
	p := &Projection{}
	src := s.Path
	if src == "" {
		src = "the sizing measurement"
	}
	p.RAMBytes = s.Memory.At(req.Memories)
	p.DiskBytes = s.Disk.At(req.Memories)
	fitFrom := func(f SizingFit, what string) string {
		return fmt.Sprintf("%s: %s, fitted over %d samples at %s–%s memories, R² %.3f", src, what,
			f.Points, groupDigits(f.FromMemories), groupDigits(f.ToMemories), f.R2)
	}
	p.Lines = append(p.Lines,
		PlanLine{"RAM", fmtBytes(int64(p.RAMBytes)), fmt.Sprintf("%s + %s × %s", fmtBytes(int64(s.Memory.BaseBytes)), groupDigits(req.Memories), fmtBytes(int64(math.Round(s.Memory.BytesPerMemory)))), fitFrom(s.Memory, s.MemoryHow+" of "+s.System)},
		PlanLine{"disk", fmtBytes(int64(p.DiskBytes)), fmt.Sprintf("%s + %s × %s", fmtBytes(int64(s.Disk.BaseBytes)), groupDigits(req.Memories), fmtBytes(int64(math.Round(s.Disk.BytesPerMemory)))), fitFrom(s.Disk, "blocks allocated in the data directory of "+s.System)},
	)
	p.CoresBusy = req.Rate * s.CPU.PerOpNs / 1e9
	p.Lines = append(p.Lines, PlanLine{"CPU", fmt.Sprintf("%.2f cores busy", p.CoresBusy),
		fmt.Sprintf("%s ops/s × %s per op", fmtRate(req.Rate), FormatNs(int64(s.CPU.PerOpNs))),
		fmt.Sprintf("%s: %s, %d ops over %.0fs at %s ops/s", src, s.CPU.How, s.CPU.Ops, s.CPU.Seconds, fmtNum(s.CPU.Rate))})

	for _, f := range []struct {
		name string
		fit  SizingFit
	}{{"RAM", s.Memory}, {"disk", s.Disk}} {
		if f.fit.BytesPerMemory <= 0 {
			for i := range p.Lines {
				if p.Lines[i].What == f.name {
					p.Lines[i].Value = "not projected (see below)"
				}
			}
			if f.name == "RAM" {
				p.RAMBytes = 0
			} else {
				p.DiskBytes = 0
			}
			p.Gaps = append(p.Gaps, fmt.Sprintf("%s is not projected: its line does not rise with memories (%s per memory); the fixed costs hid the data at the measured size: measure again with more memories (engram-bench sizing --memories)", f.name, fmtBytes(int64(math.Round(f.fit.BytesPerMemory)))))
			continue
		}
		if f.fit.R2 < MinSizingR2 {
			p.Gaps = append(p.Gaps, fmt.Sprintf("%s is unreliable: its line fits the samples poorly (R² %s < %.2f); measure again with more memories (engram-bench sizing --memories)", f.name, FormatAgainst(f.fit.R2, MinSizingR2, 2, 2), MinSizingR2))
		}
	}
	if ext := float64(req.Memories) / float64(max(s.Memory.ToMemories, 1)); ext > 1 {
		p.Assumptions = append(p.Assumptions, fmt.Sprintf("memory and disk grow linearly with memories: the lines are extrapolated %.0f× past the largest measurement (%s memories)", ext, groupDigits(s.Memory.ToMemories)))
	} else {
		p.Assumptions = append(p.Assumptions, "memory and disk grow linearly with memories (within the measured range)")
	}
	p.Assumptions = append(p.Assumptions,
		fmt.Sprintf("the ops are the sizing scenario's mix (%s) with %d-dimensional embeddings", s.Scenario, s.Dim),
		fmt.Sprintf("CPU per op does not change with the data set: it was measured with about %s memories loaded; a larger index costs more per search", groupDigits(s.Loaded)),
		"CPU busy is a floor: at 100% utilisation queues, and latency, grow without bound")
	if s.MemoryHow != "" && strings.Contains(s.System, "this process") {
		p.Assumptions = append(p.Assumptions, "memory was measured in the harness's own process (the engine in-process): the harness's share is in the base")
	}

	if req.SLO == nil {
		p.Gaps = append(p.Gaps, "no --slo: cores to meet an SLO were not projected, only the CPU floor")
		return p, nil
	}
	if c == nil {
		p.Gaps = append(p.Gaps, fmt.Sprintf("cores within %s: no capacity search to scale from; run engram-bench capacity --scenario %s --slo %s and pass its capacity.json with --capacity", req.SLO, s.Scenario, req.SLO))
		return p, nil
	}
	cslo, err := ParseSLO(c.SLO)
	if err != nil {
		return nil, fmt.Errorf("capacity %s: slo %q: %w", c.Path, c.SLO, err)
	}
	if ok, why := cslo.Covers(*req.SLO); !ok {
		p.Gaps = append(p.Gaps, fmt.Sprintf("cores within %s: the capacity search was held to %s, which does not cover it (%s); search again with the plan's SLO", req.SLO, cslo, why))
		return p, nil
	}
	if c.Driver != "" && s.Driver != "" && c.Driver != s.Driver {
		p.Gaps = append(p.Gaps, fmt.Sprintf("cores within %s: the capacity search drove %s, the sizing %s: different systems under test; search the sizing's system", req.SLO, c.Driver, s.Driver))
		return p, nil
	}
	if c.Knee.Pass <= 0 {
		p.Gaps = append(p.Gaps, fmt.Sprintf("cores within %s: no step of the capacity search passed", req.SLO))
		return p, nil
	}
	cores := c.Env.Cores
	if cores <= 0 {
		return nil, fmt.Errorf("capacity %s: env.cores %d: the machine's cores are unknown", c.Path, cores)
	}
	csrc := c.Path
	if csrc == "" {
		csrc = "the capacity search"
	}
	k := c.Knee.Pass
	p.CoresSLO = req.Rate * float64(cores) / k
	kneeHow := fmt.Sprintf("knee [%s, %s] ops/s", fmtNum(round3(k)), fmtNum(round3(c.Knee.Fail)))
	if !c.Knee.Found {
		kneeHow = fmt.Sprintf("every step up to %s ops/s passed (the knee is higher: this overestimates the cores)", fmtNum(round3(k)))
	}
	p.Lines = append(p.Lines, PlanLine{"cores", fmt.Sprintf("%.1f (%d) within the SLO", p.CoresSLO, int64(math.Ceil(p.CoresSLO-1e-9))),
		fmt.Sprintf("%s ops/s × %d cores / %s ops/s", fmtRate(req.Rate), cores, fmtRate(k)),
		fmt.Sprintf("%s: %s under %s on %d cores (%s)", csrc, kneeHow, cslo, cores, c.Env.CPUModel)})
	p.Assumptions = append(p.Assumptions,
		fmt.Sprintf("throughput within the SLO scales linearly with cores from the measured %d (Engram's H3; check with engram-bench scaling)", cores))
	if sharedWithHarness(c) {
		p.Assumptions = append(p.Assumptions, fmt.Sprintf("the harness ran on the same %d cores as the target during the capacity search (%s) and took part of them: the cores within the SLO are an overestimate by the harness's share", cores, sharedHow(c)))
	}
	if c.Scenario != s.Scenario {
		p.Assumptions = append(p.Assumptions, fmt.Sprintf("the capacity search ran %s, the sizing %s: the cores assume their mixes cost alike", c.Scenario, s.Scenario))
	}
	if m := passMemories(c); m > 0 {
		p.Assumptions = append(p.Assumptions, fmt.Sprintf("the knee was measured with about %s memories loaded; at %s, each op may cost more", groupDigits(m), groupDigits(req.Memories)))
	}
	if s.CPU.PerOpNs > 0 {
		u := k * s.CPU.PerOpNs / 1e9 / float64(cores)
		p.Assumptions = append(p.Assumptions, fmt.Sprintf("at the knee the target's CPU was about %.0f%% of the measured machine's cores (knee × CPU per op / cores), the utilisation at which the SLO still held", 100*u))
		if u > 1.05 {
			p.Gaps = append(p.Gaps, fmt.Sprintf("the knee (%s ops/s) and the CPU per op (%s) imply %.0f%% of %d cores: the two measurements disagree (different machines, scenarios or builds?)", fmtNum(k), FormatNs(int64(s.CPU.PerOpNs)), 100*u, cores))
		}
	}
	return p, nil
}

// sharedWithHarness says whether the capacity search's target shared the
// harness's machine: the engine in-process, or a server on loopback.
func sharedWithHarness(c *Capacity) bool {
	if c.Driver == "embedded" || c.Driver == "null" {
		return true
	}
	return loopbackTarget(c.Target)
}

func sharedHow(c *Capacity) string {
	if c.Target == "" || c.Driver == "embedded" || c.Driver == "null" {
		return "the engine in its process"
	}
	return "the target at " + c.Target
}

// loopbackTarget says whether target (a URL or host:port) names this machine.
func loopbackTarget(target string) bool {
	t := target
	if i := strings.Index(t, "://"); i >= 0 {
		t = t[i+3:]
	}
	if i := strings.IndexAny(t, "/?"); i >= 0 {
		t = t[:i]
	}
	if i := strings.LastIndexByte(t, '@'); i >= 0 {
		t = t[i+1:] // user:password@host
	}
	if h, _, err := net.SplitHostPort(t); err == nil {
		t = h
	}
	t = strings.Trim(t, "[]")
	if t == "localhost" {
		return true
	}
	ip := net.ParseIP(t)
	return ip != nil && ip.IsLoopback()
}

// passMemories is about how many memories the capacity search's passing end
// ran with (0: unknown).
func passMemories(c *Capacity) int64 {
	for _, st := range c.Steps {
		if st.Offered == c.Knee.Pass && st.Memories > 0 {
			return st.Memories
		}
	}
	return 0
}

// WriteProjection writes the plan: each resource, its arithmetic and
// source, the assumptions, and what could not be projected.
func WriteProjection(w io.Writer, req PlanRequest, p *Projection) error {
	ew := &errWriter{w: w}
	slo := "no SLO"
	if req.SLO != nil {
		slo = "SLO " + req.SLO.String()
	}
	fmt.Fprintf(ew, "engram-bench plan: %s memories at %s ops/s, %s\n\n", groupDigits(req.Memories), fmtRate(req.Rate), slo)
	for _, l := range p.Lines {
		fmt.Fprintf(ew, "  %-6s %-28s = %s\n", l.What, l.Value, l.Math)
		fmt.Fprintf(ew, "  %-6s %-28s   from %s\n", "", "", l.From)
	}
	fmt.Fprintln(ew, "\nassumptions")
	for _, a := range p.Assumptions {
		fmt.Fprintf(ew, "  - %s\n", a)
	}
	if len(p.Gaps) > 0 {
		fmt.Fprintln(ew, "\nnot projected, or not to be trusted")
		for _, g := range p.Gaps {
			fmt.Fprintf(ew, "  - %s\n", g)
		}
	}
	return ew.err
}

// ParseCount reads a count: digits with optional _ or , separators, a
// decimal, an exponent (1e6) or an SI suffix k, M, G (decimal: 10M = 10,000,000).
func ParseCount(s string) (float64, error) {
	t := strings.NewReplacer("_", "", ",", "").Replace(strings.TrimSpace(s))
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1e3, t[:n-1]
		case 'M':
			mult, t = 1e6, t[:n-1]
		case 'G':
			mult, t = 1e9, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative number such as 20000, 2.5k, 10M or 1e6", s)
	}
	v *= mult
	if v > 1e15 {
		return 0, fmt.Errorf("%q: more than 10^15", s)
	}
	return v, nil
}

// fmtRate writes a rate with thousands separators when it is whole.
func fmtRate(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return groupDigits(int64(v))
	}
	return fmtNum(round3(v))
}

// groupDigits writes n with thousands separators: 10000000 → 10,000,000.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
