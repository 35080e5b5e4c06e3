package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 5, 0, time.UTC) }
	cases := []struct {
		name    string
		tty     bool
		width   int
		want    []string
		notWant []string
	}{
		{"CI log: timestamped lines, no control codes", false, 0,
			[]string{"2026-11-26T12:00:05Z [1s/4s] 400 ops/s (target 400) · store p99 ", " · recall_by_cue p99 ", "err 1.25% · in-flight 0 · lag p99 3.00µs\n", "\n2026-11-26T12:00:05Z [2s/4s]"},
			[]string{"\r", "\x1b", "forget"}},
		{"terminal: one line rewritten in place with a bar", true, 0,
			[]string{"\r\x1b[2K[████░░░░░░░░░░░░] [1s/4s] 400 ops/s", "\r\x1b[2K[████████░░░░░░░░] [2s/4s]"},
			[]string{"\n", "2026-11-26"}},
		{"narrow terminal: cut, never wrapped", true, 40,
			[]string{"…"}, []string{"lag p99"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			p := &Progress{W: &b, TTY: c.tty, Width: c.width, Total: 4 * time.Second, TargetRate: 400, Names: hlogNames, Now: now}
			recordTicks(2, p.Tick)
			out := b.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q in %q", w, out)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(out, w) {
					t.Errorf("has %q in %q", w, out)
				}
			}
			if c.width > 0 {
				for _, line := range strings.Split(out, "\r\x1b[2K") {
					if n := len([]rune(line)); n >= c.width {
						t.Errorf("line of %d runes on a %d-column terminal", n, c.width)
					}
				}
			}
			p.Done()
			if c.tty && !strings.HasSuffix(b.String(), "\n") {
				t.Error("Done left the cursor on the progress line")
			}
		})
	}
}
