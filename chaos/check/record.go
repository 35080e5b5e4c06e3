package check

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// OutcomeOf classes a driver's answer to a write: nil is Acked; a refusal
// that proves the write was not applied (a 4xx, a 503 overload answer, a
// refused connection, an op the target does not support) is Rejected;
// anything else (timeout, reset, 5xx, a protocol error) is Unknown.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Acked
	}
	switch drivers.Classify(err) {
	case "4xx", "overload", "connection_refused", "unsupported", "not_found":
		return Rejected
	}
	return Unknown
}

// Recorder is a driver that passes every op to another and adds each write
// it sent to a Spill, with its outcome: stores (one memory per member of a
// batch), updates and read-modify-writes as Store with the CRC-32C of the
// content (workloads.Content of the key), forgets as Delete, and preloads.
// Reads pass through untouched.
//
// Concurrency: safe for concurrent use when the wrapped driver is.
type Recorder struct {
	d     drivers.Driver
	spill *Spill
	bufs  sync.Pool
}

var (
	_ drivers.Driver    = (*Recorder)(nil)
	_ drivers.Prober    = (*Recorder)(nil)
	_ drivers.Preloader = (*Recorder)(nil)
)

// Record wraps d so that its writes go to spill. d must not be an
// OpNamer or a FillSkipper (their ops are not the scenario's).
func Record(d drivers.Driver, spill *Spill) (*Recorder, error) {
	if _, ok := d.(drivers.OpNamer); ok {
		return nil, errors.New("record writes: the driver sends requests of its own, not memories")
	}
	if fs, ok := d.(drivers.FillSkipper); ok && fs.SkipsFill() {
		return nil, errors.New("record writes: the driver skips op contents")
	}
	r := &Recorder{d: d, spill: spill}
	r.bufs.New = func() any { b := make([]byte, 0, 96); return &b }
	return r, nil
}

// Unwrap returns the wrapped driver.
func (r *Recorder) Unwrap() drivers.Driver { return r.d }

func (r *Recorder) add(a Action, o Outcome, space string, k workloads.Key) {
	bp := r.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	var sum uint32
	if a == Store {
		b = workloads.AppendContent(b, k)
		sum = Sum(b)
	}
	b = k.AppendID(b[:0])
	r.spill.Add(Write{Action: a, Outcome: o, Space: space, ID: string(b), Sum: sum})
	*bp = b
	r.bufs.Put(bp)
}

// Do implements drivers.Driver.
func (r *Recorder) Do(ctx context.Context, op *workloads.Op) error {
	err := r.d.Do(ctx, op)
	o := OutcomeOf(err)
	if err != nil && ctx.Err() != nil {
		o = Unknown // cut short by the run's own end: the request may have been sent
	}
	r.record(op, o)
	return err
}

func (r *Recorder) record(op *workloads.Op, o Outcome) {
	switch op.Kind {
	case workloads.KindStore, workloads.KindUpdate:
		r.add(Store, o, op.Space, op.Key)
	case workloads.KindReadModify:
		// A failed read (absent, wrong content) sent no write.
		if o != Rejected {
			r.add(Store, o, op.Space, op.Key)
		}
	case workloads.KindStoreBatch:
		for n := 0; n < op.Count; n++ {
			r.add(Store, o, op.Space, workloads.MemberKey(op.Index, n))
		}
	case workloads.KindForget:
		r.add(Delete, o, op.Space, op.Key)
	}
}

// Probe implements drivers.Prober when the wrapped driver does.
func (r *Recorder) Probe(ctx context.Context) error {
	if p, ok := r.d.(drivers.Prober); ok {
		return p.Probe(ctx)
	}
	return nil
}

// Preload implements drivers.Preloader: through the wrapped driver's
// Preload when it has one, else one Do per memory. After a failed batch
// every memory of it is Unknown (part of it may have been stored).
func (r *Recorder) Preload(ctx context.Context, ops []workloads.Op) error {
	p, ok := r.d.(drivers.Preloader)
	if !ok {
		var first error
		for i := range ops {
			if err := r.Do(ctx, &ops[i]); err != nil && first == nil {
				first = fmt.Errorf("preload memory %s: %w", ops[i].Key.ID(), err)
			}
		}
		return first
	}
	err := p.Preload(ctx, ops)
	o := Acked
	if err != nil {
		o = Unknown
	}
	for i := range ops {
		r.add(Store, o, ops[i].Space, ops[i].Key)
	}
	return err
}

// Close closes the wrapped driver (not the spill).
func (r *Recorder) Close() error { return drivers.Close(r.d) }

// Describe implements drivers.Describer when the wrapped driver does.
func (r *Recorder) Describe() string {
	if d, ok := r.d.(drivers.Describer); ok {
		return d.Describe()
	}
	return ""
}
