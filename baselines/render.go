package baselines

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/perf/benchunit"
)

// commonParts splits benchmark names into the key=value parts every row
// shares (shown once) and the rest (shown per row).
func commonParts(names []string) (common []string, short map[string]string) {
	short = map[string]string{}
	if len(names) == 0 {
		return nil, short
	}
	// A package every row shares ("pkg:Name") is shown once.
	if pkg, _, ok := strings.Cut(names[0], ":"); ok && strings.ContainsAny(pkg, "./") {
		all := true
		for _, n := range names {
			if !strings.HasPrefix(n, pkg+":") {
				all = false
				break
			}
		}
		if all {
			stripped := make([]string, len(names))
			for i, n := range names {
				stripped[i] = n[len(pkg)+1:]
			}
			common, sub := commonParts(stripped)
			for i, n := range names {
				short[n] = sub[stripped[i]]
			}
			return append([]string{"pkg=" + pkg}, common...), short
		}
	}
	split := func(n string) []string { return strings.Split(n, "/") }
	first := split(names[0])
	counts := map[string]int{}
	uniq := map[string]bool{}
	for _, n := range names {
		if uniq[n] {
			continue
		}
		uniq[n] = true
		seen := map[string]bool{}
		for _, p := range split(n) {
			if !seen[p] {
				seen[p] = true
				counts[p]++
			}
		}
	}
	isCommon := map[string]bool{}
	if len(uniq) > 1 {
		for _, p := range first {
			if counts[p] == len(uniq) && strings.Contains(p, "=") {
				isCommon[p] = true
				common = append(common, p)
			}
		}
	}
	for n := range uniq {
		var keep []string
		for _, p := range split(n) {
			if !isCommon[p] {
				keep = append(keep, p)
			}
		}
		short[n] = strings.Join(keep, "/")
	}
	return common, short
}

func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return benchunit.Scale(v, benchunit.ClassOf(unit))
}

func fmtCell(c *Cell, unit string) string {
	if c == nil {
		return "-"
	}
	return fmtValue(c.Summary.Center, unit) + " ± " + c.Summary.PctRangeString()
}

func fmtP(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return fmt.Sprintf("%.3f", p)
}

// table is a simple aligned text table.
type table struct {
	rows  [][]string
	right []bool
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, indent string) {
	width := map[int]int{}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(t.right) && t.right[i] {
				b.WriteString(pad + c)
			} else if i == len(r)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;").Replace(s)
}

func (t *table) markdown(w io.Writer) {
	for i, r := range t.rows {
		cells := make([]string, len(r))
		for j, c := range r {
			cells[j] = mdEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		if i == 0 {
			seps := make([]string, len(r))
			for j := range seps {
				seps[j] = "---"
				if j < len(t.right) && t.right[j] {
					seps[j] = "---:"
				}
			}
			fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
		}
	}
}

func rowNames(rows []Row) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].Benchmark
	}
	return out
}

// WriteText writes the comparison as benchstat-style text: one table per
// unit, each column's median ± confidence interval, and each column's change
// against the first with its p-value ("~" when not significant).
func (c *Comparison) WriteText(w io.Writer) error {
	return c.write(w, false)
}

// WriteMarkdown writes the comparison as GitHub-flavoured Markdown tables.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	return c.write(w, true)
}

func (c *Comparison) write(w io.Writer, md bool) error {
	common, short := commonParts(rowNames(c.Rows))
	for i, s := range c.Sets {
		fmt.Fprintf(w, "%s%s: %s (%s)\n", bullet(md), label(i), s.Label, runsOf(s))
	}
	if len(common) > 0 {
		fmt.Fprintf(w, "%sbenchmarks: %s\n", bullet(md), strings.Join(common, " "))
	}
	fmt.Fprintf(w, "%smedians ± %.0f%% confidence interval; change vs %s where significant (Mann-Whitney U, alpha %g), else ~\n", bullet(md), 100*c.Confidence, c.Labels[0], c.Alpha)
	for _, u := range c.Units {
		t := &table{right: []bool{false}}
		head := []string{u}
		for i, l := range c.Labels {
			head = append(head, l)
			t.right = append(t.right, true)
			if i > 0 {
				head = append(head, "vs "+c.Labels[0])
				t.right = append(t.right, true)
			}
		}
		t.add(head...)
		for _, r := range c.Rows {
			if r.Unit != u {
				continue
			}
			cells := []string{short[r.Benchmark]}
			for i, cell := range r.Cells {
				cells = append(cells, fmtCell(cell, u))
				if i > 0 {
					d := r.Deltas[i-1]
					if d == nil {
						cells = append(cells, "-")
					} else {
						cells = append(cells, fmt.Sprintf("%s (p=%.3f n=%s)", d.Text, d.P, nPair(r.Cells[0], cell)))
					}
				}
			}
			t.add(cells...)
		}
		fmt.Fprintln(w)
		if md {
			t.markdown(w)
		} else {
			t.write(w, "")
		}
	}
	c.writeEnv(w, md)
	return nil
}

