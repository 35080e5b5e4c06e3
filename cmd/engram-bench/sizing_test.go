package main

import (
	"bytes"
	"context"
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
	s := &reports.Sizing{Schema: reports.SizingSchema, Scenario: "quickstart", Driver: "embedded", Loaded: 5000,
		Memory: reports.SizingFit{BytesPerMemory: 1000, Points: 3, R2: 1}, Disk: reports.SizingFit{BytesPerMemory: 2000, Points: 3, R2: 1},
		CPU: reports.SizingCPU{PerOpNs: 1e5}}
	if err := s.WriteFile(good); err != nil {
		t.Fatal(err)
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
		{"empty sizing", []string{"plan", "--sizing", bad, "--memories", "1M", "--rate", "10"}, "loaded 0 memories"},
		{"missing capacity", []string{"plan", "--sizing", good, "--memories", "1M", "--rate", "10", "--slo", "p99=10ms", "--capacity", filepath.Join(dir, "cap.json")}, "cap.json"},
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
