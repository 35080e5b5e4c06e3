package drivers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/engram-bench/engram-bench/workloads"
)

// Driver executes ops against one system under test.
type Driver interface {
	// Do executes op once and returns nil on success. It must not retry.
	// Errors are classified with Classify. Do must not keep op or its slices.
	Do(ctx context.Context, op *workloads.Op) error
}

// Prober is a driver that can check its target is reachable before a run.
type Prober interface {
	Probe(ctx context.Context) error
}

// Warmer is a driver that opens its connections ahead of the measured
// phase, so that the first ops do not pay for connecting. Execute calls it
// after the preload, just before the schedule starts: a connection opened
// before a long preload and left unused would be closed by many servers
// meanwhile (Go's net/http after its ReadHeaderTimeout, 10 s in engramd),
// and one picked up at the moment the server closes it fails with a reset.
type Warmer interface {
	Warm(ctx context.Context) error
}

// Preloader is a driver that can store many memories at once before measuring.
type Preloader interface {
	// Preload stores the memories of ops (all KindStore, one memory space).
	// When only some were stored it returns a *PreloadError saying how many
	// were not; any other error means none were.
	Preload(ctx context.Context, ops []workloads.Op) error
}

// PreloadError is a Preload that stored some of its memories and not
// Failed of them (a driver that sends a batch in several requests, one of
// which failed). Err is the first failure.
type PreloadError struct {
	Failed int
	Err    error
}

func (e *PreloadError) Error() string {
	return fmt.Sprintf("%d memories not stored: %v", e.Failed, e.Err)
}

func (e *PreloadError) Unwrap() error { return e.Err }

// OpNamer is a driver that does not run the scenario's op kinds but requests
// of its own (the generic HTTP driver). Its results are recorded under
// OpNames (at most 256), it sets op.Kind to the index of each op's name in
// Do, and Execute skips the scenario's preload for it.
type OpNamer interface {
	OpNames() []string
}

// Classed is an error that names its class for the result ("timeout", "4xx").
type Classed interface {
	error
	Class() string
}

// ClassError attaches a class to err.
type ClassError struct {
	Cls string
	Err error
}

func (e *ClassError) Error() string { return e.Cls + ": " + e.Err.Error() }

// Class implements Classed.
func (e *ClassError) Class() string { return e.Cls }

func (e *ClassError) Unwrap() error { return e.Err }

// WithClass wraps err with an error class.
func WithClass(class string, err error) error {
	if err == nil {
		return nil
	}
	return &ClassError{Cls: class, Err: err}
}

// ErrUnsupported is returned (wrapped) for ops a target cannot perform; such
// ops are counted under the class "unsupported".
var ErrUnsupported = errors.New("op not supported by target")

// Classify returns the error class of err: the class of a Classed error in
// its chain, "timeout" for deadline errors, "unsupported", else "error".
func Classify(err error) string {
	var c Classed
	switch {
	case errors.As(err, &c):
		return c.Class()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrUnsupported):
		return "unsupported"
	default:
		return "error"
	}
}

// Config is what a driver is built from. Drivers ignore what they do not use.
type Config struct {
	// DataDir is where an in-process engine keeps its data.
	DataDir string
	// NoSync lets an in-process engine acknowledge before fsync.
	NoSync bool
	// Dim is the embedding dimension.
	Dim int
	// Target is the address of a remote system (e.g. http://127.0.0.1:7432).
	Target string
	// Concurrency is the run's maximum in-flight ops (for connection pools).
	Concurrency int
	// Options holds driver-specific key=value settings.
	Options map[string]string
}

// Meta describes a registered driver.
type Meta struct {
	Name string
	Help string
	New  func(ctx context.Context, cfg Config) (Driver, error)
	// InProcess is set when the system under test lives inside the
	// harness's process (the embedded engine, the null driver): each shard
	// of a sharded run then has a target of its own (see PreloadMode).
	InProcess bool
}

var (
	regMu    sync.RWMutex
	registry = map[string]Meta{}
)

// Register adds a driver. A duplicate name panics.
func Register(m Meta) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[m.Name]; dup {
		panic("drivers: driver " + m.Name + " registered twice")
	}
	registry[m.Name] = m
}

// List returns the registered drivers, sorted by name.
func List() []Meta {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Meta, 0, len(registry))
	for _, m := range registry {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// lookup returns the registered driver called name.
func lookup(name string) (Meta, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	m, ok := registry[name]
	return m, ok
}

// New builds the driver called name.
func New(ctx context.Context, name string, cfg Config) (Driver, error) {
	regMu.RLock()
	m, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		var names []string
		for _, m := range List() {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("unknown driver %q (have %v)", name, names)
	}
	return m.New(ctx, cfg)
}

// Close closes d if it holds resources.
func Close(d Driver) error {
	if c, ok := d.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Describer is a driver that can say, in one line, what it runs against and
// how it serves each op (server version, how search works), for reports
// that compare systems.
type Describer interface {
	Describe() string
}
