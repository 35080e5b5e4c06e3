package drill_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/chaos"
	"github.com/engram-bench/engram-bench/chaos/drill"
	"github.com/engram-bench/engram-bench/chaos/resource"
	"github.com/engram-bench/engram-bench/drivers"
	_ "github.com/engram-bench/engram-bench/drivers/embedded"
	_ "github.com/engram-bench/engram-bench/drivers/engram"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// engramdBin is built once for the package (TestMain); the test binary
// doubles as the resource helper.
var engramdBin string

func TestMain(m *testing.M) {
	if resource.IsHelper() {
		os.Exit(resource.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	// One drill at a time by default (-parallel still overrides it): a
	// crash-loop drill restarts engramd on the port it had, and a drill
	// running beside it may take that port meanwhile (port 0 hands out a
	// just-freed port), after which each reads back the other's server.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "1")
	}
	dir, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		panic(err)
	}
	engramdBin = filepath.Join(dir, "engramd")
	out, err := exec.Command("go", "build", "-o", engramdBin, "../../cmd/engramd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/engramd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	stopFilled()
	os.RemoveAll(dir)
	os.Exit(code)
}

// scenario is a small drill: 16-d memories, 150 ops/s for total seconds,
// half stores, 300 preloaded.
func scenario(t *testing.T, total float64, faults string) *workloads.Scenario {
	t.Helper()
	text := fmt.Sprintf(`name = "drill"
[duration]
total_seconds = %g
[arrival]
pattern = "constant"
rate = 150.0
[operations]
store_weight = 50.0
recall_by_id_weight = 30.0
recall_weight = 20.0
[data]
num_nodes = 300
preload = 300
embedding_dim = 16
[chaos]
enabled = true
p99_target_ms = 100.0
%s`, total, faults)
	sc, err := workloads.Parse("drill.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func runDrill(t *testing.T, sc *workloads.Scenario, mod func(*drill.Config)) *reports.Result {
	t.Helper()
	faults, err := chaos.FromScenario(sc, sc.Duration.Total())
	if err != nil {
		t.Fatal(err)
	}
	cfg := drill.Config{
		Plan:           drivers.Plan{Scenario: sc, Seed: 1, Driver: "engram", Concurrency: 32, Env: reports.CurrentEnv()},
		Faults:         faults,
		Managed:        true,
		EngramdCommand: []string{engramdBin},
		Helper:         []string{os.Args[0]},
		WorkDir:        t.TempDir(),
		RecoverTimeout: 20 * time.Second,
		P99TargetMs:    sc.Chaos.P99TargetMs,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := drill.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Chaos == nil {
		t.Fatal("no chaos result")
	}
	return res
}

func fault(kind, at, dur, params string) string {
	s := fmt.Sprintf("[[chaos.faults]]\nkind = %q\nat = %q\n", kind, at)
	if dur != "" {
		s += fmt.Sprintf("duration = %q\n", dur)
	}
	if params != "" {
		s += "params = { " + params + " }\n"
	}
	return s
}

// checkIntact asserts the drill passed with every acknowledged write read back.
func checkIntact(t *testing.T, res *reports.Result) {
	t.Helper()
	c := res.Chaos
	if c.Check == nil {
		t.Fatalf("no read-back: %s (reasons %v)", c.CheckSkipped, c.Reasons)
	}
	k := c.Check
	if k.Acknowledged < 100 || k.Lost != 0 || k.Corrupted != 0 || k.Unexpected != 0 || k.ReadErrors != 0 || c.Verdict != reports.VerdictPass {
		t.Errorf("verdict %s %v; check %+v", c.Verdict, c.Reasons, *k)
	}
}

func notes(f reports.FaultResult) string { return strings.Join(f.Notes, "; ") }

// Each fault kind against a real engramd the drill owns, a few seconds
// each; the read-back must find every acknowledged write.
func TestFaultKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults string
		total  float64
		check  func(t *testing.T, f reports.FaultResult)
	}{
		{name: "latency adds 150ms to answers", faults: fault("latency", "1s", "1500ms", `latency = "150ms"`), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Latency.P50 < int64(150*time.Millisecond) || f.Before.Latency.P50 > int64(100*time.Millisecond) {
					t.Errorf("p50 before %s during %s", reports.FormatNs(f.Before.Latency.P50), reports.FormatNs(f.During.Latency.P50))
				}
			}},
		{name: "bandwidth of 20 KB/s slows answers", faults: fault("bandwidth", "1s", "1500ms", "rate_kbps = 20"), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				// The median answer takes ~33 ms at 20 KB/s (measured): a floor the
				// median meets however loaded the machine (a p99 is noise).
				if f.During.Latency.P50 < int64(20*time.Millisecond) || f.During.Latency.P50 < 2*f.Before.Latency.P50 {
					t.Errorf("p50 before %s during %s", reports.FormatNs(f.Before.Latency.P50), reports.FormatNs(f.During.Latency.P50))
				}
			}},
		{name: "a partition refuses connections", faults: fault("partition", "1s", "1s", ""), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Availability > 0.2 || f.During.ErrorsByClass["connection_refused"] == 0 || f.After.Availability < 0.9 {
					t.Errorf("during %+v after %.3f", f.During, f.After.Availability)
				}
			}},
		{name: "a blackhole partition hangs requests", faults: fault("partition", "1s", "1s", `mode = "blackhole"`), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Latency.P50 < int64(300*time.Millisecond) && f.During.Availability > 0.5 {
					t.Errorf("during %+v", f.During)
				}
			}},
		{name: "reset cuts connections", faults: fault("reset", "1s", "1s", "prob = 1.0"), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.ErrorsByClass["connection_reset"] == 0 {
					t.Errorf("during %+v", f.During)
				}
			}},
		{name: "stalled connections hang", faults: fault("stall", "1s", "1s", "prob = 1.0"), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Latency.P50 < int64(300*time.Millisecond) && f.During.Availability > 0.5 {
					t.Errorf("during %+v", f.During)
				}
			}},
		{name: "timeout closes hung connections", faults: fault("timeout", "1s", "1s", `after = "200ms"`), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Errors == 0 && f.During.Latency.P50 < int64(200*time.Millisecond) {
					t.Errorf("during %+v", f.During)
				}
			}},
		{name: "kill -9 and restart", faults: fault("kill", "1s", "", ""), total: 3,
			check: func(t *testing.T, f reports.FaultResult) {
				if !strings.Contains(notes(f), "restarted in") || f.RecoverHealthS == nil {
					t.Errorf("notes %q recover %v", notes(f), f.RecoverHealthS)
				}
			}},
		{name: "kill -9 with a second of downtime", faults: fault("kill", "1s", "1s", ""), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Availability > 0.2 {
					t.Errorf("during a second of downtime: %+v", f.During)
				}
			}},
		{name: "pause freezes engramd", faults: fault("pause", "1s", "1s", ""), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Latency.P50 < int64(300*time.Millisecond) {
					t.Errorf("during a pause p50 %s", reports.FormatNs(f.During.Latency.P50))
				}
			}},
		{name: "a crash loop", faults: fault("crashloop", "1s", "2s", `every = "700ms"`), total: 4,
			check: func(t *testing.T, f reports.FaultResult) {
				if !strings.Contains(notes(f), "kills") || f.During.Errors == 0 {
					t.Errorf("notes %q during %+v", notes(f), f.During)
				}
			}},
		{name: "a slow disk slows synced writes", faults: fault("disk_slow", "1s", "1500ms", `latency = "30ms", ops = "sync", files = "wal"`), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.During.Latency.P99 < int64(30*time.Millisecond) {
					t.Errorf("p99 during %s", reports.FormatNs(f.During.Latency.P99))
				}
			}},
		{name: "failing WAL I/O kills the store; the supervisor restarts it", faults: fault("disk_error", "1s", "500ms", `ops = "sync,write", files = "wal"`), total: 6,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.Restarts != 1 || f.RecoverHealthS == nil || f.During.ErrorsByClass["5xx"] == 0 {
					t.Errorf("restarts %d recover %v during %+v notes %q", f.Restarts, f.RecoverHealthS, f.During, notes(f))
				}
			}},
		{name: "memory pressure from a ballast", faults: fault("memory", "1s", "1s", `bytes = "64MiB"`), total: 3,
			check: func(t *testing.T, f reports.FaultResult) {
				if !strings.Contains(notes(f), "ballast of 64 MiB resident") {
					t.Errorf("notes %q", notes(f))
				}
			}},
		{name: "CPU contention from spinners", faults: fault("cpu", "1s", "1s", "procs = 1"), total: 3,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.InjectError != "" {
					t.Error(f.InjectError)
				}
			}},
		{name: "a thundering herd after a partition", faults: fault("herd", "1s", "1s", "clients = 300"), total: 3.5,
			check: func(t *testing.T, f reports.FaultResult) {
				if f.Herd == nil || f.Herd.Clients != 300 || f.Herd.OK < 1 {
					t.Errorf("herd %+v", f.Herd)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runDrill(t, scenario(t, tc.total, tc.faults), nil)
			f := res.Chaos.Faults[0]
			if f.InjectError != "" || f.HealError != "" {
				t.Fatalf("inject %q heal %q", f.InjectError, f.HealError)
			}
			if len(res.Windows) != 1 || res.Windows[0].Kind != reports.WindowFault {
				t.Errorf("windows %+v", res.Windows)
			}
			tc.check(t, f)
			checkIntact(t, res)
		})
	}
}

