package baselines

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.Alpha != 0.05 || p.MinRuns != 6 || *p.InconclusiveP != 0.1 {
		t.Errorf("default policy: alpha %v, min_runs %d, inconclusive_p %v", p.Alpha, p.MinRuns, *p.InconclusiveP)
	}
	tests := []struct {
		bench, unit string
		gated       bool
		limits      string
	}{
		{"Engram/scenario=q/op=all", "ops/s", true, "10%/20%"},
		{"Engram/scenario=q/op=store", "ops/s", false, ""},
		{"Engram/scenario=q/op=all", "p99-sec", true, "10%/20%"},
		{"Engram/scenario=q/op=store", "p99-sec", false, ""},
		{"Engram/scenario=q/op=store", "svc-p50-sec", true, "10%/15%"},
		{"Engram/scenario=q/op=all", "svc-p50-sec", false, ""},
		{"Engram/scenario=q/op=store", "svc-p99-sec", false, ""},
		{"Engram/scenario=q/op=store", "p50-sec", false, ""},
		{"Engram/scenario=q/op=all", "errors/op", true, "0.0005/0.001"},
		{"Engram/scenario=q/op=all", "hit-rate", true, "0.005/0.01"},
		{"pkg:DotGo-2", "sec/op", true, "10%/20%"},
		{"pkg:DotGo-2", "B/op", false, ""},
		{"Throughput-2", "B/s", true, "10%/20%"},
	}
	for _, tc := range tests {
		l := p.Limits(tc.bench, tc.unit)
		if l.Gated != tc.gated || l.String() != tc.limits {
			t.Errorf("%s %s: gated %v limits %q; want %v %q", tc.bench, tc.unit, l.Gated, l, tc.gated, tc.limits)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"TOML syntax", "alpha = \n", "policy p.toml:1:"},
		{"unknown key", "alpha = 0.05\nbogus = 1\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", `unknown key "bogus"`},
		{"unknown rule key", "[[rule]]\nunit = \"x\"\nfail = 20\n", `unknown key "rule.fail"`},
		{"alpha too big", "alpha = 0.9\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", "alpha: must be in (0, 0.5], got 0.9"},
		{"alpha negative", "alpha = -1\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", "alpha: must be in (0, 0.5], got -1"},
		{"min_runs 1", "min_runs = 1\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", "min_runs: must be >= 2, got 1"},
		{"min_runs 3 can never be significant", "min_runs = 3\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", "min_runs 3: with so few runs per side no change can reach p <= 0.05 (the smallest possible p is 0.100); use at least 4"},
		{"no rules", "alpha = 0.05\n", "no [[rule]]: nothing would be gated"},
		{"negative tolerance", "[[rule]]\nunit = \"x\"\nfail_pct = -5\n", "rule 1: fail_pct: must be a number >= 0, got -5"},
		{"warn above fail", "[[rule]]\nunit = \"x\"\nwarn_pct = 30\nfail_pct = 20\n", "rule 1: warn_pct 30 is above fail_pct 20"},
		{"warn_abs above fail_abs", "[[rule]]\nunit = \"x\"\nwarn_abs = 3\nfail_abs = 2\n", "rule 1: warn_abs 3 is above fail_abs 2"},
		{"bad better", "[[rule]]\nunit = \"x\"\nbetter = \"up\"\nfail_pct=1\n", `rule 1: better: want "higher" or "lower", got "up"`},
		{"character class", "[[rule]]\nunit = \"p9[59]-ns\"\nfail_pct=1\n", "only * and ? are special"},
		{"inconclusive_p out of range", "inconclusive_p = 2\n[[rule]]\nunit=\"x\"\nfail_pct=1\n", "inconclusive_p: must be in [0, 1], got 2"},
		{"wrong type", "min_runs = \"six\"\n", "policy p.toml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy("p.toml", []byte(tc.text))
			if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ReadPolicy("testdata/nope.toml"); err == nil || !strings.Contains(err.Error(), "policy testdata/nope.toml: not found") {
		t.Errorf("missing policy: %v", err)
	}
}

func TestPolicyLimitsMerge(t *testing.T) {
	p, err := ParsePolicy("p.toml", []byte(`
[[rule]]
unit = "*-ns"
warn_pct = 10
fail_pct = 20
[[rule]]
op = "embedding_*"
unit = "p99-ns"
fail_pct = 40
[[rule]]
benchmark = "Engram/*/op=store"
unit = "p99.9-*"
ignore = true
[[rule]]
unit = "custom"
better = "higher"
fail_abs = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		bench, unit string
		gated       bool
		warn, fail  float64
		better      int
	}{
		{"Engram/s=q/op=embedding_search", "p99-sec", true, 10, 40, 0},
		{"Engram/s=q/op=recall_by_cue", "p99-sec", true, 10, 20, 0},
		{"Engram/s=q/op=store", "p99.9-sec", false, 10, 20, 0},
		{"Engram/s=q/op=recall_by_cue", "p99.9-sec", true, 10, 20, 0},
		{"DotGo-2", "sec/op", false, math.NaN(), math.NaN(), 0},
		{"DotGo-2", "custom", true, math.NaN(), math.NaN(), 1},
	}
	for _, tc := range tests {
		l := p.Limits(tc.bench, tc.unit)
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if l.Gated != tc.gated || !same(l.WarnPct, tc.warn) || !same(l.FailPct, tc.fail) || l.Better != tc.better {
			t.Errorf("%s %s: %+v", tc.bench, tc.unit, l)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "a/b/c", true}, {"a*", "abc", true}, {"a*", "bac", false},
		{"*-ns", "svc-p50-ns", true}, {"Engram/*/op=store", "Engram/scenario=q/rate=3/op=store", true},
		{"Engram/*/op=store", "Engram/scenario=q/op=store_batch", false}, {"p9?-sec", "p99-sec", true},
		{"p9?-sec", "p9-sec", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"**", "x", true},
	}
	for _, tc := range tests {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// FuzzParsePolicy: no panics; whatever parses validates and matches.
func FuzzParsePolicy(f *testing.F) {
	f.Add(DefaultPolicyText)
	f.Add("alpha = 0.1\nmin_runs = 4\n[[rule]]\nop = \"s*\"\nunit = \"*\"\nwarn_abs = 1\n")
	f.Add("[[rule]]\nbenchmark = \"**?\"\nignore = true\nfail_pct = 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePolicy("fuzz.toml", []byte(text))
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v is not bad input", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
		_ = p.Limits("Engram/scenario=q/op=store", "p99-sec").String()
	})
}

// globRef is glob written as the textbook dynamic programme: m[i][j] says
// whether pattern[i:] matches s[j:].
func globRef(pattern, s string) bool {
	m := make([][]bool, len(pattern)+1)
	for i := range m {
		m[i] = make([]bool, len(s)+1)
	}
	m[len(pattern)][len(s)] = true
	for i := len(pattern) - 1; i >= 0; i-- {
		for j := len(s); j >= 0; j-- {
			switch c := pattern[i]; {
			case c == '*':
				m[i][j] = m[i+1][j] || j < len(s) && m[i][j+1]
			case j < len(s) && (c == '?' || c == s[j]):
				m[i][j] = m[i+1][j+1]
			}
		}
	}
	return m[0][0]
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("*a*", "bab")
	f.Add("a*", "")
	f.Add("**b", "ab")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if got, want := glob(pattern, s), globRef(pattern, s); got != want {
			t.Fatalf("glob(%q, %q) = %v, the reference matcher says %v", pattern, s, got, want)
		}
		if !glob("*", s) || !glob(s+"*", s) {
			t.Fatalf("* and a literal prefix must match %q", s)
		}
	})
}
