package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/chaos/netproxy"
	"github.com/engram-bench/engram-bench/reports"
)

// ErrInjected is the error of injected I/O failures (see disk.ErrInjected):
// errors.Is tells them from real ones.
var ErrInjected = disk.ErrInjected

// ErrGone, wrapped by a Timeline's health probe, says the target will not
// answer again (an in-process engine closed at the end of the run): the wait
// for its recovery ends at once instead of at the timeout.
var ErrGone = errors.New("target gone")

// Fault is one injected fault: Inject starts it, Heal ends it. Both may
// block while they work (a restart waits for the server to answer) and
// must be safe to call once each, in that order.
type Fault interface {
	fmt.Stringer
	Inject(ctx context.Context) error
	Heal(ctx context.Context) error
}

// Process is a server process the harness owns (systems.Engramd is one).
type Process interface {
	Kill() error
	Pause() error
	Resume() error
	Restart(ctx context.Context) (time.Duration, error)
	Stop(ctx context.Context, grace time.Duration) error
	Running() bool
	DataDir() string
	URL() string
}

// DiskSwitch sets and clears the disk fault under the engine: engramd's
// admin endpoint (disk.Remote) or an in-process disk.FS.
type DiskSwitch interface {
	Set(ctx context.Context, s disk.Spec) error
	Clear(ctx context.Context) error
}

// RemoteDisk switches the disk faults of an engramd started with --admin.
type RemoteDisk struct{ URL, APIKey string }

// Set implements DiskSwitch.
func (r RemoteDisk) Set(ctx context.Context, s disk.Spec) error {
	return disk.Remote(ctx, r.URL, r.APIKey, &s)
}

// Clear implements DiskSwitch.
func (r RemoteDisk) Clear(ctx context.Context) error { return disk.Remote(ctx, r.URL, r.APIKey, nil) }

// LocalDisk switches an in-process disk.FS (the embedded driver's).
type LocalDisk struct{ FS *disk.FS }

// Set implements DiskSwitch.
func (l LocalDisk) Set(_ context.Context, s disk.Spec) error { l.FS.Set(s); return nil }

// Clear implements DiskSwitch.
func (l LocalDisk) Clear(context.Context) error { l.FS.Clear(); return nil }

// Env is what faults act on. A fault kind needs some of it (Kind.Needs);
// building a fault whose needs are missing is an error that says so.
type Env struct {
	// Process is the target's server process, owned by the harness.
	Process Process
	// Proxy sits between the driver and the target.
	Proxy *netproxy.Proxy
	// Disk switches disk faults under the target's engine.
	Disk DiskSwitch
	// Helper is the argv prefix that runs resource.Main (ballast, spinners).
	Helper []string
	// Herd sends n requests at once on fresh connections to the proxy's
	// address and reports what they met (thundering herd).
	Herd func(ctx context.Context, n int) *reports.HerdStats
	// HerdDone receives a herd fault's stats (fault is its schedule index).
	HerdDone func(fault int, hs *reports.HerdStats)
	// Note records what a fault did ("restarted in 1.2s"), for the result.
	Note func(fault int, format string, args ...any)
	// Seed makes probabilistic faults repeatable.
	Seed uint64
	// MaxBallast caps a ballast's size in bytes (0: half the memory
	// available when the fault starts).
	MaxBallast int64
}

// Needs are what a fault kind acts on.
type Needs uint8

// Needs.
const (
	NeedsProcess Needs = 1 << iota
	NeedsProxy
	NeedsDisk
	NeedsHelper
	NeedsHerd
)

func (n Needs) String() string {
	var s []string
	for _, x := range []struct {
		n    Needs
		name string
	}{{NeedsProcess, "an engramd the harness owns"}, {NeedsProxy, "a proxy in front of the target"}, {NeedsDisk, "a switchable disk under the engine"}, {NeedsHelper, "helper processes"}, {NeedsHerd, "a herd client"}} {
		if n&x.n != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, ", ")
}

func (e *Env) missing(n Needs) Needs {
	var m Needs
	if n&NeedsProcess != 0 && e.Process == nil {
		m |= NeedsProcess
	}
	if n&NeedsProxy != 0 && e.Proxy == nil {
		m |= NeedsProxy
	}
	if n&NeedsDisk != 0 && e.Disk == nil {
		m |= NeedsDisk
	}
	if n&NeedsHelper != 0 && len(e.Helper) == 0 {
		m |= NeedsHelper
	}
	if n&NeedsHerd != 0 && e.Herd == nil {
		m |= NeedsHerd
	}
	return m
}

func (e *Env) note(i int, format string, args ...any) {
	if e.Note != nil {
		e.Note(i, format, args...)
	}
}