// Corrupted data: engramd must refuse to start or recover, and never serve
// a memory whose content differs from what was sent.
func TestCorruption(t *testing.T) {
	for _, kind := range []string{"corrupt_wal", "corrupt_sst"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			res := runDrill(t, scenario(t, 3, fault(kind, "1500ms", "", "bytes = 256")), nil)
			f := res.Chaos.Faults[0]
			t.Logf("%s: %s; inject %q; check %+v", kind, notes(f), f.InjectError, res.Chaos.Check)
			switch {
			case f.InjectError != "":
				if !strings.Contains(f.InjectError, chaos.ErrRefused.Error()) || res.Chaos.Check != nil {
					t.Errorf("inject %q", f.InjectError)
				}
			case res.Chaos.Check == nil:
				t.Fatalf("started on corrupted data, but no read-back: %s", res.Chaos.CheckSkipped)
			default:
				k := res.Chaos.Check
				if k.Corrupted != 0 || k.ReadErrors != 0 || !k.LossAllowed || k.Intact == 0 {
					t.Errorf("check %+v", *k)
				}
			}
			if res.Chaos.Verdict != reports.VerdictPass {
				t.Errorf("verdict %s: %v", res.Chaos.Verdict, res.Chaos.Reasons)
			}
		})
	}
}

