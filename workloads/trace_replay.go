package workloads

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Replay replays a trace: it is the run's Arrival (op i due at its t_ns ÷
// the rate multiplier) and its op source (op i as recorded), from one
// sequential read of the file, so memory stays constant however long the
// trace. The runner asks for due times in order (NewSequence) and fills ops
// shortly after; Replay keeps the last Window decoded ops for those fills.
//
// Due answers only for ops inside that window (it is not a random-access
// schedule); use NewSequence. A trace that fails mid-read (truncated,
// corrupt) makes Err return the error with its line; the runner then stops
// and the result is marked incomplete. Run ScanTrace first to refuse a bad
// trace before anything runs.
type Replay struct {
	mu     sync.Mutex
	r      *TraceReader
	mult   float64
	window uint64
	ring   []replaySlot
	next   uint64 // ops decoded so far
	err    error
	done   bool
	used   bool
}

type replaySlot struct {
	op  Op
	due time.Duration
}

// NewReplay opens path for replay at rateMultiplier (2 = twice as fast);
// window is how far behind the newest decoded op a fill may ask (the run's
// concurrency × shards, with room to spare).
func NewReplay(path string, rateMultiplier float64, window int) (*Replay, error) {
	if !(rateMultiplier > 0) || math.IsInf(rateMultiplier, 0) {
		return nil, fmt.Errorf("rate multiplier %g: must be > 0", rateMultiplier)
	}
	r, err := OpenTrace(path)
	if err != nil {
		return nil, err
	}
	window = max(window, 64)
	return &Replay{r: r, mult: rateMultiplier, window: uint64(window), ring: make([]replaySlot, window)}, nil
}

// Close closes the trace file.
func (p *Replay) Close() error { return p.r.Close() }

// Header returns the trace's header.
func (p *Replay) Header() TraceHeader { return p.r.Header }

// Err returns the first read error, naming the file and line.
func (p *Replay) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Replay) scale(d time.Duration) time.Duration {
	return time.Duration(math.Round(float64(d) / p.mult))
}

// decode reads the next op into the ring. Called with mu held.
func (p *Replay) decode() {
	if p.done || p.err != nil {
		return
	}
	for {
		s := &p.ring[p.next%p.window]
		kind, due, err := p.r.Next(&s.op)
		switch {
		case err != nil:
			p.err = err
			return
		case kind == TraceEnd:
			p.done = true
			return
		case kind == TracePreload:
			continue // the session loads these with ReadPreload
		}
		s.due = p.scale(due)
		p.next++
		return
	}
}

// Due implements Arrival for ops inside the window (see the type's doc).
func (p *Replay) Due(i uint64) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i >= p.next && !p.done && p.err == nil {
		p.decode()
	}
	if i >= p.next || i+p.window < p.next {
		return NeverDue
	}
	return p.ring[i%p.window].due
}

// Rate implements Arrival: the header's ops over its duration, scaled (0
// when the header does not say).
func (p *Replay) Rate() float64 {
	h := p.r.Header
	if h.Ops == nil || h.DurationNs == nil || *h.DurationNs <= 0 {
		return 0
	}
	return float64(*h.Ops) / (float64(*h.DurationNs) / 1e9) * p.mult
}

func (p *Replay) sequence() Sequence {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used {
		p.err = errors.New("trace replay: a second sequence over one replay")
	}
	p.used = true
	return replaySequence{p}
}

type replaySequence struct{ p *Replay }

// Next decodes the next op and returns its due time (NeverDue after the
// last op or after an error).
func (q replaySequence) Next() time.Duration {
	p := q.p
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.next
	p.decode()
	if p.next == before {
		return NeverDue
	}
	return p.ring[before%p.window].due
}

// Fill copies op i, which the sequence decoded, into op. An op that fell out
// of the window (or was never decoded) is an error reported by Err.
func (p *Replay) Fill(i uint64, op *Op) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= p.next || i+p.window < p.next {
		if p.err == nil {
			p.err = fmt.Errorf("trace replay: op %d asked for outside the decoded window [%d, %d)", i, p.next-min(p.next, p.window), p.next)
		}
		*op = Op{Index: i, Kind: KindRecallByID}
		return
	}
	s := &p.ring[i%p.window]
	buf := op.Embedding
	*op = s.op
	op.Embedding = append(buf[:0], s.op.Embedding...)
}