// Param is one parameter of a fault kind.
type Param struct {
	Name    string
	Default string // "" = required
	Help    string
	// Check validates a value (nil: any).
	Check func(v string) error
}

// Kind is a registered fault kind.
type Kind struct {
	Name  string
	Class string // network, process, disk, data, resources, herd
	Help  string
	// Duration: "required" (a window), "none" (instant) or "optional".
	Duration string
	Params   []Param
	Needs    Needs
	// New builds the fault of spec s (validated) for env; i is its index
	// in the schedule (for notes).
	New func(s Spec, p Params, env *Env, i int) (Fault, error)
	// LossAllowed is set for faults that destroy stored data on purpose.
	LossAllowed bool
}

// Params are a spec's parameters with the kind's defaults filled in.
type Params map[string]string

// Duration reads a duration parameter (validated already).
func (p Params) Duration(k string) time.Duration { d, _ := time.ParseDuration(p[k]); return d }

// Float reads a number parameter.
func (p Params) Float(k string) float64 { f, _ := strconv.ParseFloat(p[k], 64); return f }

// Int reads an integer parameter.
func (p Params) Int(k string) int { n, _ := strconv.Atoi(p[k]); return n }

// Bytes reads a size parameter ("512MiB", "1GiB", "1000").
func (p Params) Bytes(k string) int64 { n, _ := ParseBytes(p[k]); return n }

var kinds = map[string]*Kind{}

// register adds a kind; a duplicate panics.
func register(k *Kind) {
	if _, dup := kinds[k.Name]; dup {
		panic("chaos: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Kinds lists the fault kinds, by class then name.
func Kinds() []*Kind {
	out := make([]*Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Class != out[b].Class {
			return out[a].Class < out[b].Class
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// LookupKind returns the kind called name.
func LookupKind(name string) (*Kind, bool) { k, ok := kinds[name]; return k, ok }

// SpecError is a problem with one fault of a schedule. Key is the field
// ("kind", "at", "duration", "params.latency").
type SpecError struct {
	Index int
	Key   string
	Value string
	Msg   string
}

func (e *SpecError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s: %s, got %q", e.Key, e.Msg, e.Value)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Msg)
}

// Validate checks s against its kind and returns its parameters with
// defaults filled in.
func Validate(s Spec) (*Kind, Params, error) {
	k, ok := kinds[s.Kind]
	if !ok {
		var names []string
		for _, k := range Kinds() {
			names = append(names, k.Name)
		}
		return nil, nil, &SpecError{Key: "kind", Value: s.Kind, Msg: "unknown fault kind (have " + strings.Join(names, ", ") + ")"}
	}
	switch {
	case k.Duration == "required" && s.Duration <= 0:
		return nil, nil, &SpecError{Key: "duration", Msg: "a " + k.Name + " fault needs a duration > 0"}
	case k.Duration == "none" && s.Duration > 0:
		return nil, nil, &SpecError{Key: "duration", Value: s.Duration.String(), Msg: "a " + k.Name + " fault is instant: leave duration out"}
	}
	p := Params{}
	known := map[string]bool{}
	for _, d := range k.Params {
		known[d.Name] = true
		v, ok := s.Params[d.Name]
		if !ok {
			if d.Default == "" {
				return nil, nil, &SpecError{Key: "params." + d.Name, Msg: "required by " + k.Name}
			}
			v = d.Default
		}
		if d.Check != nil {
			if err := d.Check(v); err != nil {
				return nil, nil, &SpecError{Key: "params." + d.Name, Value: v, Msg: err.Error()}
			}
		}
		p[d.Name] = v
	}
	for name, v := range s.Params {
		if !known[name] {
			var have []string
			for _, d := range k.Params {
				have = append(have, d.Name)
			}
			return nil, nil, &SpecError{Key: "params." + name, Value: v, Msg: fmt.Sprintf("unknown parameter of %s (have %s)", k.Name, strings.Join(have, ", "))}
		}
	}
	return k, p, nil
}

// Build validates s and builds its fault for env.
func Build(s Spec, env *Env, i int) (Fault, *Kind, error) {
	k, p, err := Validate(s)
	if err != nil {
		return nil, nil, err
	}
	if m := env.missing(k.Needs); m != 0 {
		return nil, k, fmt.Errorf("fault %s needs %s, which this run does not have", s.Kind, m)
	}
	f, err := k.New(s, p, env, i)
	return f, k, err
}

// ParseBytes reads a size: a number with an optional unit B, KiB, MiB,
// GiB (or KB, MB, GB as powers of 1000).
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult > 1<<40 {
		return 0, fmt.Errorf("want a size such as 512MiB or 1GiB, up to 1TiB")
	}
	return int64(f * mult), nil
}
