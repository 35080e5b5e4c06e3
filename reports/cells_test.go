package reports

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
)

func TestErrorsCell(t *testing.T) {
	for _, tc := range []struct {
		name          string
		count, errors int64
		classes       map[string]int64
		want          string
	}{
		{"no op failed", 100, 0, nil, "0"},
		{"plain errors with their rate", 1000, 3, map[string]int64{"timeout": 3}, "3 (0.30%)"},
		{"every op unsupported: n/a, not 0%", 6, 6, map[string]int64{"unsupported": 6}, "n/a (6 unsupported)"},
		{"mixed: the rate leaves unsupported out", 10109, 111, map[string]int64{"unsupported": 109, "timeout": 2}, "2 (0.02%) + 109 unsupported"},
		{"some unsupported, the rest succeeded", 200, 109, map[string]int64{"unsupported": 109}, "0 + 109 unsupported"},
		{"every op failed otherwise", 5, 5, map[string]int64{"connection_refused": 5}, "5 (100.00%)"},
		{"nothing finished", 0, 0, nil, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := errorsCell(tc.count, tc.errors, tc.classes, errorRate(tc.count, tc.errors, tc.classes))
			if got != tc.want {
				t.Errorf("errorsCell(%d, %d, %v) = %q, want %q", tc.count, tc.errors, tc.classes, got, tc.want)
			}
		})
	}
}

// cellsResult has a kind the target cannot do at all (consolidation), a
// kind with unsupported ops and a few real errors (recall_by_cue), a kind
// where every op failed (forget) and a plain one (store).
func cellsResult() *Result {
	op := func(count, errors int64, classes map[string]int64, p50 int64) OpStats {
		s := OpStats{Count: count, Errors: errors, ErrorsByClass: classes, ErrorRate: errorRate(count, errors, classes), Throughput: float64(count) / 10}
		if count > errors {
			s.Latency = Percentiles{P50: p50, P90: 2 * p50, P99: 3 * p50, P999: 4 * p50, Max: 5 * p50}
			s.Service = s.Latency
		}
		return s
	}
	r := &Result{Schema: Schema, Scenario: "cells", Driver: "postgres", Verdict: VerdictPass, DurationS: 10, Ops: map[string]OpStats{
		"consolidation": op(6, 6, map[string]int64{"unsupported": 6}, 0),
		"recall_by_cue": op(10109, 111, map[string]int64{"unsupported": 109, "timeout": 2}, 2_000_000),
		"forget":        op(5, 5, map[string]int64{"connection_refused": 5}, 0),
		"store":         op(23000, 0, nil, 1_000_000),
	}}
	r.Total = op(33120, 122, map[string]int64{"unsupported": 115, "timeout": 2, "connection_refused": 5}, 1_500_000)
	g := GroupStats{Count: 6, Errors: 6, ErrorsByClass: map[string]int64{"unsupported": 6}}
	r.Phases = []PhaseResult{{Name: "consolidate", EndS: 10, BreakdownGroup: BreakdownGroup{Total: g}}}
	return r
}

// wantCells are the errors and p50 cells of cellsResult's rows, the same in
// every format.
var wantCells = []struct{ row, p50, errors string }{
	{"consolidation", "-", "n/a (6 unsupported)"},
	{"forget", "-", "5 (100.00%)"},
	{"recall_by_cue", "2.00ms", "2 (0.02%) + 109 unsupported"},
	{"store", "1.00ms", "0"},
	{"total", "1.50ms", "7 (0.02%) + 115 unsupported"},
}