// ReadPreload calls yield with each preload line of the trace at path, in
// order. It stops at the first op line.
func ReadPreload(path string, yield func(op *Op) error) error {
	r, err := OpenTrace(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var op Op
	for {
		kind, _, err := r.Next(&op)
		if err != nil {
			return err
		}
		if kind != TracePreload {
			return nil
		}
		if err := yield(&op); err != nil {
			return err
		}
	}
}

// TraceTimes is the "trace" arrival pattern: the intended times of a
// recorded trace (÷ rate_multiplier) driving the scenario's own op mix. Each
// Sequence reads the file from the start (its first Next reads past any
// preload section: the runner calls it before its clock starts); Err reports
// a read failure of the last sequence (its Next then returns NeverDue,
// ending the run early). After the trace's last op Next returns NeverDue:
// a run ends with the trace (End), even before its duration is up.
type TraceTimes struct {
	Path string
	Mult float64
	hdr  TraceHeader

	mu  sync.Mutex
	err error

	spanOnce sync.Once
	ops      uint64        // op lines in the trace
	end      time.Duration // End, scaled
}

// End implements Finite: where the trace's schedule ends, scaled by the
// rate multiplier — its recorded window (the header's duration_ns) when that
// reaches past its last op, else just after its last op. The first call reads
// the whole trace once (O(ops)); a trace that fails to read ends nowhere
// (NeverDue) and its error is reported by Err.
func (a *TraceTimes) End() time.Duration {
	a.span()
	return a.end
}

// span counts the trace's ops and finds its end, once (ScanTrace).
func (a *TraceTimes) span() (ops uint64, end time.Duration) {
	a.spanOnce.Do(func() {
		info, err := ScanTrace(a.Path)
		if err != nil {
			a.fail(err)
			a.end = NeverDue
			return
		}
		a.ops, a.end = info.Ops, info.End(a.Mult)
	})
	return a.ops, a.end
}

// countBefore implements the fast path of countDue: every op of the trace is
// due before its End.
func (a *TraceTimes) countBefore(d time.Duration) (uint64, bool) {
	ops, end := a.span()
	if end == NeverDue || d < end {
		return 0, false
	}
	return ops, true
}

func (a *TraceTimes) scale(d time.Duration) time.Duration { return ScaleTraceTime(d, a.Mult) }

// Due implements Arrival by reading the trace up to op i (O(i); the runner
// uses NewSequence, which is O(1) per op).
func (a *TraceTimes) Due(i uint64) time.Duration {
	seq := a.sequence()
	var d time.Duration
	for j := uint64(0); j <= i; j++ {
		d = seq.Next()
	}
	return d
}

// Rate implements Arrival: from the header's ops and duration_ns (0 when it
// does not say).
func (a *TraceTimes) Rate() float64 {
	h := a.hdr
	if h.Ops == nil || h.DurationNs == nil || *h.DurationNs <= 0 {
		return 0
	}
	return float64(*h.Ops) / (float64(*h.DurationNs) / 1e9) * a.Mult
}

// Err returns the read error of the last sequence, if any.
func (a *TraceTimes) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *TraceTimes) fail(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

func (a *TraceTimes) sequence() Sequence {
	r, err := OpenTrace(a.Path)
	if err != nil {
		a.fail(err)
		return &traceTimesSeq{a: a}
	}
	return &traceTimesSeq{a: a, r: r}
}

type traceTimesSeq struct {
	a  *TraceTimes
	r  *TraceReader
	op Op
}

func (s *traceTimesSeq) Next() time.Duration {
	for s.r != nil {
		kind, due, err := s.r.Next(&s.op)
		switch {
		case err != nil:
			s.a.fail(err)
		case kind == TracePreload:
			continue
		case kind == TraceOp:
			return s.a.scale(due)
		}
		s.r.Close()
		s.r = nil
	}
	return NeverDue
}

func init() {
	RegisterArrival(ArrivalMeta{
		Name: "trace",
		Help: "the intended times of a recorded trace (file), sped up by rate_multiplier (default 1)",
		Keys: []string{"file", "rate_multiplier"},
		New: func(s ArrivalSpec, _ uint64) (Arrival, error) {
			if s.File == "" {
				return nil, &SpecError{Key: "arrival.file", Msg: "missing: the trace whose times to follow"}
			}
			m := s.RateMultiplier
			if m == 0 {
				m = 1
			}
			if !(m > 0) || math.IsInf(m, 0) {
				return nil, &SpecError{Key: "arrival.rate_multiplier", Value: s.RateMultiplier, Msg: "must be > 0"}
			}
			r, err := OpenTrace(s.File)
			if err != nil {
				return nil, &SpecError{Key: "arrival.file", Value: s.File, Msg: err.Error(), Err: err}
			}
			r.Close()
			return &TraceTimes{Path: s.File, Mult: m, hdr: r.Header}, nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec {
			if s.RateMultiplier == 0 {
				s.RateMultiplier = 1
			}
			s.RateMultiplier *= f
			return s
		},
	})
}
