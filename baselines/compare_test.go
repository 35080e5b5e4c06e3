package baselines

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompareGoTestOutput(t *testing.T) {
	old, err := Load("old", "testdata/gotest-dot-old.txt")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Load("new", "testdata/gotest-dot-new.txt")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare([]*Set{old, cur}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sec/op": false, "B/op": false, "allocs/op": false}
	for _, r := range c.Rows {
		if _, ok := want[r.Unit]; ok {
			want[r.Unit] = true
		}
		if r.Better != -1 {
			t.Errorf("%s %s: better %d, want -1 (lower)", r.Benchmark, r.Unit, r.Better)
		}
		if !strings.HasPrefix(r.Benchmark, "github.com/engram-bench/engram-bench/engine:Dot") {
			t.Errorf("row %q", r.Benchmark)
		}
		if r.Cells[0].N() != 6 || r.Cells[1].N() != 6 || r.Deltas[0] == nil {
			t.Errorf("%s %s: n=%d+%d", r.Benchmark, r.Unit, r.Cells[0].N(), r.Cells[1].N())
		}
	}
	for u, seen := range want {
		if !seen {
			t.Errorf("no %s rows", u)
		}
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sec/op", "DotGo-2", "DotVek-2", "(p=", "n=6)"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, buf.String())
		}
	}
	// The gate reads the same files with the default policy's sec/op rule.
	v := Gate(c, nil, GateOptions{})
	if v.Gated != 2 {
		t.Errorf("gated %d metrics, want 2 (sec/op of two benchmarks)", v.Gated)
	}
}

func TestCompareShiftAndFilter(t *testing.T) {
	base, slow := defaultSynth(), defaultSynth()
	slow.slow = 1.25
	b, c := sets(t, base, slow, 6, 6, 9)
	cmp, err := Compare([]*Set{b, c}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cmp.Rows {
		d := r.Deltas[0]
		switch r.Unit {
		case "svc-p50-sec", "p99-sec":
			if !d.Significant || d.P > 0.01 || math.Abs(d.Change-0.25) > 0.05 || !strings.HasPrefix(d.Text, "+") {
				t.Errorf("%s %s: %+v", r.Benchmark, r.Unit, d)
			}
		case "errors/op":
			if d.Significant || d.Text != "~" || len(d.Warnings) != 0 {
				t.Errorf("%s %s: %+v", r.Benchmark, r.Unit, d)
			}
		}
	}
	f, err := Compare([]*Set{b, c}, Options{Filter: "/op:store .unit:svc-p50-sec"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) != 1 || f.Rows[0].Unit != "svc-p50-sec" {
		t.Errorf("filtered rows: %+v", f.Rows)
	}
	if _, err := Compare([]*Set{b, c}, Options{Filter: "/op:("}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad filter: %v", err)
	}
	if len(cmp.Env) != 1 || len(cmp.Env[0]) != 1 || cmp.Env[0][0].Field != "engine options" || !cmp.Env[0][0].Loud {
		t.Errorf("env diffs %+v", cmp.Env)
	}
	var md bytes.Buffer
	if err := cmp.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| svc-p50-sec |", "op=store", "WARNING: engine options differs"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
}

func TestCompareNothingInCommon(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) *Set {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(name, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"mismatched units", "BenchmarkX 10 5 p99-ms\n", "BenchmarkX 10 5000 p99-us\n", "mismatched units: the benchmarks in both a.txt and b.txt share no unit (X: a.txt has p99-ms, b.txt has p99-us)"},
		{"different benchmarks", "BenchmarkX 10 5 ns/op\n", "BenchmarkY 10 5 ns/op\n", "nothing to compare: no benchmark is in both a.txt (e.g. X) and b.txt (e.g. Y)"},
		{"different rate", "BenchmarkEngram/scenario=q/rate=300/op=store 10 5 ops/s\n", "BenchmarkEngram/scenario=q/rate=600/op=store 10 5 ops/s\n", "check the scenario, rate and driver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare([]*Set{write("a.txt", tc.old), write("b.txt", tc.new)}, Options{})
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// ns/op and sec/op are one unit once tidied: that is not a mismatch.
	if _, err := Compare([]*Set{write("a.txt", "BenchmarkX 10 5 ns/op\n"), write("b.txt", "BenchmarkX 10 5e-9 sec/op\n")}, Options{}); err != nil {
		t.Errorf("ns/op vs sec/op: %v", err)
	}
}

func TestDiffFingerprints(t *testing.T) {
	a := Fingerprint{Source: "engram-bench", CPUModel: "AMD EPYC", Cores: 2, GoVersion: "go1.26.8", GitRevision: "aaaa", Scenario: "quickstart", ScenarioHash: "x", Driver: "embedded", TargetRate: 300}
	tests := []struct {
		name   string
		change func(f *Fingerprint)
		field  string
		loud   bool
	}{
		{"same", func(f *Fingerprint) {}, "", false},
		{"another build is expected", func(f *Fingerprint) { f.GitRevision = "bbbb" }, "git revision", false},
		{"another CPU", func(f *Fingerprint) { f.CPUModel = "Intel Xeon" }, "cpu model", true},
		{"another Go", func(f *Fingerprint) { f.GoVersion = "go1.27" }, "go version", true},
		{"engine options", func(f *Fingerprint) { f.DriverOptions = map[string]string{"slowdown": "0.25"} }, "engine options", true},
		{"another rate", func(f *Fingerprint) { f.TargetRate = 600 }, "target rate", true},
		{"unknown on one side is no difference", func(f *Fingerprint) { f.GoVersion = "" }, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := a
			tc.change(&b)
			d := DiffFingerprints([]Fingerprint{a}, []Fingerprint{b})
			if tc.field == "" {
				if len(d) != 0 {
					t.Errorf("diffs %+v", d)
				}
				return
			}
			if len(d) != 1 || d[0].Field != tc.field || d[0].Loud != tc.loud {
				t.Errorf("diffs %+v, want %s loud=%v", d, tc.field, tc.loud)
			}
		})
	}
}
