package engine

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned when a memory, belief or space does not exist.
	ErrNotFound = errors.New("engine: not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("engine: store closed")
	// ErrCorrupt wraps every checksum or format failure of stored data.
	ErrCorrupt = errors.New("engine: corrupt record")
	// ErrFailed is returned by every method once storage failed fatally (a
	// failed WAL sync, say): the store must be closed and opened again.
	ErrFailed = errors.New("engine: storage failed")
)

// ValidationError reports bad input: which field, which value, and why.
type ValidationError struct {
	Field  string // e.g. "embedding", "confidence", "content", "space"
	Value  string // the offending value, shortened
	Reason string
}

// Error implements error: "invalid <field> <value>: <reason>".
func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("invalid %s %s: %s", e.Field, e.Value, e.Reason)
}

func invalid(field, value, format string, args ...any) error {
	if len(value) > 64 {
		value = value[:61] + "..."
	}
	return &ValidationError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}