func (c *Comparison) writeEnv(w io.Writer, md bool) {
	var lines []string
	for i, diffs := range c.Env {
		for _, d := range diffs {
			tag := "note"
			if d.Loud {
				tag = "WARNING"
			}
			lines = append(lines, fmt.Sprintf("%s: %s differs: %s (%s) vs %s (%s)", tag, d.Field, strings.Join(d.Old, " | "), c.Labels[0], strings.Join(d.New, " | "), c.Labels[i+1]))
		}
	}
	lines = append(lines, c.Notes...)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintf(w, "%s%s\n", bullet(md), l)
	}
}

func bullet(md bool) string {
	if md {
		return "- "
	}
	return ""
}

func label(i int) string {
	if i == 0 {
		return "base"
	}
	return fmt.Sprintf("column %d", i+1)
}

func runsOf(s *Set) string {
	n := 0
	for _, f := range s.Fingerprints {
		n += f.Runs
	}
	files := fmt.Sprintf("%d files", len(s.Files))
	if len(s.Files) == 1 {
		files = "1 file"
	}
	return fmt.Sprintf("%s, %d runs", files, n)
}

func nPair(a, b *Cell) string {
	if a.N() == b.N() {
		return fmt.Sprint(a.N())
	}
	return fmt.Sprintf("%d+%d", a.N(), b.N())
}

// WriteText writes the gate's verdict: the outcome and why, the gated
// metrics with their medians, change, p and q values, limits and status,
// then warnings.
func (v *Verdict) WriteText(w io.Writer, all bool) error {
	return v.write(w, false, all)
}

// WriteMarkdown writes the verdict as GitHub-flavoured Markdown for a pull
// request comment or a job summary.
func (v *Verdict) WriteMarkdown(w io.Writer, all bool) error {
	return v.write(w, true, all)
}

func (v *Verdict) write(w io.Writer, md, all bool) error {
	c := v.Cmp
	var fails, warns int
	for _, ck := range v.Checks {
		switch ck.Status {
		case StatusFail:
			fails++
		case StatusWarn:
			warns++
		}
	}
	head := fmt.Sprintf("engram-bench gate: %s", v.Outcome)
	switch v.Outcome {
	case Regression:
		head += fmt.Sprintf(" — %d regression(s) past the failure limit", fails)
	case Inconclusive:
		head += " — cannot tell"
	case Pass:
		head += " — no significant regression past the failure limits"
	}
	if warns > 0 {
		head += fmt.Sprintf(", %d warning(s)", warns)
	}
	if md {
		fmt.Fprintf(w, "### %s\n\n", head)
	} else {
		fmt.Fprintln(w, head)
	}
	fmt.Fprintf(w, "%sbaseline: %s (%s); current: %s (%s)\n", bullet(md), c.Sets[0].Label, runsOf(c.Sets[0]), c.Sets[1].Label, runsOf(c.Sets[1]))
	fmt.Fprintf(w, "%spolicy: %s; Mann-Whitney U per metric, Benjamini-Hochberg over %d gated metrics at alpha %g\n", bullet(md), v.Policy.Source, v.Gated, v.Policy.Alpha)
	common, short := commonParts(rowNames(c.Rows))
	if len(common) > 0 {
		fmt.Fprintf(w, "%sbenchmarks: %s\n", bullet(md), strings.Join(common, " "))
	}
	if len(v.Reasons) > 0 {
		fmt.Fprintln(w)
		if md {
			fmt.Fprintln(w, "**Why:**")
			fmt.Fprintln(w)
		} else {
			fmt.Fprintln(w, "why:")
		}
		for _, r := range v.Reasons {
			fmt.Fprintf(w, "%s%s\n", pick(md, "- ", "  "), r)
		}
	}
	t := &table{right: []bool{false, false, true, true, true, true, true, true, false}}
	t.add("benchmark", "metric", "baseline", "current", "change", "p", "q", "limit", "status")
	for _, ck := range v.Checks {
		if !ck.Limits.Gated && !all {
			continue
		}
		r := ck.Row
		change := "-"
		if d := r.Deltas[0]; d != nil {
			change = fmt.Sprintf("%+.1f%%", 100*d.Change)
			if math.IsNaN(d.Change) {
				change = "?"
			}
		}
		status := string(ck.Status)
		if status == "" {
			status = "(not gated)"
		}
		t.add(short[r.Benchmark], r.Unit, fmtCell(r.Cells[0], r.Unit), fmtCell(r.Cells[1], r.Unit), change, fmtP(ck.P), fmtP(ck.Q), ck.Limits.String(), status)
	}
	fmt.Fprintln(w)
	if md {
		t.markdown(w)
	} else {
		t.write(w, "")
	}
	if len(v.Warnings) > 0 {
		fmt.Fprintln(w)
		if md {
			fmt.Fprintln(w, "**Warnings:**")
			fmt.Fprintln(w)
		} else {
			fmt.Fprintln(w, "warnings:")
		}
		for _, s := range v.Warnings {
			fmt.Fprintf(w, "%s%s\n", pick(md, "- ", "  "), s)
		}
	}
	fmt.Fprintln(w)
	legend := "change = current/baseline median − 1; limit = warn/fail tolerance; q = Benjamini-Hochberg adjusted p; a metric fails when q ≤ alpha and it is worse than its fail limit"
	if md {
		fmt.Fprintf(w, "<sub>%s</sub>\n", legend)
	} else {
		fmt.Fprintln(w, legend)
	}
	return nil
}

func pick(md bool, a, b string) string {
	if md {
		return a
	}
	return b
}
