package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/engram-bench/engram-bench/reports"
)

const sizingScenario = `
name = "sized"
[duration]
total_seconds = 3
[arrival]
pattern = "constant"
rate = 100.0
[operations]
store_weight = 1.0
recall_weight = 1.0
[data]
num_nodes = 0
preload = 0
embedding_dim = 32
memory_spaces = 1
embedding_distribution = { type = "clustered", num_clusters = 4, std_dev = 0.1 }
`

// TestSizingAndPlan measures a real target — the embedded engine with a
// pebble store in a temp dir, and a fresh engramd on 127.0.0.1 — with
// engram-bench sizing (a few thousand memories, a 2 s steady run), then
// projects from the file with engram-bench plan and checks the plan's
// numbers are the file's arithmetic.
func TestSizingAndPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a real engine")
	}
	dir := t.TempDir()
	sc := filepath.Join(dir, "sized.toml")
	if err := os.WriteFile(sc, []byte(sizingScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"embedded", []string{"--driver", "embedded", "--no-sync"}},
		{"engramd", []string{"--driver", "engram", "--engramd", "", "--no-sync"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "engramd" {
				c.args[3] = engramdBin(t)
			}
			out := filepath.Join(dir, c.name+".json")
			var stdout, stderr bytes.Buffer
			args := append([]string{"sizing", "-s", sc, "--memories", "10000", "--rate", "50", "--duration", "2s", "--warmup", "0s",
				"--max-lag", "1s", "-q", "--out", out}, c.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code != exitPass {
				t.Fatalf("sizing exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}
			s, err := reports.ReadSizing(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d samples, memory fit %+v, cpu %.0f ns/op", len(s.Points), s.Memory, s.CPU.PerOpNs)
			if s.Loaded != 10000 || s.Driver != c.args[1] || s.MemoryHow == "" {
				t.Errorf("loaded %d via %s (%s)", s.Loaded, s.Driver, s.MemoryHow)
			}
			if s.Memory.Points < 2 || s.Memory.ToMemories < 10000 || s.Memory.FromMemories < 1 {
				t.Errorf("memory fit %+v: want ≥ 2 loaded samples up to 10000 memories", s.Memory)
			}
			if s.PeakMemoryBytes < 1<<20 || s.PeakDiskBytes <= 0 {
				t.Errorf("peaks: memory %d, disk %d", s.PeakMemoryBytes, s.PeakDiskBytes)
			}
			// In-process, the engine's share is the process's CPU less the
			// harness's (the null driver's), which on a loaded machine can
			// come out at 0: the process's CPU per op must be positive.
			if s.CPU.Ops < 25 || s.CPU.PerOpNs < 0 || s.CPU.PerOpNs+s.CPU.HarnessPerOpNs <= 0 || s.CPU.Seconds < 0.5 || (c.name == "engramd" && s.CPU.PerOpNs <= 0) { // read at the 1 s and 2 s boundaries
				t.Errorf("cpu %+v: want the ops between the first and last 1 s boundary (~50) and a cost per op", s.CPU)
			}
			if (c.name == "embedded") != (s.CPU.HarnessPerOpNs > 0) {
				t.Errorf("harness CPU per op %v: subtracted only in-process", s.CPU.HarnessPerOpNs)
			}
			if _, err := os.Stat(filepath.Join(dir, c.name+".run.json")); err != nil {
				t.Errorf("the run's result: %v", err)
			}
			if !strings.Contains(stdout.String(), "per million memories") || !strings.Contains(stdout.String(), "per op at 50 ops/s") {
				t.Errorf("sizing output:\n%s", stdout.String())
			}

			stdout.Reset()
			stderr.Reset()
			if s.CPU.PerOpNs == 0 {
				// The harness's share was as large as the process's: plan
				// refuses the file rather than plan for 0 cores.
				wantUsage(t, []string{"plan", "--sizing", out, "--memories", "10M", "--rate", "2k"}, "sizing file "+out+": cpu.per_op_ns: 0: must be > 0")
				return
			}
			if code := run(context.Background(), []string{"plan", "--sizing", out, "--memories", "10M", "--rate", "2k"}, &stdout, &stderr); code != exitPass {
				t.Fatalf("plan exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}
			p := stdout.String()
			proj, err := reports.Project(reports.PlanRequest{Memories: 1e7, Rate: 2000}, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A 10,000-memory load in a process with ~200 MB of fixed
			// allocations may not show a rising memory line (GC noise):
			// then plan declines to project RAM rather than inventing it.
			if ram := s.Memory.BaseBytes + 1e7*s.Memory.BytesPerMemory; s.Memory.BytesPerMemory > 0 && proj.RAMBytes != ram {
				t.Errorf("RAM %v, want base + 10M × per memory = %v", proj.RAMBytes, ram)
			} else if s.Memory.BytesPerMemory <= 0 && proj.RAMBytes != 0 {
				t.Errorf("RAM %v projected from a line that does not rise (%+v)", proj.RAMBytes, s.Memory)
			}
			wantCPU := fmt.Sprintf("%.2f cores busy", 2000*s.CPU.PerOpNs/1e9)
			for _, w := range []string{"10,000,000 memories at 2,000 ops/s", "RAM    " + proj.Lines[0].Value, "disk   " + proj.Lines[1].Value, wantCPU, out, "extrapolated", "no --slo"} {
				if !strings.Contains(p, w) {
					t.Errorf("plan lacks %q:\n%s", w, p)
				}
			}
		})
	}
}

var engramdBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// engramdBin builds cmd/engramd once per test binary and returns its path.
func engramdBin(t *testing.T) string {
	t.Helper()
	b := &engramdBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "engramd-bin-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "engramd")
		if out, err := exec.Command("go", "build", "-o", b.bin, "../engramd").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/engramd: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// TestPlanErrors checks plan's and sizing's usage errors name the flag,
// file or field and the value, with exit code 2.
func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema": "engram-bench/sizing/v1", "loaded": 0}`), 0o644)
	good := filepath.Join(dir, "sizing.json")
	s := &reports.Sizing{Schema: reports.SizingSchema, Scenario: "quickstart", Driver: "embedded", Dim: 768, Loaded: 5000,
		System: "this process", MemoryHow: "PSS",
		Memory: reports.SizingFit{BytesPerMemory: 1000, BaseBytes: 1 << 20, Points: 3, R2: 1, FromMemories: 3000, ToMemories: 5000},
		Disk:   reports.SizingFit{BytesPerMemory: 2000, BaseBytes: 1 << 20, Points: 3, R2: 1, FromMemories: 3000, ToMemories: 5000},
		CPU:    reports.SizingCPU{Rate: 50, Seconds: 10, Ops: 500, CPUSeconds: 0.05, PerOpNs: 1e5, How: "CPU time of this process"}}
	for m := int64(3000); m <= 5000; m += 1000 {
		s.Points = append(s.Points, reports.SizingPoint{Memories: m, MemoryBytes: 1<<20 + 1000*m, DiskBytes: 1<<20 + 2000*m})
	}
	if err := s.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	c := &reports.Capacity{Schema: reports.CapacitySchema, Scenario: "quickstart", Driver: "embedded", SLO: "p99=200ms,errors=0.1%", Env: reports.Env{Cores: 2},
		Steps: []reports.CapacityStep{{N: 1, Offered: 100, Achieved: 100, Verdict: reports.VerdictPass}, {N: 2, Offered: 200, Achieved: 180, Verdict: reports.VerdictFail}},
		Knee:  reports.Knee{Pass: 100, Fail: 200, PassAchieved: 100, Found: true}}
	goodCap := filepath.Join(dir, "capacity.json")
	if err := c.WriteFile(goodCap); err != nil {
		t.Fatal(err)
	}
	// variant writes a copy of the good file src with old replaced by new
	// in its JSON text.
	variant := func(src, name, old, new string) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s lacks %q", src, old)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"plan", "--sizing", good, "--capacity", goodCap, "--memories", "1M", "--rate", "100", "--slo", "p99=200ms"}, &stdout, &stderr); code != exitPass || !strings.Contains(stdout.String(), "within the SLO") {
		t.Fatalf("good files: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	plan := func(sizing string) []string {
		return []string{"plan", "--sizing", sizing, "--memories", "1M", "--rate", "100"}
	}
	planCap := func(capacity string) []string {
		return []string{"plan", "--sizing", good, "--capacity", capacity, "--memories", "1M", "--rate", "100", "--slo", "p99=200ms"}
	}
	noCPU := filepath.Join(dir, "nocpu.json")
	{
		var m map[string]any
		b, _ := os.ReadFile(good)
		json.Unmarshal(b, &m)
		delete(m, "cpu")
		b, _ = json.Marshal(m)
		os.WriteFile(noCPU, b, 0o644)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no memories", []string{"plan", "--sizing", good, "--rate", "10"}, "give --memories and --rate"},
		{"bad memories", []string{"plan", "--sizing", good, "--memories", "ten", "--rate", "10"}, `--memories "ten"`},
		{"bad rate", []string{"plan", "--sizing", good, "--memories", "1M", "--rate", "-3"}, `--rate "-3"`},
		{"bad slo", []string{"plan", "--sizing", good, "--memories", "1M", "--rate", "10", "--slo", "p99=fast"}, "--slo"},
		{"missing sizing", []string{"plan", "--sizing", filepath.Join(dir, "none.json"), "--memories", "1M", "--rate", "10"}, "none.json"},
		{"empty sizing", []string{"plan", "--sizing", bad, "--memories", "1M", "--rate", "10"}, "bad.json: scenario: missing"},
		{"missing capacity", []string{"plan", "--sizing", good, "--memories", "1M", "--rate", "10", "--slo", "p99=10ms", "--capacity", filepath.Join(dir, "cap.json")}, "cap.json"},
		{"sizing without cpu", plan(noCPU), "sizing file " + noCPU + ": cpu: missing"},
		{"sizing cpu per op 0", plan(variant(good, "cpu0.json", `"per_op_ns": 100000`, `"per_op_ns": 0`)), "cpu0.json: cpu.per_op_ns: 0: must be > 0"},
		{"sizing cpu per op a string", plan(variant(good, "cpustr.json", `"per_op_ns": 100000`, `"per_op_ns": "100us"`)), `cpustr.json: cpu.per_op_ns: "100us": want a number`},
		{"sizing negative bytes per memory", plan(variant(good, "negmem.json", `"bytes_per_memory": 1000`, `"bytes_per_memory": -5`)), "negmem.json: memory.bytes_per_memory: -5: must be > 0: the file's 3 samples (points) rise by 1000 B per memory"},
		{"sizing negative disk sample", plan(variant(good, "du.json", `"disk_bytes": 7048576`, `"disk_bytes": -7048576`)), "du.json: points[0].disk_bytes: -7048576: must be >= 0"},
		{"sizing r2 above 1", plan(variant(good, "r2.json", `"r2": 1`, `"r2": 7`)), "r2.json: memory.r2: 7: must be in [0, 1"},
		{"capacity knee null", planCap(variant(goodCap, "kneenull.json", `"knee": {`, `"knee": null, "x": {`)), "capacity search file " + filepath.Join(dir, "kneenull.json") + ": knee: missing"},
		{"capacity knee pass 0 with a passing step", planCap(variant(goodCap, "pass0.json", `"pass": 100`, `"pass": 0`)), "pass0.json: knee.pass: 0: step 1 (steps[0]) passed at 100 ops/s"},
		{"capacity offered a string", planCap(variant(goodCap, "offered.json", `"offered": 200`, `"offered": "200"`)), `offered.json: steps.offered: "200": want a number`},
		{"capacity --from knee null", []string{"capacity", "--from", filepath.Join(dir, "kneenull.json")}, "kneenull.json: knee: missing"},
		{"sizing without rate", []string{"sizing", "--driver", "embedded", "--memories", "5000"}, "--rate 0"},
		{"sizing bad memories", []string{"sizing", "--driver", "embedded", "--memories", "lots", "--rate", "10"}, `--memories "lots"`},
		{"sizing too few", []string{"sizing", "--driver", "embedded", "--memories", "10", "--rate", "10"}, "memories 10: load at least 1,000"},
		{"sizing null driver", []string{"sizing", "--driver", "null", "--memories", "5000", "--rate", "10"}, "--driver null"},
		{"sizing pid without target", []string{"sizing", "--driver", "embedded", "--pid", fmt.Sprint(os.Getpid()), "--memories", "5000", "--rate", "10"}, "--pid and --dir name the server at --target, and this run has none (--driver embedded loads the engine in this process)"},
		{"sizing dir without target", []string{"sizing", "--driver", "engram", "--dir", dir, "--memories", "5000", "--rate", "10"}, "--pid and --dir name the server at --target, and this run has none (--driver engram loads a fresh engramd it starts)"},
		{"sizing target without pid", []string{"sizing", "--driver", "engram", "--target", "http://127.0.0.1:1", "--memories", "5000", "--rate", "10"}, "--pid and --dir"},
		{"sizing target no such pid", []string{"sizing", "--driver", "engram", "--target", "http://127.0.0.1:1", "--pid", "1073741824", "--dir", dir, "--memories", "5000", "--rate", "10"}, "--pid 1073741824: no such process"},
		{"sizing target missing dir", []string{"sizing", "--driver", "engram", "--target", "http://127.0.0.1:1", "--pid", fmt.Sprint(os.Getpid()), "--dir", filepath.Join(dir, "nodata"), "--memories", "5000", "--rate", "10"}, "--dir " + filepath.Join(dir, "nodata")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantUsage(t, c.args, c.want) })
	}
}
