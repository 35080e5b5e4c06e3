package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// planSizing is a sizing measurement whose 9 samples (100,000–200,000
// memories) lie on its lines.
func planSizing() *Sizing {
	s := &Sizing{Schema: SizingSchema, Scenario: "mixed_balanced", Driver: "engram", Dim: 768, Path: "sizing.json",
		System: "engramd pid 42", MemoryHow: "PSS", Loaded: 200_000,
		Memory: SizingFit{BytesPerMemory: 1500, BaseBytes: 100 << 20, R2: 0.998, Points: 9, FromMemories: 100_000, ToMemories: 200_000},
		Disk:   SizingFit{BytesPerMemory: 3200, BaseBytes: 10 << 20, R2: 0.99, Points: 9, FromMemories: 100_000, ToMemories: 200_000},
		CPU:    SizingCPU{Rate: 500, Seconds: 30, Ops: 15000, CPUSeconds: 6, PerOpNs: 400_000, How: "engramd's CPU time"},
	}
	for m := int64(100_000); m <= 200_000; m += 12_500 {
		s.Points = append(s.Points, SizingPoint{Memories: m, MemoryBytes: 100<<20 + 1500*m, DiskBytes: 10<<20 + 3200*m, AtS: float64(m) / 1000})
	}
	s.PeakMemoryBytes, s.PeakDiskBytes = s.Points[8].MemoryBytes, s.Points[8].DiskBytes
	return s
}

func planCapacity(slo string, pass, fail float64, cores int) *Capacity {
	return &Capacity{Schema: CapacitySchema, Scenario: "mixed_balanced", Driver: "engram", SLO: slo, Path: "capacity.json", Env: Env{Cores: cores, CPUModel: "EPYC"},
		Knee:  Knee{Pass: pass, Fail: fail, Found: fail > 0},
		Steps: []CapacityStep{{Offered: pass, Memories: 110_000, Verdict: VerdictPass}}}
}

