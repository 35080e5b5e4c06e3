package capacity

import "fmt"

// FieldError is a config field out of range, as Config, ScalingConfig and
// SizingConfig report it: "start rate NaN: must be > 0 and at most 1e9
// ops/s". Field names the field as a library caller knows it ("start
// rate", "max rate", "warm-up"); a command line maps it to its flag with
// errors.As and writes Value and Reason after the flag instead.
type FieldError struct {
	// Field names the config field ("start rate", "points").
	Field string
	// Value is the value given, formatted ("NaN", "-1", "500ms").
	Value string
	// Reason says what the value must be.
	Reason string
}

// Error is "FIELD VALUE: REASON".
func (e *FieldError) Error() string {
	return e.Field + " " + e.Value + ": " + e.Reason
}

// fieldErr builds a FieldError with value formatted by verb (%g, %d, %s).
func fieldErr(field, verb string, value any, reason string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: fmt.Sprintf(verb, value), Reason: fmt.Sprintf(reason, args...)}
}
