package compare_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/compare"
	"github.com/engram-bench/engram-bench/drivers/drivertest"
	_ "github.com/engram-bench/engram-bench/drivers/embedded"
	_ "github.com/engram-bench/engram-bench/drivers/null"
	_ "github.com/engram-bench/engram-bench/drivers/postgres"
	_ "github.com/engram-bench/engram-bench/drivers/redis"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func init() {
	// A driver compare-systems cannot start: it needs --target.
	drivers.Register(drivers.Meta{Name: "remote-only", New: func(context.Context, drivers.Config) (drivers.Driver, error) {
		return nil, nil
	}})
}

func TestValidate(t *testing.T) {
	sc := drivertest.Scenario(t)
	for _, tc := range []struct {
		name string
		cfg  compare.Config
		want string
	}{
		{"no systems", compare.Config{Scenario: sc}, "name at least one"},
		{"unknown driver", compare.Config{Scenario: sc, Systems: []string{"embedded", "mongo"}}, `unknown driver "mongo"`},
		{"named twice", compare.Config{Scenario: sc, Systems: []string{"redis", "redis"}}, `"redis" named twice`},
		{"target for a system not compared", compare.Config{Scenario: sc, Systems: []string{"redis"}, Targets: map[string]string{"postgres": "x"}}, `--target postgres=`},
		{"pid without target", compare.Config{Scenario: sc, Systems: []string{"redis"}, PIDs: map[string]int{"redis": 1}}, "only for a system given --target"},
		{"option for a system not compared", compare.Config{Scenario: sc, Systems: []string{"redis"}, Options: map[string]map[string]string{"embedded": {"a": "b"}}}, `--driver-opt embedded=`},
		{"a system nobody can start needs a target", compare.Config{Scenario: sc, Systems: []string{"remote-only"}}, "--target remote-only=ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	ok := compare.Config{Scenario: sc, Systems: []string{"null", "remote-only"}, Targets: map[string]string{"remote-only": "http://127.0.0.1:1"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// The same op stream against the engine, a fresh Redis and a fresh
// PostgreSQL: every system gets the same ops, is measured, and is stopped
// and removed afterwards.
func TestSameStreamAgainstEverySystem(t *testing.T) {
	for _, name := range []string{"redis", "postgres"} {
		systemstest.Require(t, name) // skips (or fails under CI) when a server is missing
	}
	sc := drivertest.Scenario(t)
	sc.Duration.TotalSeconds = 1
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} { // the postgres user must be able to enter it when we are root
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := compare.Run(context.Background(), compare.Config{
		Scenario: sc, Seed: 3, Systems: []string{"embedded", "redis", "postgres"}, Concurrency: 16,
		TempDir: tmp, SampleInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Partial || len(c.Systems) != 3 {
		t.Fatalf("partial %v, %d systems", c.Partial, len(c.Systems))
	}
	var sent []string
	for _, s := range c.Systems {
		if s.Result == nil {
			t.Fatalf("%s: %s", s.Name, s.Error)
		}
		r := s.Result
		if r.Seed != 3 || r.Preload.Memories != 300 {
			t.Errorf("%s: seed %d, preload %d", s.Name, r.Seed, r.Preload.Memories)
		}
		// Every op of the stream, finished or not, per kind: the same for all.
		var b strings.Builder
		for _, k := range c.Kinds {
			b.WriteString(k + "=" + strconv.FormatInt(r.Ops[k].Count, 10) + " ")
		}
		b.WriteString("unfinished=" + strconv.FormatInt(r.Harness.Unsent+r.Harness.Abandoned, 10))
		sent = append(sent, b.String())
		for _, k := range []string{"pattern_completion", "spreading_activation", "consolidation"} {
			if s.Name == "embedded" { // the engine answers every kind
				if st := r.Ops[k]; st.Count == 0 || st.Errors != 0 {
					t.Errorf("%s %s: %d ops, errors %+v", s.Name, k, st.Count, st.ErrorsByClass)
				}
				continue
			}
			if st := r.Ops[k]; st.Count == 0 || st.ErrorsByClass["unsupported"] != st.Count {
				t.Errorf("%s %s: %+v, want every op unsupported", s.Name, k, st.ErrorsByClass)
			}
		}
		for _, k := range []string{"embedding_search", "recall_by_cue"} {
			if hr := r.Ops[k].HitRate; hr == nil || *hr < 0.95 {
				t.Errorf("%s %s: hit rate %v", s.Name, k, hr)
			}
		}
		fp := s.Footprint
		if fp.MemoryEnd == nil || fp.MemoryPeak == nil || *fp.MemoryEnd < 1<<20 || *fp.MemoryPeak < *fp.MemoryEnd {
			t.Errorf("%s: memory %v %v (%s)", s.Name, fp.MemoryEnd, fp.MemoryPeak, fp.MemoryWhy)
		}
		if fp.DiskEnd == nil || *fp.DiskEnd <= 0 {
			t.Errorf("%s: disk %v (%s)", s.Name, fp.DiskEnd, fp.DiskWhy)
		}
		if !s.Managed || s.Describe == "" {
			t.Errorf("%s: managed %v, describe %q", s.Name, s.Managed, s.Describe)
		}
	}
	if sent[0] != sent[1] || sent[1] != sent[2] {
		t.Errorf("op streams differ between systems:\n%s", strings.Join(sent, "\n"))
	}
	if !c.Systems[0].Footprint.InProcess || c.Systems[1].Footprint.InProcess {
		t.Error("only the embedded engine runs in-process")
	}
	ents, err := os.ReadDir(tmp)
	if err != nil || len(ents) != 0 {
		t.Errorf("systems left %d entries in their temp dir (%v)", len(ents), err)
	}
	// The table shows n/a for the kinds a system does not support, never zeros.
	var txt strings.Builder
	if err := reports.WriteComparisonText(&txt, c); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rows() {
		if r.Group == "pattern_completion" {
			for i, cell := range r.Cells {
				if c.Systems[i].Name != "embedded" && cell.Text != "n/a" {
					t.Errorf("pattern_completion %s on %s: %q", r.Metric, c.Systems[i].Name, cell.Text)
				}
			}
		}
	}
}

func TestExternalTargetIsMeasuredOnlyWhenTold(t *testing.T) {
	srv := systemstest.Start(t, "redis", systems.Options{})
	sc := drivertest.Scenario(t)
	sc.Duration.TotalSeconds = 1
	for _, tc := range []struct {
		name     string
		pids     map[string]int
		dirs     map[string]string
		measured bool
	}{
		{name: "without --pid and --dir: n/a with the reason", measured: false},
		{name: "with them: measured", pids: map[string]int{"redis": srv.PID}, dirs: map[string]string{"redis": srv.DataDir}, measured: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := compare.Run(context.Background(), compare.Config{Scenario: sc, Seed: 1, Systems: []string{"redis"}, Concurrency: 8,
				Targets: map[string]string{"redis": srv.Target}, PIDs: tc.pids, Dirs: tc.dirs})
			if err != nil {
				t.Fatal(err)
			}
			s := c.Systems[0]
			if s.Result == nil || s.Managed {
				t.Fatalf("result %v managed %v: %s", s.Result != nil, s.Managed, s.Error)
			}
			fp := s.Footprint
			if got := fp.MemoryEnd != nil && fp.DiskEnd != nil; got != tc.measured {
				t.Errorf("measured = %v (%s; %s)", got, fp.MemoryWhy, fp.DiskWhy)
			}
			if !tc.measured && (!strings.Contains(fp.MemoryWhy, "--pid redis=PID") || !strings.Contains(fp.DiskWhy, "--dir redis=DATA_DIR")) {
				t.Errorf("reasons %q, %q", fp.MemoryWhy, fp.DiskWhy)
			}
		})
	}
	if err := srv.Stop(context.Background()); err != nil { // an external server is left running by compare
		t.Errorf("external server was stopped by the comparison: %v", err)
	}
}

func TestUnstartableSystemIsRecordedAndOthersRun(t *testing.T) {
	sc := drivertest.Scenario(t)
	sc.Duration.TotalSeconds = 1
	c, err := compare.Run(context.Background(), compare.Config{Scenario: sc, Seed: 1, Systems: []string{"redis", "null"},
		Bins: map[string]string{"redis": "/nonexistent/redis-server"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Systems[0].Result != nil || !strings.Contains(c.Systems[0].Error, "/nonexistent/redis-server") {
		t.Errorf("redis: %+v", c.Systems[0].Error)
	}
	if c.Systems[1].Result == nil {
		t.Errorf("null did not run: %s", c.Systems[1].Error)
	}
}

func TestInterruptIsPartialAndStopsServers(t *testing.T) {
	systemstest.Require(t, "redis")
	sc := drivertest.Scenario(t)
	sc.Duration.TotalSeconds = 30
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C once the measured run of the first system is under way.
	c, err := compare.Run(ctx, compare.Config{Scenario: sc, Seed: 1, Systems: []string{"redis", "embedded"}, Concurrency: 8, TempDir: tmp,
		Live: func(string, reports.Tick) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Partial || c.Systems[0].Result == nil || !c.Systems[0].Result.Partial {
		t.Errorf("partial %v, first result %+v", c.Partial, c.Systems[0].Error)
	}
	if c.Systems[1].Result != nil || !strings.Contains(c.Systems[1].Error, "interrupted") {
		t.Errorf("second system: %q", c.Systems[1].Error)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("interrupted comparison left %d entries (a server still running?)", len(ents))
	}
}

// A phased scenario without a top-level [arrival] is compared as run runs
// it: the comparison's offered rate and window are the phases' own.
func TestPhasedScenarioRateIsThePhases(t *testing.T) {
	sc, err := workloads.Parse("phased.toml", []byte(`
[operations]
store_weight = 1
[data]
preload = 0
embedding_dim = 8
[[phases]]
name = "low"
duration_seconds = 0.5
arrival = { pattern = "constant", rate = 40.0 }
[[phases]]
name = "high"
duration_seconds = 0.5
arrival = { pattern = "constant", rate = 120.0 }
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := compare.Run(context.Background(), compare.Config{Scenario: sc, Seed: 1, Systems: []string{"null"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetRate != 80 || c.DurationS != 1 {
		t.Errorf("comparison offers %g ops/s over %g s, want 80 over 1 (the phases')", c.TargetRate, c.DurationS)
	}
	if r := c.Systems[0].Result; r == nil || r.TargetRate != c.TargetRate {
		t.Errorf("null's result: %+v", c.Systems[0])
	}
}
