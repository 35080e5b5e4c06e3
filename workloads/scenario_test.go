package workloads

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seven Engram loadtest scenarios load unchanged from ../shared.
func TestEngramScenariosLoad(t *testing.T) {
	files, err := filepath.Glob("../../shared/scenarios/engram-loadtest/*.toml")
	if err != nil || len(files) == 0 {
		t.Skipf("Engram scenario fixtures not found beside the checkout (../shared): %v", err)
	}
	if len(files) != 7 {
		t.Errorf("found %d Engram scenario files, want 7", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Data.EmbeddingDim != 768 || sc.Data.NumNodes < 100_000 {
				t.Errorf("data = %+v", sc.Data)
			}
			if _, err := NewArrival(sc.Arrival, 1); err != nil {
				t.Errorf("arrival: %v", err)
			}
			if _, err := NewGenerator(sc, 1); err != nil {
				t.Errorf("generator: %v", err)
			}
			if sc.PreloadCount() != DefaultPreloadCap {
				t.Errorf("default preload = %d, want the cap %d", sc.PreloadCount(), DefaultPreloadCap)
			}
		})
	}
}

func TestBuiltinsLoad(t *testing.T) {
	names := BuiltinNames()
	for _, want := range []string{"quickstart", "mixed_balanced", "burst_traffic", "consolidation", "embeddings_search", "multi_tenant", "read_heavy", "write_heavy"} {
		if !IsBuiltin(want) {
			t.Errorf("built-in %q missing (have %v)", want, names)
		}
	}
	for _, n := range names {
		sc, err := LoadBuiltin(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if sc.ID != n || sc.Source != "builtin:"+n {
			t.Errorf("%s: id %q source %q", n, sc.ID, sc.Source)
		}
	}
}

func TestFormatVariants(t *testing.T) {
	cases := []struct {
		name, text string
		check      func(t *testing.T, sc *Scenario)
	}{
		{"fractions as weights", `
[arrival]
pattern = "constant"
rate = 100
[operations]
store_weight = 0.25
recall_weight = 0.75
`, func(t *testing.T, sc *Scenario) {
			g, err := NewGenerator(sc, 1)
			if err != nil {
				t.Fatal(err)
			}
			stores := 0
			for i := uint64(0); i < 20000; i++ {
				if g.KindOf(i) == KindStore {
					stores++
				}
			}
			if stores < 4700 || stores > 5300 {
				t.Errorf("stores = %d of 20000, want about 5000", stores)
			}
		}},
		{"inline distribution table and underscores", `
[arrival]
pattern = "poisson"
lambda = 1_000
[operations]
store_weight = 1
[data]
num_nodes = 1_000_000
embedding_distribution = { type = "uniform" }
`, func(t *testing.T, sc *Scenario) {
			if sc.Data.NumNodes != 1_000_000 || sc.Data.EmbeddingDistribution.Type != "uniform" {
				t.Errorf("data = %+v", sc.Data)
			}
		}},
		{"hot spot with a centre", `
[arrival]
pattern = "constant"
rate = 10
[operations]
store_weight = 1
[data]
embedding_dim = 4
[data.embedding_distribution]
type = "hot_spot"
center = [1.0, 0.0, 0.0, 0.0]
`, func(t *testing.T, sc *Scenario) {
			g, _ := NewGenerator(sc, 1)
			v := g.Embedding(PreloadKey(3), nil)
			if c := Cosine(v, []float32{1, 0, 0, 0}); c < 0.99 {
				t.Errorf("cosine to hot spot = %f", c)
			}
		}},
		{"our extensions", `
[duration]
total_seconds = 5
warmup_seconds = 1
[arrival]
pattern = "constant"
rate = 10
[operations]
store_weight = 1
[data]
preload = 123
[validation]
expected_p50_latency_ms = 1
expected_p999_latency_ms = 9
`, func(t *testing.T, sc *Scenario) {
			if sc.PreloadCount() != 123 || *sc.Validation.ExpectedP50LatencyMs != 1 || *sc.Validation.ExpectedP999LatencyMs != 9 || sc.Duration.Warmup().Seconds() != 1 {
				t.Errorf("extensions not read: %+v %+v", sc.Data, sc.Validation)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := Parse("test.toml", []byte(c.text))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, sc)
		})
	}
}

func TestBadScenarios(t *testing.T) {
	base := "[arrival]\npattern = \"constant\"\nrate = 10\n[operations]\nstore_weight = 1\n"
	cases := []struct {
		name, text string
		want       []string // substrings of the error
	}{
		{"unknown key", base + "bogus = 3\n", []string{"bad.toml:6", "operations.bogus", "unknown key"}},
		{"wrong type", strings.Replace(base, "rate = 10", `rate = "fast"`, 1), []string{"bad.toml:3: arrival.rate: incompatible types: TOML value has type string; destination has type float"}},
		{"wrong type in a table array", "[arrival]\nrate = 10\n[operations]\nstore_weight = 1\n[[phases]]\nname = \"a\"\nduration_seconds = \"x\"\n", []string{"bad.toml:7: phases.duration_seconds: incompatible types"}},
		{"negative rate", strings.Replace(base, "rate = 10", "rate = -5", 1), []string{"bad.toml:3", "arrival.rate", "must be > 0", "got -5"}},
		{"weights sum to zero", strings.Replace(base, "store_weight = 1", "store_weight = 0", 1), []string{"weights sum to zero"}},
		{"negative weight", base + "recall_weight = -1\n", []string{"bad.toml:6", "operations.recall_weight", "got -1"}},
		{"unknown pattern", strings.Replace(base, `"constant"`, `"sometimes"`, 1), []string{"bad.toml:2", "arrival.pattern", "unknown pattern", `"sometimes"`}},
		{"missing arrival", "[operations]\nstore_weight = 1\n", []string{"arrival", "missing"}},
		{"bad distribution", base + "[data]\nembedding_distribution = { type = \"gaussian\" }\n", []string{"bad.toml:7", "data.embedding_distribution.type", `"gaussian"`}},
		{"zero dim", base + "[data]\nembedding_dim = 0\n", []string{"data.embedding_dim", "got 0"}},
		{"burst longer than period", "[arrival]\npattern = \"periodic_burst\"\nbase_rate = 1\nburst_rate = 5\nburst_duration_sec = 10\nburst_period_sec = 5\n[operations]\nstore_weight = 1\n", []string{"bad.toml:5", "arrival.burst_duration_sec", "got 10"}},
		{"syntax error", "[arrival\n", []string{"bad.toml:2", "end table name"}},
		{"error rate above 1", base + "[validation]\nmax_error_rate = 5\n", []string{"validation.max_error_rate", "got 5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SpecError: %v", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("pattern key not used", func(t *testing.T) {
		_, err := Parse("bad.toml", []byte(strings.Replace(base, "rate = 10", "rate = 10\nlambda = 4", 1)))
		if err == nil || !strings.Contains(err.Error(), "arrival.lambda") || !strings.Contains(err.Error(), "not used by pattern") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
		if err == nil || !strings.Contains(err.Error(), "nope.toml") || !strings.Contains(err.Error(), "not found") {
			t.Errorf("err = %v", err)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err does not wrap ErrNotExist")
		}
	})
	t.Run("unknown builtin", func(t *testing.T) {
		_, err := Resolve("quickstrat")
		if err == nil || !strings.Contains(err.Error(), "quickstrat") || !strings.Contains(err.Error(), "quickstart") {
			t.Errorf("err = %v", err)
		}
	})
}

func FuzzParseScenario(f *testing.F) {
	for _, n := range BuiltinNames() {
		b, _ := BuiltinText(n)
		f.Add(b)
	}
	f.Add([]byte("[arrival]\npattern=\"poisson\"\nlambda=1e308\n[operations]\nstore_weight=1e308\nrecall_weight=1e308\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse("fuzz.toml", b)
		if err != nil {
			return
		}
		if d := sc.Drill; d != nil {
			prev := -1.0
			bs := d.Backups()
			for _, b := range bs {
				if b.AtS <= prev || b.AtS >= d.DisasterAtS {
					t.Fatalf("drill schedule out of order or after the disaster: %+v", bs)
				}
				prev = b.AtS
			}
			if len(bs) == 0 || len(bs) > MaxDrillBackups || bs[0].Kind != BackupFull {
				t.Fatalf("drill schedule of %d backups, first %+v", len(bs), bs)
			}
		}
		// A scenario that parses must build.
		if len(sc.Phases) > 0 {
			for _, p := range sc.Phases {
				if p.IsPreload() {
					continue
				}
				if _, err := NewArrival(*p.Arrival, 1); err != nil {
					t.Fatalf("parsed but phase %s's arrival fails: %v", p.Name, err)
				}
			}
			return // (building the schedule counts every op: too slow for fuzzed rates)
		}
		if _, err := NewArrival(sc.Arrival, 1); err != nil {
			t.Fatalf("parsed but arrival fails: %v", err)
		}
		if sc.Data.EmbeddingDim <= 64 && sc.Data.MemorySpaces <= 64 {
			g, err := NewGenerator(sc, 1)
			if err != nil {
				t.Fatalf("parsed but generator fails: %v", err)
			}
			for i := uint64(0); i < 4; i++ {
				g.Op(i)
			}
		}
	})
}
