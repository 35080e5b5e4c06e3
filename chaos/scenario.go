package chaos

import (
	"errors"
	"fmt"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// FromScenario returns the scenario's fault schedule (nil when [chaos] is
// not enabled), every fault validated against its kind; measured is the
// scenario's measured length, which every fault must end within. Errors
// are *workloads.SpecError naming the file, line and key.
func FromScenario(sc *workloads.Scenario, measured time.Duration) ([]Spec, error) {
	if !sc.Chaos.Enabled {
		return nil, nil
	}
	var out []Spec
	for i, f := range sc.Chaos.Faults {
		s := Spec{Kind: f.Kind, At: f.AtDuration(), Duration: f.DurationValue(), Params: f.ParamStrings()}
		fail := func(key string, value any, msg string) error {
			return &workloads.SpecError{File: sc.Source, Line: sc.FaultKeyLine(i, key), Key: fmt.Sprintf("chaos.faults[%d].%s", i, key), Value: value, Msg: msg}
		}
		for k, v := range s.Params {
			if err := checkParam(k, v); err != nil {
				return nil, fail("params."+k, v, err.Error())
			}
		}
		if _, _, err := Validate(s); err != nil {
			var se *SpecError
			if errors.As(err, &se) {
				var val any
				if se.Value != "" {
					val = se.Value
				}
				return nil, fail(se.Key, val, se.Msg)
			}
			return nil, fail("kind", nil, err.Error())
		}
		if measured > 0 && s.End() > measured {
			key, val := "at", f.At
			if s.Duration > 0 {
				key, val = "duration", f.Duration
			}
			return nil, fail(key, val, fmt.Sprintf("the fault ends at %s, after the measured run (%s): heal it inside the run", s.End(), measured))
		}
		out = append(out, s)
	}
	return out, nil
}
