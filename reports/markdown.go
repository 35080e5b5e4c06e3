package reports

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func init() {
	RegisterFormat(FormatMeta{Name: "md", Help: "GitHub-flavoured Markdown summary with PASS/FAIL per target, for PR comments", Render: WriteMarkdown})
}

var verdictMark = map[string]string{VerdictPass: "✅ PASS", VerdictFail: "❌ FAIL", VerdictInvalid: "⚠️ INVALID"}

func passMark(ok bool) string {
	if ok {
		return "✅ PASS"
	}
	return "❌ FAIL"
}

func hypothesisMark(status string) string {
	switch status {
	case HypothesisPass:
		return "✅ PASS"
	case HypothesisFail:
		return "❌ FAIL"
	default:
		return "➖ NOT-RUN"
	}
}

// mdCell escapes text for a table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// WriteMarkdown writes a short GitHub-flavoured summary of r: the verdict,
// each target with PASS/FAIL, per-op latency, the hypothesis tests,
// warnings, and the environment folded away.
func WriteMarkdown(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	v := verdictMark[r.Verdict]
	if v == "" {
		v = strings.ToUpper(r.Verdict)
	}
	fmt.Fprintf(ew, "### engram-bench `%s`: %s\n\n", r.Scenario, v)
	if r.Partial {
		fmt.Fprintf(ew, "> [!WARNING]\n> Interrupted: this result covers only the %s that ran.\n\n", time.Duration(r.DurationS*1e9).Round(time.Millisecond))
	}
	if len(r.Reasons) > 0 {
		fmt.Fprintf(ew, "**Why:** %s\n\n", mdCell(strings.Join(r.Reasons, "; ")))
	}
	rev := r.Env.GitRevision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if r.Env.GitDirty {
		rev += " (dirty)"
	}
	fmt.Fprintf(ew, "driver `%s`", r.Driver)
	if r.Target != "" {
		fmt.Fprintf(ew, " → `%s`", r.Target)
	}
	fmt.Fprintf(ew, " · seed %d · target %s ops/s, achieved %s ops/s over %s · concurrency %d", r.Seed, fmtNum(round3(r.TargetRate)), fmtNum(round3(r.AchievedRate)),
		time.Duration(r.DurationS*1e9).Round(time.Millisecond), r.Concurrency)
	if rev != "" {
		fmt.Fprintf(ew, " · `%s`", rev)
	}
	fmt.Fprint(ew, "\n\n")

	if len(r.Targets) > 0 {
		fmt.Fprintln(ew, "| target | achieved | limit | result |")
		fmt.Fprintln(ew, "|---|---:|---:|:---|")
		for _, t := range r.Targets {
			cmp := "≤"
			if t.Name == "throughput" {
				cmp = "≥"
			}
			fmt.Fprintf(ew, "| %s | %s %s | %s %s %s | %s |\n", mdCell(t.Name), fmtNum(round3(t.Achieved)), t.Unit, cmp, fmtNum(t.Target), t.Unit, passMark(t.Pass))
		}
		fmt.Fprintln(ew)
	}

	fmt.Fprintln(ew, "| op | count | ops/s | p50 | p99 | p99.9 | max | errors | recall@10 |")
	fmt.Fprintln(ew, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	row := func(name string, s OpStats) {
		fmt.Fprintf(ew, "| %s | %d | %.1f | %s | %s | %s | %s | %s | %s |\n", name, s.Count, s.Throughput,
			opLatency(s, s.Latency.P50), opLatency(s, s.Latency.P99), opLatency(s, s.Latency.P999), opLatency(s, s.Latency.Max), mdCell(opErrors(s)), fractionCell(s.RecallAt10))
	}
	for _, n := range r.OpNames() {
		row("`"+n+"`", r.Ops[n])
	}
	row("**total**", r.Total)
	fmt.Fprintln(ew)
	noneOK, unsup := tableMarks(r)
	fmt.Fprint(ew, "Latency is end − intended start of successful ops")
	if noneOK {
		fmt.Fprint(ew, " (`-` where none succeeded)")
	}
	fmt.Fprint(ew, ". ")
	if unsup {
		fmt.Fprint(ew, unsupportedNote, " ")
	}
	fmt.Fprintf(ew, "Harness: dispatch lag p99 %s, queued %d, cpu %.0f%%",
		FormatNs(r.Harness.LagP99Ns), r.Harness.Queued, r.Harness.CPUPercent)
	if r.Harness.Limited {
		fmt.Fprintf(ew, " — **harness-limited**: %s", mdCell(r.Harness.Reason))
	}
	fmt.Fprint(ew, ".\n\n")

	writeDrillMarkdown(ew, r)
	writeChaosMarkdown(ew, r)
	if len(r.Hypotheses) > 0 {
		fmt.Fprintln(ew, "| hypothesis | claim | result | detail |")
		fmt.Fprintln(ew, "|---|---|:---|---|")
		for _, h := range r.Hypotheses {
			fmt.Fprintf(ew, "| %s %s | %s | %s | %s |\n", h.ID, h.Name, mdCell(h.Claim), hypothesisMark(h.Status), mdCell(h.Detail))
		}
		fmt.Fprintln(ew)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(ew, "> [!NOTE]")
		for _, wm := range r.Warnings {
			fmt.Fprintf(ew, "> - %s\n", mdCell(wm))
		}
		fmt.Fprintln(ew)
	}
	e := r.Env
	fmt.Fprintln(ew, "<details><summary>environment</summary>")
	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "%s, %d cores (GOMAXPROCS %d), %s/%s, kernel %s, %s, started %s\n", mdCell(e.CPUModel), e.Cores, e.GOMAXPROCS, e.OS, e.Arch,
		e.Kernel, e.GoVersion, r.StartedAt.UTC().Format(time.RFC3339))
	fmt.Fprintln(ew)
	fmt.Fprintln(ew, "</details>")
	return ew.err
}
