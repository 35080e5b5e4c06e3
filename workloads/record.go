package workloads

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// RecordOptions configures RecordTrace. The zero value records the whole
// schedule (warm-up and measured window) and the preload.
type RecordOptions struct {
	// NoPreload leaves the preload out of the trace.
	NoPreload bool
	// MaxOps stops after this many ops (0: no limit).
	MaxOps uint64
}

// RecordTrace writes the op stream of sc for seed — its preload, then every
// op due before the end of its schedule with its intended time — as a trace
// to w, and returns what it wrote. Replaying the trace sends the same ops at
// the same times (scaled by the replay's rate multiplier).
func RecordTrace(w io.Writer, sc *Scenario, seed uint64, opt RecordOptions) (TraceInfo, error) {
	sched, err := NewSchedule(sc, seed)
	if err != nil {
		return TraceInfo{}, err
	}
	if sched.Closed != nil {
		return TraceInfo{}, errors.New("a closed-loop scenario has no schedule to record: its ops start when the target answers")
	}
	gen, err := NewGeneratorFor(sc, sched, seed)
	if err != nil {
		return TraceInfo{}, err
	}
	end := sched.Warmup + sched.Measured
	// Count first, so that the header can say how many ops follow.
	var n uint64
	seq := NewSequence(sched)
	var last time.Duration
	for {
		d := seq.Next()
		if d >= end || (opt.MaxOps > 0 && n >= opt.MaxOps) {
			break
		}
		last = d
		n++
	}
	pre := gen.PreloadCount()
	if opt.NoPreload {
		pre = 0
	}
	s := seed
	dur := int64(end)
	h := TraceHeader{Dim: gen.Dim(), Ops: &n, Preload: &pre, DurationNs: &dur, WarmupNs: int64(sched.Warmup),
		Scenario: sc.ID, ScenarioText: sc.Text, Seed: &s, CreatedBy: "engram-bench record",
		ThroughputTarget: sc.Validation.ExpectedThroughputOpsSec}
	tw, err := NewTraceWriter(w, h)
	if err != nil {
		return TraceInfo{}, err
	}
	var op Op
	for j := uint64(0); j < pre; j++ {
		gen.FillPreload(j, &op)
		if err := tw.WritePreload(&op); err != nil {
			return TraceInfo{}, fmt.Errorf("write trace: %w", err)
		}
	}
	seq = NewSequence(sched)
	for i := uint64(0); i < n; i++ {
		d := seq.Next()
		gen.Fill(i, &op)
		if err := tw.WriteOp(&op, d); err != nil {
			return TraceInfo{}, fmt.Errorf("write trace: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return TraceInfo{}, fmt.Errorf("write trace: %w", err)
	}
	return TraceInfo{Header: h, Ops: n, Preload: pre, Last: last, Spaces: gen.Spaces()}, nil
}