// The checker can fail: an engramd that acknowledges before its writes are
// durable loses them to kill -9, and the drill fails on it.
func TestUnsafeTargetFailsTheDrill(t *testing.T) {
	t.Parallel()
	res := runDrill(t, scenario(t, 3, fault("kill", "2s", "", "")), func(c *drill.Config) {
		c.EngramdArgs = []string{"--unsafe-ack-before-durable", "1m"}
	})
	k := res.Chaos.Check
	if k == nil || k.Lost == 0 || res.Chaos.Verdict != reports.VerdictFail || res.Verdict == reports.VerdictPass {
		t.Fatalf("verdict %s/%s check %+v", res.Chaos.Verdict, res.Verdict, k)
	}
	if !strings.Contains(strings.Join(res.Reasons, ";"), "lost") {
		t.Errorf("reasons %v", res.Reasons)
	}
}

// The embedded engine: disk faults through the driver's wrapper, health
// from the engine itself, and the read-back from the reopened store.
func TestEmbeddedDiskSlow(t *testing.T) {
	t.Parallel()
	sc := scenario(t, 3, fault("disk_slow", "1s", "1s", `latency = "20ms", ops = "sync"`))
	res := runDrill(t, sc, func(c *drill.Config) {
		c.Managed = false
		c.Plan.Driver = "embedded"
	})
	f := res.Chaos.Faults[0]
	if f.InjectError != "" || f.During.Latency.P99 < int64(20*time.Millisecond) {
		t.Errorf("inject %q p99 during %s", f.InjectError, reports.FormatNs(f.During.Latency.P99))
	}
	if f.RecoverHealthS == nil {
		t.Errorf("the engine never answered its health check after the heal: %v", f.Notes)
	}
	checkIntact(t, res)
}

