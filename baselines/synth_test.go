package baselines

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
)

// synth makes synthetic engram-bench results: each run's metrics are a base
// value times lognormal noise, so tests of the gate are fast and exact.
type synth struct {
	ops     []string
	svc50   float64 // ns
	p99     float64 // ns
	tput    float64 // ops/s per op kind
	noise   float64 // relative spread (sigma of the log)
	slow    float64 // multiplier on latency and service time (1.25 = 25% slower)
	errs    float64 // error rate
	recall  float64 // recall@10 of the cue kinds
	env     reports.Env
	rate    float64
	invalid bool
}

func defaultSynth() synth {
	return synth{
		ops:   []string{"embedding_search", "recall_by_cue", "store"},
		svc50: 1e6, p99: 8e6, tput: 100, noise: 0.02, slow: 1, recall: 1,
		env:  reports.Env{GoVersion: "go1.26.8", OS: "linux", Arch: "amd64", CPUModel: "AMD EPYC", Cores: 2, GOMAXPROCS: 2, GitRevision: "aaaaaaaaaaaaaaaa"},
		rate: 300,
	}
}

func (s synth) result(rng *rand.Rand) *reports.Result {
	n := func() float64 { return math.Exp(rng.NormFloat64() * s.noise) }
	r := &reports.Result{
		Schema: reports.Schema, Scenario: "quickstart", ScenarioText: "name = \"quickstart\"\n", Seed: 1,
		Driver: "embedded", TargetRate: s.rate, Concurrency: 1, DurationS: 4, Verdict: reports.VerdictPass,
		StartedAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Env: s.env, Ops: map[string]reports.OpStats{},
	}
	if s.slow != 1 {
		r.DriverOptions = map[string]string{"slowdown": fmt.Sprint(s.slow - 1)}
	}
	if s.invalid {
		r.Verdict = reports.VerdictInvalid
		r.Reasons = []string{"harness-limited: test"}
	}
	for _, op := range s.ops {
		svc := s.svc50 * s.slow * n()
		p99 := s.p99 * s.slow * n()
		o := reports.OpStats{
			Count: 400, Throughput: s.tput * (1 + 0.001*rng.NormFloat64()), ErrorRate: s.errs, Errors: int64(s.errs * 400),
			Latency: reports.Percentiles{P50: int64(svc * 1.1), P90: int64(p99 / 2), P99: int64(p99), P999: int64(p99 * 1.5), Max: int64(p99 * 2)},
			Service: reports.Percentiles{P50: int64(svc), P90: int64(p99 / 2.2), P99: int64(p99 / 1.1), P999: int64(p99 * 1.4), Max: int64(p99 * 2)},
		}
		if op != "store" {
			h, rc := 1.0, s.recall
			o.HitRate, o.RecallAt10 = &h, &rc
			o.Scored, o.RecallExpected = 400, 400
			rq := s.recall
			r.Quality = &reports.QualityStats{RecallAt10: &rq}
		}
		r.Ops[op] = o
	}
	// The total, roughly as Summarize makes it: counts add up, the
	// percentiles of the mix sit between the kinds'.
	t := reports.OpStats{ErrorRate: s.errs}
	hits, scored := 0.0, int64(0)
	for _, o := range r.Ops {
		t.Count += o.Count
		t.Errors += o.Errors
		t.Throughput += o.Throughput
		t.Latency.P99 = max(t.Latency.P99, o.Latency.P99)
		t.Latency.P50 = max(t.Latency.P50, o.Latency.P50)
		t.Service.P50 = max(t.Service.P50, o.Service.P50)
		if o.HitRate != nil {
			hits += *o.HitRate * float64(o.Scored)
			scored += o.Scored
		}
	}
	if scored > 0 {
		h := hits / float64(scored)
		t.HitRate, t.Scored = &h, scored
	}
	r.Total = t
	return r
}

// write writes n runs to dir/prefix-NNN.json and returns their paths.
func (s synth) write(t testing.TB, dir, prefix string, n int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var paths []string
	for i := 1; i <= n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s-%03d.json", prefix, i))
		if err := s.result(rng).WriteFile(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// sets loads two synthetic sides.
func sets(t testing.TB, base, cur synth, nb, nc int, seed uint64) (*Set, *Set) {
	t.Helper()
	dir := t.TempDir()
	b, err := Load("baseline", base.write(t, dir, "base", nb, seed)...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load("current", cur.write(t, dir, "cur", nc, seed+1000)...)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}
