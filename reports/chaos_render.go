package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// chaosRow is one fault of a ChaosResult, formatted for the renderers.
type chaosRow struct {
	N, Spec, Class, When       string
	Before, During, After      string // "99.9% · p99 12ms"
	Health, P99, Notes, Errors string
	Failed                     bool
}

func windowCell(w WindowStats) string {
	if w.Count == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.1f%% of %d", 100*w.Availability, w.Count)
	if w.Latency.P99 > 0 {
		s += " · p99 " + FormatNs(w.Latency.P99)
	}
	return s
}

func secsPtr(p *float64) string {
	if p == nil {
		return "never"
	}
	return fmt.Sprintf("%.2fs", *p)
}

func chaosRows(c *ChaosResult) []chaosRow {
	var out []chaosRow
	for i, f := range c.Faults {
		r := chaosRow{N: fmt.Sprint(i + 1), Spec: f.Spec, Class: f.Class, When: fmt.Sprintf("%.1f–%.1fs", f.StartS, f.EndS),
			Before: windowCell(f.Before), During: windowCell(f.During), After: windowCell(f.After), Health: secsPtr(f.RecoverHealthS), P99: secsPtr(f.RecoverP99S)}
		if f.P99TargetMs > 0 && f.RecoverP99S != nil {
			r.P99 += fmt.Sprintf(" (≤ %s ms)", fmtNum(round3(f.P99TargetMs)))
		}
		notes := append([]string(nil), f.Notes...)
		if f.InjectError != "" {
			notes = append(notes, "inject: "+f.InjectError)
			r.Failed = true
		}
		if f.HealError != "" {
			notes = append(notes, "heal: "+f.HealError)
			r.Failed = true
		}
		if f.Restarts > 0 {
			notes = append(notes, fmt.Sprintf("%d supervisor restart(s)", f.Restarts))
		}
		if h := f.Herd; h != nil {
			notes = append(notes, fmt.Sprintf("herd: %d/%d served, p50 %s p99 %s, all done after %.2fs%s", h.OK, h.Clients, FormatNs(h.Latency.P50), FormatNs(h.Latency.P99), h.AllDoneS, classList(h.ErrorsByClass)))
		}
		r.Notes = strings.Join(notes, "; ")
		r.Errors = classList(f.During.ErrorsByClass)
		if r.Notes == "" {
			r.Errors = strings.TrimPrefix(r.Errors, ", ")
		}
		out = append(out, r)
	}
	return out
}

func classList(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s × %d", k, m[k]))
	}
	return ", errors during: " + strings.Join(parts, ", ")
}

func checkLine(c *ChaosResult) string {
	k := c.Check
	if k == nil {
		if c.CheckSkipped != "" {
			return "read-back: not run — " + c.CheckSkipped
		}
		return "read-back: not run"
	}
	s := fmt.Sprintf("read-back of %d writes: %d acknowledged memories — %d intact, %d lost, %d corrupted; %d unexpected; %d indeterminate (%d stored); %d read errors, in %.1fs",
		k.Writes, k.Acknowledged, k.Intact, k.Lost, k.Corrupted, k.Unexpected, k.Indeterminate, k.IndeterminatePresent, k.ReadErrors, k.DurationS)
	if k.LossAllowed && k.Lost > 0 {
		s += " (loss expected: a fault destroyed stored data)"
	}
	return s
}

func budgetLine(b *ErrorBudget) string {
	if b == nil {
		return ""
	}
	state := "within budget"
	if b.Exhausted {
		state = "EXHAUSTED"
	}
	return fmt.Sprintf("error budget %.2f%%: %d of %.0f allowed failed ops spent (%.0f%%) — %s", 100*b.MaxErrorRate, b.Spent, b.Allowed, 100*b.Consumed, state)
}

// writeChaosText writes the chaos section of the text report.
func writeChaosText(w io.Writer, r *Result) {
	c := r.Chaos
	if c == nil {
		return
	}
	fmt.Fprintf(w, "\nchaos: %s — %s\n", strings.ToUpper(c.Verdict), c.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tfault\twhen\tbefore\tduring\tafter\thealth ok\tp99 ok\t")
	for _, row := range chaosRows(c) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.N, row.Spec, row.When, row.Before, row.During, row.After, row.Health, row.P99)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (availability = share of ops intended in the window that succeeded; recovery times from the heal)")
	for _, row := range chaosRows(c) {
		if row.Notes != "" || row.Errors != "" {
			fmt.Fprintf(w, "  %s: %s%s\n", row.N, row.Notes, row.Errors)
		}
	}
	if l := budgetLine(c.ErrorBudget); l != "" {
		fmt.Fprintln(w, "  "+l)
	}
	fmt.Fprintln(w, "  "+checkLine(c))
	if k := c.Check; k != nil {
		for _, ex := range []struct {
			name string
			ids  []string
		}{{"lost", k.LostExamples}, {"corrupted", k.CorruptedExamples}, {"unexpected", k.UnexpectedExamples}} {
			if len(ex.ids) > 0 {
				fmt.Fprintf(w, "  %s, e.g.: %s\n", ex.name, strings.Join(ex.ids, " "))
			}
		}
	}
	for _, reason := range c.Reasons {
		fmt.Fprintln(w, "  FAIL: "+reason)
	}
}

// writeChaosMarkdown writes the chaos section of the Markdown summary.
func writeChaosMarkdown(w io.Writer, r *Result) {
	c := r.Chaos
	if c == nil {
		return
	}
	fmt.Fprintf(w, "**Chaos: %s** — %s\n\n", passMark(c.Verdict == VerdictPass), mdCell(c.Target))
	fmt.Fprintln(w, "| # | fault | when | before | during | after | health ok | p99 ok | notes |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---|")
	for _, row := range chaosRows(c) {
		fmt.Fprintf(w, "| %s | `%s` | %s | %s | %s | %s | %s | %s | %s |\n", row.N, row.Spec, row.When, row.Before, row.During, row.After, row.Health, row.P99, mdCell(row.Notes+row.Errors))
	}
	fmt.Fprintln(w)
	if l := budgetLine(c.ErrorBudget); l != "" {
		fmt.Fprintf(w, "%s. ", mdCell(l))
	}
	fmt.Fprintf(w, "%s.\n\n", mdCell(checkLine(c)))
	for _, reason := range c.Reasons {
		fmt.Fprintf(w, "- ❌ %s\n", mdCell(reason))
	}
	if len(c.Reasons) > 0 {
		fmt.Fprintln(w)
	}
}

// htmlChaos is the chaos section of the HTML report.
type htmlChaos struct {
	C      *ChaosResult
	Rows   []chaosRow
	Budget string
	Check  string
	Pass   bool
}

func buildChaosHTML(r *Result) *htmlChaos {
	if r.Chaos == nil {
		return nil
	}
	return &htmlChaos{C: r.Chaos, Rows: chaosRows(r.Chaos), Budget: budgetLine(r.Chaos.ErrorBudget), Check: checkLine(r.Chaos), Pass: r.Chaos.Verdict == VerdictPass}
}