// A failing disk kills the embedded engine for the rest of the run (no
// supervisor restarts it in-process): the drill fails on health, without
// waiting out RecoverTimeout once the engine is closed, and the read-back
// from the reopened store still finds every acknowledged write. Closing the
// failed engine returns in bounded time (it abandons a pebble instance
// wedged by the failed WAL write), so the drill ends and the reopen works.
func TestEmbeddedDiskErrorFails(t *testing.T) {
	t.Parallel()
	sc := scenario(t, 3, fault("disk_error", "1s", "500ms", `ops = "sync,write", files = "wal"`))
	res := runDrill(t, sc, func(c *drill.Config) {
		c.Managed = false
		c.Plan.Driver = "embedded"
	})
	f := res.Chaos.Faults[0]
	if f.RecoverHealthS != nil || !strings.Contains(strings.Join(f.Notes, ";"), "target gone") {
		t.Errorf("recovery %v, notes %v", f.RecoverHealthS, f.Notes)
	}
	if f.During.ErrorsByClass["storage_failed"] == 0 {
		t.Errorf("during %+v", f.During)
	}
	if res.Chaos.Verdict != reports.VerdictFail || !strings.Contains(strings.Join(res.Chaos.Reasons, ";"), "health not OK") {
		t.Errorf("verdict %s %v", res.Chaos.Verdict, res.Chaos.Reasons)
	}
	c := res.Chaos.Check
	if c == nil || c.Lost != 0 || c.Corrupted != 0 || c.Acknowledged == 0 || c.Intact != c.Acknowledged {
		t.Errorf("check %+v", c)
	}
}

// Process faults need the harness's own engramd.
func TestProcessFaultNeedsOwnedTarget(t *testing.T) {
	sc := scenario(t, 2, fault("kill", "1s", "", ""))
	faults, _ := chaos.FromScenario(sc, 0)
	_, err := drill.Run(context.Background(), drill.Config{Plan: drivers.Plan{Scenario: sc, Driver: "embedded"}, Faults: faults, WorkDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "an engramd the harness owns") {
		t.Errorf("err %v", err)
	}
}

// processesMatching lists pids whose command line contains every needle.
func processesMatching(needles ...string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, n := range needles {
			all = all && strings.Contains(cmd, n)
		}
		if all {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

// Ctrl-C in the middle of a drill — engramd paused by SIGSTOP, a ballast
// holding memory — returns the partial result and leaves nothing running.
func TestInterruptCleansUp(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	sc := scenario(t, 8, fault("pause", "1s", "5s", "")+fault("memory", "1s", "5s", `bytes = "32MiB"`))
	faults, err := chaos.FromScenario(sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2500*time.Millisecond, cancel)
	res, err := drill.Run(ctx, drill.Config{
		Plan:   drivers.Plan{Scenario: sc, Seed: 1, Driver: "engram", Concurrency: 16},
		Faults: faults, Managed: true, EngramdCommand: []string{engramdBin}, Helper: []string{os.Args[0]}, WorkDir: work,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || res.Chaos == nil || res.Chaos.CheckSkipped != "the run was interrupted" {
		t.Errorf("partial %v chaos %+v", res.Partial, res.Chaos)
	}
	for _, f := range res.Chaos.Faults {
		if f.InjectError != "" || f.HealError != "" || f.EndS > 4 {
			t.Errorf("%s: inject %q heal %q healed at %.1fs", f.Spec, f.InjectError, f.HealError, f.EndS)
		}
	}
	if left := processesMatching(work); len(left) > 0 {
		t.Errorf("engramd still running: %v", left)
	}
	if left := processesMatching(os.Args[0], "ballast"); len(left) > 0 {
		t.Errorf("ballast still running: %v", left)
	}
}

// A given target (an engramd someone else started, with --admin): network
// and disk faults apply, the read-back does not count extra memories.
func TestGivenTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{engramdBin}, DataDir: filepath.Join(t.TempDir(), "data"), Dim: 16, Args: []string{"--admin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(ctx, 10*time.Second)
	sc := scenario(t, 4, fault("latency", "1s", "1s", `latency = "100ms"`)+fault("disk_slow", "2500ms", "1s", `latency = "20ms"`))
	res := runDrill(t, sc, func(c *drill.Config) {
		c.Managed = false
		c.Plan.DriverConfig.Target = e.URL()
	})
	for _, f := range res.Chaos.Faults {
		if f.InjectError != "" || f.HealError != "" || f.RecoverHealthS == nil {
			t.Errorf("%s: %+v", f.Spec, f)
		}
	}
	if !strings.Contains(res.Chaos.Target, "given") {
		t.Errorf("target %q", res.Chaos.Target)
	}
	checkIntact(t, res)
}
