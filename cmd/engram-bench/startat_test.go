package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseStartAt(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, in string
		want     time.Time
		err      string
	}{
		{"empty: no alignment", "", time.Time{}, ""},
		{"RFC 3339, a minute ahead", "2026-11-27T12:01:00Z", now.Add(time.Minute), ""},
		{"RFC 3339 with an offset and a fraction", "2026-11-27T13:00:00.25+01:00", now.Add(250 * time.Millisecond), ""},
		{"Unix seconds", "1795780860", now.Add(time.Minute), ""},
		{"Unix seconds with a fraction, exact to the nanosecond", "1795780800.000000001", now.Add(time.Nanosecond), ""},
		{"now is too late", "1795780800", time.Time{}, "has already passed"},
		{"a day and a second ahead", "1795867201", time.Time{}, "more than 24h0m0s ahead (Unix time is in seconds, not milliseconds)"},
		{"Unix milliseconds by mistake", "1795780800000", time.Time{}, "want RFC 3339"},
		{"a word", "soon", time.Time{}, "want RFC 3339 (2026-11-26T12:00:00Z) or Unix seconds (1795694400)"},
		{"a negative number", "-5", time.Time{}, "want RFC 3339"},
		{"ten fraction digits", "1795780860.0000000001", time.Time{}, "want RFC 3339"},
		{"a bare dot", "1795780860.", time.Time{}, "want RFC 3339"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStartAt(c.in, now)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("parseStartAt(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("parseStartAt(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

// FuzzParseStartAt: no panic; an accepted time lies ahead of now, within a
// day, and reads back the same from its RFC 3339 and Unix forms.
func FuzzParseStartAt(f *testing.F) {
	for _, s := range []string{"", "2026-11-27T12:01:00Z", "1795780860", "1795780860.5", "x", "1e9", "2026-11-27T12:01:00.123456789+05:30", "99999999999.999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseStartAt(s, now)
		if err != nil || s == "" {
			return
		}
		if !got.After(now) || got.Sub(now) > maxStartAhead {
			t.Fatalf("parseStartAt(%q) = %v: not within a day ahead of %v", s, got, now)
		}
		for _, form := range []string{got.UTC().Format(time.RFC3339Nano), fmt.Sprintf("%d.%09d", got.Unix(), got.Nanosecond())} {
			back, err := parseStartAt(form, now)
			if err != nil || !back.Equal(got) {
				t.Fatalf("%q (from %q) reads back as %v, %v; want %v", form, s, back, err, got)
			}
		}
	})
}
