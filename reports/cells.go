package reports

import "fmt"

// The errors and latency cells of the per-op tables (text, Markdown and
// HTML, and the text phase and space tables), written here once so that
// every format reads the same.

// classUnsupported is the error class of ops the target cannot do
// (drivers.ErrUnsupported): a capability gap, not a load error.
const classUnsupported = "unsupported"

// errorsCell renders the errors of an op kind (or group) out of count
// finished ops: the errors that count, with rate (ErrorRate, which leaves
// unsupported ops out, see errorRate), then the unsupported ops apart, as
// the comparison table keeps them apart ("n/a", "errors (not n/a)"):
//
//	0                            no op failed
//	3 (0.30%)                    3 ops failed
//	n/a (6 unsupported)          the target could do none of them
//	2 (0.01%) + 109 unsupported  2 failed, 109 were unsupported
//	0 + 109 unsupported          the rest succeeded
func errorsCell(count, errors int64, byClass map[string]int64, rate float64) string {
	u := byClass[classUnsupported]
	n := errors - u
	if u > 0 && u == count {
		return fmt.Sprintf("n/a (%d unsupported)", u)
	}
	s := fmt.Sprint(n)
	if n > 0 {
		s = fmt.Sprintf("%d (%.2f%%)", n, 100*rate)
	}
	if u > 0 {
		s += fmt.Sprintf(" + %d unsupported", u)
	}
	return s
}

// latencyCell renders a latency of ok successful ops: "-" when none
// succeeded (latency is measured on successful ops only, so a zero there
// means "no sample", not "instant").
func latencyCell(ok, ns int64) string {
	if ok <= 0 {
		return "-"
	}
	return FormatNs(ns)
}

// opErrors is errorsCell of an op kind's stats.
func opErrors(s OpStats) string {
	return errorsCell(s.Count, s.Errors, s.ErrorsByClass, s.ErrorRate)
}

// opLatency is latencyCell of one of an op kind's latencies.
func opLatency(s OpStats, ns int64) string {
	return latencyCell(s.Count-s.Errors, ns)
}

// groupErrors is errorsCell of a phase's or space's stats.
func groupErrors(g GroupStats) string {
	return errorsCell(g.Count, g.Errors, g.ErrorsByClass, g.ErrorRate)
}

// groupLatency is latencyCell of one of a phase's or space's latencies.
func groupLatency(g GroupStats, ns int64) string {
	return latencyCell(g.Count-g.Errors, ns)
}

// fractionCell renders a hit rate or recall@10 with three decimals: "-"
// when it is unknown (no op was scored), as a latency cell without a sample.
func fractionCell(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *p)
}

// tableMarks says whether r's per-op table has a kind (or total) where no
// op succeeded (latency cells "-") and one with unsupported ops, so that
// each format explains those cells only when they appear.
func tableMarks(r *Result) (noneOK, unsupported bool) {
	rows := []OpStats{r.Total}
	for _, s := range r.Ops {
		rows = append(rows, s)
	}
	for _, s := range rows {
		noneOK = noneOK || s.Count > 0 && s.Count == s.Errors
		unsupported = unsupported || s.ErrorsByClass[classUnsupported] > 0
	}
	return noneOK, unsupported
}

// unsupportedNote explains the "unsupported" part of an errors cell.
const unsupportedNote = "Ops the target cannot do are counted apart as unsupported and left out of the error rate."