// TestOpTableCells: every format prints the errors that count with their
// rate and unsupported ops apart, and "-", not 0ns, for the latency of a
// kind where no op succeeded.
func TestOpTableCells(t *testing.T) {
	r := cellsResult()
	render := func(format string) string {
		t.Helper()
		var b bytes.Buffer
		if err := Render(format, &b, r); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, f := range []struct {
		format string
		// cells returns the cells of the row named name.
		cells func(out, name string) []string
		// p50, errs index the cells.
		p50, errs int
		// notes must appear.
		notes []string
	}{
		{"text", func(out, name string) []string {
			for _, l := range strings.Split(out, "\n") {
				if c := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1); c[0] == name {
					return c
				}
			}
			return nil
		}, 3, 8, []string{"- where none succeeded", "consolidation unsupported by the target × 6 (a capability gap, not a load error)"}},
		{"md", func(out, name string) []string {
			for _, l := range strings.Split(out, "\n") {
				if c := strings.Split(strings.Trim(l, "| "), " | "); strings.Trim(c[0], "`*") == name {
					return c
				}
			}
			return nil
		}, 3, 7, []string{"(`-` where none succeeded)", unsupportedNote}},
		{"html", func(out, name string) []string {
			for _, m := range regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`).FindAllStringSubmatch(out, -1) {
				var c []string
				for _, td := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(m[1], -1) {
					c = append(c, html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(td[1], "")))
				}
				if len(c) == 11 && c[0] == name {
					return c
				}
			}
			return nil
		}, 3, 9, []string{"(- where none succeeded)", unsupportedNote, "consolidation unsupported by the target × 6 (a capability gap, not a load error)"}},
	} {
		t.Run(f.format, func(t *testing.T) {
			out := render(f.format)
			for _, w := range wantCells {
				c := f.cells(out, w.row)
				if len(c) <= f.errs {
					t.Errorf("no row %s in:\n%s", w.row, out)
					continue
				}
				if c[f.p50] != w.p50 || c[f.errs] != w.errors {
					t.Errorf("row %s: p50 %q, errors %q; want %q, %q (cells %q)", w.row, c[f.p50], c[f.errs], w.p50, w.errors, c)
				}
				for _, v := range c {
					if v == "0ns" {
						t.Errorf("row %s: a latency reads 0ns (cells %q)", w.row, c)
					}
				}
			}
			plain := html.UnescapeString(out)
			for _, n := range f.notes {
				if !strings.Contains(plain, n) {
					t.Errorf("lacks %q", n)
				}
			}
		})
	}
	t.Run("text phase table", func(t *testing.T) {
		out := render("text")
		if !regexp.MustCompile(`consolidate\s+0\.0s\s+10\.0s\s+0\.0\s+0\.0\s+6\s+-\s+-\s+-\s+-\s+n/a \(6 unsupported\)\s+-`).MatchString(out) {
			t.Errorf("phase row wants - latencies and n/a (6 unsupported):\n%s", out)
		}
	})
	t.Run("html errors card", func(t *testing.T) {
		out := html.UnescapeString(render("html"))
		if !strings.Contains(out, `<div class="value">0.02%</div><div class="sub">7 failed + 115 unsupported</div>`) {
			i := strings.Index(out, "errors</div>")
			t.Errorf("errors card: %.200s", out[max(i, 0):])
		}
	})
}

func TestErrorsCard(t *testing.T) {
	for _, tc := range []struct {
		name              string
		s                 OpStats
		value, sub, class string
	}{
		{"clean", OpStats{Count: 100}, "0.00%", "0 failed", "good"},
		{"unsupported only is no warning", OpStats{Count: 100, Errors: 6, ErrorsByClass: map[string]int64{"unsupported": 6}}, "0.00%", "0 failed + 6 unsupported", "good"},
		{"every op unsupported", OpStats{Count: 6, Errors: 6, ErrorsByClass: map[string]int64{"unsupported": 6}}, "n/a", "6 unsupported", "good"},
		{"mixed", OpStats{Count: 10109, Errors: 111, ErrorsByClass: map[string]int64{"unsupported": 109, "timeout": 2}, ErrorRate: errorRate(10109, 111, map[string]int64{"unsupported": 109, "timeout": 2})}, "0.02%", "2 failed + 109 unsupported", "warn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := errorsCard(tc.s)
			if c.Value != tc.value || c.Sub != tc.sub || c.Class != tc.class {
				t.Errorf("errorsCard = %q / %q / %q, want %q / %q / %q", c.Value, c.Sub, c.Class, tc.value, tc.sub, tc.class)
			}
		})
	}
}
