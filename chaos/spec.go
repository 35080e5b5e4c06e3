package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Spec is one fault of a schedule: its kind, when it starts (from the start
// of measuring), how long it lasts (0 for an instant fault, such as a kill
// with an immediate restart) and its parameters. In a scenario:
//
//	[[chaos.faults]]
//	kind = "latency"
//	at = "10s"
//	duration = "5s"
//	params = { latency = "200ms", jitter = "20ms" }
//
// Its text form is one line, "latency at=10s duration=5s jitter=20ms
// latency=200ms" (parameters sorted by name), and ParseSpec(s.String())
// returns s.
type Spec struct {
	Kind     string
	At       time.Duration
	Duration time.Duration
	Params   map[string]string
}

// End is when the fault is healed: At + Duration.
func (s Spec) End() time.Duration { return s.At + s.Duration }

// String is the spec's text form.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	fmt.Fprintf(&b, " at=%s", s.At)
	if s.Duration != 0 {
		fmt.Fprintf(&b, " duration=%s", s.Duration)
	}
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, s.Params[k])
	}
	return b.String()
}

// ParseSpec reads a spec's text form: the kind, then at=DURATION, an
// optional duration=DURATION and the kind's parameters as key=value. It
// checks the syntax only; Validate checks the kind and its parameters.
func ParseSpec(text string) (Spec, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return Spec{}, fmt.Errorf("fault: empty (want \"<kind> at=<duration> [duration=<duration>] [key=value ...]\")")
	}
	s := Spec{Kind: f[0]}
	if !validName(s.Kind) {
		return Spec{}, fmt.Errorf("fault %q: kind must be lowercase letters, digits and _", s.Kind)
	}
	haveAt, haveDur := false, false
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return Spec{}, fmt.Errorf("fault %s: %q: want key=value", s.Kind, kv)
		}
		switch k {
		case "at", "duration":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Spec{}, fmt.Errorf("fault %s: %s=%s: want a duration >= 0 (e.g. 30s)", s.Kind, k, v)
			}
			if k == "at" {
				if haveAt {
					return Spec{}, fmt.Errorf("fault %s: at given twice", s.Kind)
				}
				s.At, haveAt = d, true
			} else {
				if haveDur {
					return Spec{}, fmt.Errorf("fault %s: duration given twice", s.Kind)
				}
				s.Duration, haveDur = d, true
			}
		default:
			if err := checkParam(k, v); err != nil {
				return Spec{}, fmt.Errorf("fault %s: %w", s.Kind, err)
			}
			if _, dup := s.Params[k]; dup {
				return Spec{}, fmt.Errorf("fault %s: %s given twice", s.Kind, k)
			}
			if s.Params == nil {
				s.Params = map[string]string{}
			}
			s.Params[k] = v
		}
	}
	if !haveAt {
		return Spec{}, fmt.Errorf("fault %s: at=DURATION is required", s.Kind)
	}
	return s, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// checkParam checks that a parameter survives the text form: a name of
// lowercase letters, digits and _, and a value without spaces or '='.
func checkParam(k, v string) error {
	if !validName(k) || k == "at" || k == "duration" {
		return fmt.Errorf("parameter %q: name must be lowercase letters, digits and _", k)
	}
	bad := v == "" || len(v) > 256 || !utf8.ValidString(v)
	for _, c := range v {
		bad = bad || unicode.IsSpace(c) || c == '=' || c == '"' || !unicode.IsPrint(c)
	}
	if bad {
		return fmt.Errorf("parameter %s=%q: value must be 1-256 printable characters without spaces, quotes or '='", k, v)
	}
	return nil
}