func TestProject(t *testing.T) {
	slo := func(s string) *SLO {
		x, err := ParseSLO(s)
		if err != nil {
			t.Fatal(err)
		}
		return &x
	}
	cases := []struct {
		name        string
		req         PlanRequest
		s           *Sizing
		c           *Capacity
		ram, disk   float64
		busy, cores float64
		gap, assume string
		err         string
	}{
		{name: "10M memories at 20k ops/s, no SLO: RAM, disk, CPU floor",
			req: PlanRequest{Memories: 10_000_000, Rate: 20000}, s: planSizing(),
			ram: 100<<20 + 1500*10e6, disk: 10<<20 + 3200*10e6, busy: 8, gap: "no --slo", assume: "extrapolated 50× past"},
		{name: "with a capacity under the same SLO: cores = rate × cores / knee",
			req: PlanRequest{Memories: 10_000_000, Rate: 20000, SLO: slo("p99=10ms")}, s: planSizing(), c: planCapacity("p99=10ms,errors=0.1%", 800, 850, 2),
			ram: 100<<20 + 1500*10e6, disk: 10<<20 + 3200*10e6, busy: 8, cores: 50, assume: "about 16% of the measured machine's cores"},
		{name: "a stricter capacity SLO covers a looser plan SLO",
			req: PlanRequest{Memories: 1000, Rate: 1000, SLO: slo("p99=50ms")}, s: planSizing(), c: planCapacity("p99=10ms,p999=20ms", 500, 600, 4),
			ram: 100<<20 + 1500*1000, disk: 10<<20 + 3200*1000, busy: 0.4, cores: 8, assume: "within the measured range"},
		{name: "a looser capacity SLO does not: no cores",
			req: PlanRequest{Memories: 1000, Rate: 1000, SLO: slo("p99=5ms")}, s: planSizing(), c: planCapacity("p99=10ms", 500, 600, 4),
			ram: 100<<20 + 1500*1000, disk: 10<<20 + 3200*1000, busy: 0.4, gap: "does not cover it (p99=5ms is not bounded"},
		{name: "an SLO but no capacity: the command to run",
			req: PlanRequest{Memories: 0, Rate: 100, SLO: slo("p99=10ms")}, s: planSizing(),
			ram: 100 << 20, disk: 10 << 20, busy: 0.04, gap: "run engram-bench capacity --scenario mixed_balanced --slo p99=10ms"},
		{name: "no knee (every step passed): cores overestimated, said so",
			req: PlanRequest{Memories: 0, Rate: 2000, SLO: slo("p99=10ms")}, s: planSizing(), c: planCapacity("p99=10ms", 1000, 0, 2),
			ram: 100 << 20, disk: 10 << 20, busy: 0.8, cores: 4, assume: "linearly with cores from the measured 2"},
		{name: "knee and CPU disagree: flagged",
			req: PlanRequest{Memories: 0, Rate: 100, SLO: slo("p99=10ms")}, s: planSizing(), c: planCapacity("p99=10ms", 10000, 11000, 2),
			ram: 100 << 20, disk: 10 << 20, busy: 0.04, cores: 0.02, gap: "the two measurements disagree"},
		{name: "a capacity of another system: no cores",
			req: PlanRequest{Memories: 0, Rate: 100, SLO: slo("p99=10ms")}, s: planSizing(), c: func() *Capacity { c := planCapacity("p99=10ms", 500, 600, 2); c.Driver = "embedded"; return c }(),
			ram: 100 << 20, disk: 10 << 20, busy: 0.04, gap: "the capacity search drove embedded, the sizing engram"},
		{name: "a poor memory fit is flagged", req: PlanRequest{Memories: 10}, s: func() *Sizing { s := planSizing(); s.Memory.R2 = 0.5; return s }(),
			ram: 100<<20 + 15000, disk: 10<<20 + 32000, gap: "RAM is unreliable: its line fits the samples poorly (R² 0.50"},
		{name: "a fit just below the R² bar: printed with the digits that make the comparison true", req: PlanRequest{Memories: 10}, s: func() *Sizing { s := planSizing(); s.Disk.R2 = 0.895; return s }(),
			ram: 100<<20 + 15000, disk: 10<<20 + 32000, gap: "disk is unreliable: its line fits the samples poorly (R² 0.895 < 0.90)"},
		{name: "a capacity search on loopback: the harness's share is said",
			req: PlanRequest{Memories: 0, Rate: 500, SLO: slo("p99=10ms")}, s: planSizing(), c: func() *Capacity {
				c := planCapacity("p99=10ms", 500, 600, 2)
				c.Target = "http://127.0.0.1:7432"
				return c
			}(),
			ram: 100 << 20, disk: 10 << 20, busy: 0.2, cores: 2, assume: "the harness ran on the same 2 cores as the target during the capacity search (the target at http://127.0.0.1:7432)"},
		{name: "a falling disk line is not projected", req: PlanRequest{Memories: 1000}, s: func() *Sizing { s := planSizing(); s.Disk.BytesPerMemory = -1100; return s }(),
			ram: 100<<20 + 1500*1000, disk: 0, assume: "disk   not projected (see below)", gap: "disk is not projected: its line does not rise with memories (-1.1 KiB per memory)"},
		{name: "no step passed", req: PlanRequest{Memories: 0, Rate: 100, SLO: slo("p99=10ms")}, s: planSizing(), c: planCapacity("p99=10ms", 0, 100, 2),
			ram: 100 << 20, disk: 10 << 20, busy: 0.04, gap: "no step of the capacity search passed"},
		{name: "negative memories", req: PlanRequest{Memories: -1}, s: planSizing(), err: "memories -1"},
		{name: "no sizing", req: PlanRequest{Memories: 1}, err: "no sizing"},
		{name: "capacity without cores", req: PlanRequest{Rate: 1, SLO: slo("p99=10ms")}, s: planSizing(), c: planCapacity("p99=10ms", 100, 200, 0), err: "env.cores 0"},
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Project(c.req, c.s, c.c)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !near(p.RAMBytes, c.ram) || !near(p.DiskBytes, c.disk) || !near(p.CoresBusy, c.busy) || !near(p.CoresSLO, c.cores) {
				t.Errorf("RAM %v disk %v busy %v cores %v; want %v %v %v %v", p.RAMBytes, p.DiskBytes, p.CoresBusy, p.CoresSLO, c.ram, c.disk, c.busy, c.cores)
			}
			var b bytes.Buffer
			if err := WriteProjection(&b, c.req, p); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.Contains(out, c.gap) || !strings.Contains(out, c.assume) {
				t.Errorf("output lacks %q / %q:\n%s", c.gap, c.assume, out)
			}
			// Every line names its source.
			for _, l := range p.Lines {
				if !strings.Contains(l.From, ".json") {
					t.Errorf("%s: from %q names no file", l.What, l.From)
				}
			}
		})
	}
}

