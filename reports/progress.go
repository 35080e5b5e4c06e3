package reports

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress prints one status line per interval: elapsed/total, achieved vs
// target rate, per-op p99 over the interval, error %, in-flight and lag. On a
// terminal it rewrites one line in place; elsewhere (CI logs) it prints plain
// timestamped lines with no control codes.
type Progress struct {
	W          io.Writer
	TTY        bool
	Total      time.Duration // measured window
	TargetRate float64
	Names      []string
	// Width truncates the terminal line to this many columns (0: no limit),
	// so that it never wraps and breaks the in-place update.
	Width  int
	Now    func() time.Time // for tests; default time.Now
	wrote  bool
	origin int64
}

// Tick implements a Live callback.
func (p *Progress) Tick(t Tick) {
	line := p.Line(t)
	if p.TTY {
		line = p.bar(t) + " " + line
		if p.Width > 1 {
			if r := []rune(line); len(r) > p.Width-1 {
				line = string(r[:p.Width-2]) + "…"
			}
		}
		fmt.Fprintf(p.W, "\r\x1b[2K%s", line)
		p.wrote = true
		return
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	fmt.Fprintf(p.W, "%s %s\n", now().UTC().Format("2006-01-02T15:04:05Z"), line)
}

// bar draws how much of the measured window is done, 16 cells wide.
func (p *Progress) bar(t Tick) string {
	frac := 0.0
	if p.Total > 0 {
		frac = min(float64(t.End-p.origin)/float64(p.Total), 1)
	}
	n := int(frac*16 + 0.5)
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", 16-n) + "]"
}

// Done ends the in-place line on a terminal.
func (p *Progress) Done() {
	if p.TTY && p.wrote {
		fmt.Fprintln(p.W)
	}
}

// Line renders the status of one interval.
func (p *Progress) Line(t Tick) string {
	var b strings.Builder
	if t.Index == 0 {
		p.origin = t.Start
	}
	secs := float64(t.End-t.Start) / 1e9
	var count, errs int64
	for i := range t.Delta.Ops {
		count += t.Delta.Ops[i].Count
		errs += t.Delta.Ops[i].ErrorCount()
	}
	rate := 0.0
	if secs > 0 {
		rate = float64(count) / secs
	}
	fmt.Fprintf(&b, "[%s/%s] %.0f ops/s (target %.0f)", fmtSecs(float64(t.End-p.origin)/1e9), fmtSecs(p.Total.Seconds()), rate, p.TargetRate)
	for i := range t.Delta.Ops {
		o := &t.Delta.Ops[i]
		if o.Latency.TotalCount() == 0 {
			continue
		}
		name := fmt.Sprint(i)
		if i < len(p.Names) {
			name = p.Names[i]
		}
		fmt.Fprintf(&b, " · %s p99 %s", name, FormatNs(o.Latency.ValueAtQuantile(99)))
	}
	errPct := 0.0
	if count > 0 {
		errPct = 100 * float64(errs) / float64(count)
	}
	lag := int64(0)
	if t.Delta.Lag.TotalCount() > 0 {
		lag = t.Delta.Lag.ValueAtQuantile(99)
	}
	fmt.Fprintf(&b, " · err %.2f%% · in-flight %d · lag p99 %s", errPct, t.InFlight, FormatNs(lag))
	return b.String()
}

func fmtSecs(s float64) string { return fmt.Sprintf("%.0fs", s) }