func TestLoopbackTarget(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:7432": true, "127.0.0.1:6379": true, "http://localhost/x": true, "http://[::1]:80": true,
		"http://10.0.0.5:7432": false, "db.example.com:5432": false, "": false, "postgres://u@127.0.0.2/db": true,
	} {
		if got := loopbackTarget(in); got != want {
			t.Errorf("loopbackTarget(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseCount(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		err  bool
	}{
		{"10M", 10e6, false}, {"2.5k", 2500, false}, {"20,000", 20000, false}, {"1_000_000", 1e6, false},
		{"1e6", 1e6, false}, {"3G", 3e9, false}, {"0", 0, false}, {" 7 ", 7, false},
		{"-5", 0, true}, {"ten", 0, true}, {"", 0, true}, {"M", 0, true}, {"1e99", 0, true}, {"NaN", 0, true},
	}
	for _, c := range cases {
		got, err := ParseCount(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseCount(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"10M", "2.5k", "20,000", "1e6", "-1", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseCount(s)
		if err == nil && (v < 0 || math.IsNaN(v) || v > 1e15) {
			t.Fatalf("%q → %v", s, v)
		}
	})
}

func TestFitSizing(t *testing.T) {
	// The empty process (34 MiB, nothing on disk) is off the line: left out.
	pts := []SizingPoint{{Memories: 0, MemoryBytes: 34 << 20}}
	for i := int64(1); i <= 10; i++ {
		pts = append(pts, SizingPoint{Memories: i * 1000, MemoryBytes: 50<<20 + i*1000*2000, DiskBytes: 4096 + i*1000*3000})
	}
	// The first flush: a spike of 300 MiB on disk at 2,000 memories, in the
	// lower half (below 5,000): left out, with the empty process.
	pts[2].DiskBytes += 300 << 20
	mem, disk := FitSizing(pts)
	// The upper half: 5,000–10,000 memories, 6 samples.
	if !near6(mem.BytesPerMemory, 2000) || !near6(mem.BaseBytes, 50<<20) || !near6(mem.R2, 1) || mem.Points != 6 || mem.FromMemories != 5000 || mem.ToMemories != 10000 {
		t.Errorf("memory fit %+v", mem)
	}
	if !near6(disk.BytesPerMemory, 3000) || !near6(disk.At(1e6), 4096+3e9) || !near6(disk.PerMillion(), 3e9) {
		t.Errorf("disk fit %+v", disk)
	}
	// By hand: x = 1000, 2000, 3000; y = 10, 30, 20. Means 2000 and 20;
	// Sxx = 2e6, Sxy = (−1000)(−10) + 0 + (1000)(0) = 1e4, Syy = 100+100+0 = 200.
	// Slope 1e4/2e6 = 0.005, base 20 − 0.005×2000 = 10, R² = 1e8/(2e6×200) = 0.25.
	m, _ := FitSizing([]SizingPoint{{Memories: 1000, MemoryBytes: 10}, {Memories: 2000, MemoryBytes: 30}, {Memories: 3000, MemoryBytes: 20}})
	if !near6(m.BytesPerMemory, 0.005) || !near6(m.BaseBytes, 10) || !near6(m.R2, 0.25) {
		t.Errorf("noisy fit %+v, want slope 0.005 base 10 R² 0.25", m)
	}
	// Fewer than 5 samples in the upper half: every loaded sample is fitted.
	if m, _ := FitSizing([]SizingPoint{{}, {Memories: 1000, MemoryBytes: 10}, {Memories: 2000, MemoryBytes: 30}, {Memories: 3000, MemoryBytes: 20}}); m.Points != 3 || !near6(m.BytesPerMemory, 0.005) {
		t.Errorf("short load fit %+v, want all 3 loaded samples", m)
	}
	// One loaded point: no slope, the base is that point.
	if m, _ := FitSizing([]SizingPoint{{}, {Memories: 5, MemoryBytes: 700}}); m.Points != 1 || m.BytesPerMemory != 0 || m.BaseBytes != 700 {
		t.Errorf("single-point fit %+v", m)
	}
	if m, _ := FitSizing(nil); m.Points != 0 || m.BytesPerMemory != 0 {
		t.Errorf("empty fit %+v", m)
	}
}

func TestReadSizing(t *testing.T) {
	good := planSizing()
	good.Path = ""
	dir := t.TempDir()
	write := func(name string, mutate func(*Sizing)) string {
		s := *good
		s.Points = append([]SizingPoint(nil), good.Points...)
		if mutate != nil {
			mutate(&s)
		}
		p := filepath.Join(dir, name)
		if err := s.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// edit writes the good file with one change made on its JSON.
	goodFile := write("good.json", nil)
	edit := func(name string, change func(m map[string]any)) string {
		var m map[string]any
		b, _ := os.ReadFile(goodFile)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ = json.Marshal(m)
		return raw(name, string(b))
	}
	obj := func(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }
	// A falling disk line, as FitSizing writes one when the samples fall.
	falling := func(s *Sizing) {
		for i := range s.Points {
			s.Points[i].DiskBytes = 500<<20 - 100*s.Points[i].Memories
		}
		_, s.Disk = FitSizing(s.Points)
	}
	// Each bad file's error names the file, the field and the value.
	cases := []struct {
		name, path, err string
	}{
		{"good", goodFile, ""},
		{"a falling line the samples show", write("falling.json", falling), ""},
		{"missing", filepath.Join(dir, "nope.json"), "nope.json: not found"},
		{"truncated", raw("trunc.json", `{"schema": "engram-bench/sizing/v1", "loaded": 1`), "not valid JSON at byte 48 (line 1, column 49): unexpected end of JSON input (truncated?)"},
		{"a capacity file", raw("cap.json", `{"schema": "engram-bench/capacity/v1"}`), `schema "engram-bench/capacity/v1", want "engram-bench/sizing/v1"`},
		{"no cpu object", edit("nocpu.json", func(m map[string]any) { delete(m, "cpu") }), "nocpu.json: cpu: missing"},
		{"cpu null", edit("cpunull.json", func(m map[string]any) { m["cpu"] = nil }), "cpunull.json: cpu: missing"},
		{"no per_op_ns", edit("noperop.json", func(m map[string]any) { delete(obj(m, "cpu"), "per_op_ns") }), "noperop.json: cpu.per_op_ns: missing"},
		{"per_op_ns 0", write("cpu0.json", func(s *Sizing) { s.CPU.PerOpNs = 0 }), "cpu0.json: cpu.per_op_ns: 0: must be > 0"},
		{"per_op_ns negative", write("neg.json", func(s *Sizing) { s.CPU.PerOpNs = -3 }), "neg.json: cpu.per_op_ns: -3: must be > 0"},
		{"per_op_ns absurd", write("cpuhuge.json", func(s *Sizing) { s.CPU.PerOpNs = 1e13 }), "cpu.per_op_ns: 1e+13: must be at most 1e+12"},
		{"per_op_ns a string", edit("cpustr.json", func(m map[string]any) { obj(m, "cpu")["per_op_ns"] = "400us" }), `cpustr.json: cpu.per_op_ns: "400us": want a number`},
		{"ops 0", write("ops0.json", func(s *Sizing) { s.CPU.Ops = 0 }), "cpu.ops: 0: must be > 0"},
		{"ops fractional", edit("opsfrac.json", func(m map[string]any) { obj(m, "cpu")["ops"] = 1.5 }), "cpu.ops: 1.5: want a whole number"},
		{"seconds 0", write("secs0.json", func(s *Sizing) { s.CPU.Seconds = 0 }), "cpu.seconds: 0: must be > 0"},
		{"rate negative", write("rate.json", func(s *Sizing) { s.CPU.Rate = -50 }), "cpu.rate: -50: must be > 0"},
		{"cpu seconds negative", write("cpusecs.json", func(s *Sizing) { s.CPU.CPUSeconds = -1 }), "cpu.cpu_seconds: -1: must be >= 0"},
		{"nothing loaded", write("empty.json", func(s *Sizing) { s.Loaded = 0 }), "empty.json: loaded: 0: must be > 0"},
		{"loaded missing", edit("noloaded.json", func(m map[string]any) { delete(m, "loaded") }), "loaded: missing"},
		{"dim 0", write("dim.json", func(s *Sizing) { s.Dim = 0 }), "dim: 0: must be > 0"},
		{"one sample", write("one.json", func(s *Sizing) { s.Memory.Points = 1 }), "memory.points: 1: a line needs at least 2 samples"},
		{"more fitted samples than the file holds", write("pts.json", func(s *Sizing) { s.Disk.Points = 50 }), "disk.points: 50: the file holds 9 samples with memories loaded"},
		{"negative bytes per memory, rising samples", write("negmem.json", func(s *Sizing) { s.Memory.BytesPerMemory = -5 }), "negmem.json: memory.bytes_per_memory: -5: must be > 0: the file's 9 samples (points) rise by 1.5 KiB per memory"},
		{"zero disk per memory, rising samples", write("zerodisk.json", func(s *Sizing) { s.Disk.BytesPerMemory = 0 }), "disk.bytes_per_memory: 0: must be > 0"},
		{"absurd fit", write("huge.json", func(s *Sizing) { s.Memory.BytesPerMemory = 1e300 }), "memory.bytes_per_memory: 1e+300: out of range"},
		{"base out of range", write("base.json", func(s *Sizing) { s.Disk.BaseBytes = -1e19 }), "disk.base_bytes: -1e+19: out of range"},
		{"r2 above 1", write("r2.json", func(s *Sizing) { s.Memory.R2 = 1.5 }), "memory.r2: 1.5: must be in [0, 1"},
		{"r2 negative", write("r2neg.json", func(s *Sizing) { s.Disk.R2 = -0.1 }), "disk.r2: -0.1: must be in [0, 1"},
		{"to below from", write("range.json", func(s *Sizing) { s.Memory.ToMemories = 10 }), "memory.from_memories: 100000: must be in [1, 10]"},
		{"negative memory sample", write("rss.json", func(s *Sizing) { s.Points[3].MemoryBytes = -4096 }), "points[3].memory_bytes: -4096: must be >= 0"},
		{"negative disk sample", write("du.json", func(s *Sizing) { s.Points[2].DiskBytes = -1 }), "points[2].disk_bytes: -1: must be >= 0"},
		{"negative memories in a sample", write("mems.json", func(s *Sizing) { s.Points[0].Memories = -1 }), "points[0].memories: -1: must be >= 0"},
		{"negative peak", write("peak.json", func(s *Sizing) { s.PeakMemoryBytes = -1 }), "peak_memory_bytes: -1: must be >= 0"},
		{"no scenario", write("scen.json", func(s *Sizing) { s.Scenario = "" }), `scenario: "": empty`},
		{"points a number", edit("ptsnum.json", func(m map[string]any) { m["points"] = 5 }), "points: 5: want an array"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ReadSizing(c.path)
			if c.err == "" {
				if err != nil || s.Path != c.path || s.Memory.BytesPerMemory != 1500 {
					t.Fatalf("ReadSizing = %+v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "sizing file "+c.path+": ") {
				t.Fatalf("err %v, want it to name the file and %q", err, c.err)
			}
		})
	}
}

func near6(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestGroupDigits(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 10000000: "10,000,000", -1234: "-1,234"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadSizingProject reads arbitrary bytes as a sizing file and, when they
// are accepted, projects from them: an error or a plan, never a panic.
func FuzzReadSizingProject(f *testing.F) {
	good := planSizing()
	good.Path = ""
	dir := f.TempDir()
	if err := good.WriteFile(filepath.Join(dir, "seed.json")); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "seed.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"schema":"engram-bench/sizing/v1","loaded":5,"memory":{"points":2,"bytes_per_memory":1e308}}`))
	f.Add([]byte(`{"schema":"engram-bench/sizing/v1","loaded":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "s.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSizing(p)
		if err != nil {
			return
		}
		pr, err := Project(PlanRequest{Memories: 10_000_000, Rate: 20000}, s, nil)
		if err != nil {
			return
		}
		if err := WriteProjection(io.Discard, PlanRequest{Memories: 10_000_000, Rate: 20000}, pr); err != nil {
			t.Fatal(err)
		}
	})
}
