package drivers

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// OpSource fills op i. workloads.Generator is one; trace replay is another.
type OpSource interface {
	Fill(i uint64, op *workloads.Op)
}

// Observer is told about every finished measured op, on the worker w that
// ran it, before the op's buffers are reused and before it is recorded
// (per-phase and per-space breakdowns, the acknowledged-write ledger). s is
// the sample about to be recorded (times on the run clock, error class in
// s.Err); the observer may clear its quality fields or its "not_found"
// error for a read aimed at a write not yet acknowledged. It must be safe
// for concurrent use and should not allocate.
type Observer func(w int, op *workloads.Op, s *reports.Sample)

// FailingSource is an OpSource that can fail (a trace that turns out to be
// truncated or corrupt): after Fill, the runner checks Err and, when it is
// set, stops the run without executing the op. The run's stats carry the
// error, so that nothing half-run is reported as complete.
type FailingSource interface {
	OpSource
	Err() error
}

// FillSkipper is a driver that does not need op contents (the null driver
// measuring pure dispatch); the runner then sets only op.Index.
type FillSkipper interface {
	SkipsFill() bool
}

// RunConfig configures one open-loop run. The zero value of each optional
// field means its documented default.
type RunConfig struct {
	Arrival workloads.Arrival // required
	Ops     OpSource          // required
	// Concurrency is the most ops in flight at once. Default 64.
	Concurrency int
	// Warmup runs load that is not recorded, before the measured Duration.
	Warmup   time.Duration
	Duration time.Duration // required: the measured window
	// Shard and Shards select ops i with i mod Shards == Shard. Shards ≤ 1: all ops.
	Shard, Shards int
	// StartAt, when set, is the wall time of the schedule's time zero (where
	// the warm-up begins): shards on several machines given the same StartAt
	// dispatch op i at the same instant, to within their clocks' agreement.
	// Run converts it once to its monotonic run clock and waits for it with
	// the same timer/nanosleep/spin as for every op, so dispatch lag and
	// latency are measured from the intended start as always. When it has
	// already passed, Run returns an error wrapping ErrLateStart and sends
	// nothing. Zero: time zero is a few milliseconds after Run starts.
	StartAt time.Time
	// Interval between ticks of the recorder. Default 1 s.
	Interval time.Duration
	// DrainTimeout bounds how long ops that fell due inside the window may
	// still be started or finish after it ends. Default 10 s.
	DrainTimeout time.Duration
	// Hold, when set, is how much of the measured window the run covers
	// even when its ops finished sooner (at most Duration): a schedule whose
	// last op fell due before the window's end — a sparse arrival, a trace
	// with a quiet tail — is still measured, ticked and scraped over that
	// window, so its achieved rate and its target rate share one window.
	// Zero: the run ends when its last op finished.
	Hold time.Duration
	// MaxLag is the harness-lag p99 above which the run counts as
	// harness-limited. Default 1 ms.
	MaxLag time.Duration
	// Recorder receives every measured op. Its op names are the op kinds, in
	// Kind order (workloads.KindNames()).
	Recorder *reports.Recorder
	// OnTick is called once per interval with its delta (optional).
	OnTick func(reports.Tick)
	// Observe is called for every measured op (optional).
	Observe Observer
	// Closed, when set, runs the closed-loop alternative instead of the
	// open-loop schedule: Closed.Users users each send, wait for the reply,
	// think and send again (Arrival and Concurrency are then ignored). See
	// workloads.ClosedLoop.
	Closed *workloads.ClosedLoop
	// OnStart, when set, is told once, before any op is sent, the instant
	// measuring will begin (after the warm-up), with a monotonic reading:
	// captures aligned to the measured window (profiles) time themselves
	// from it.
	OnStart func(measureStart time.Time)
	// Started, when set, is told the run's clock before the first op is due
	// (chaos schedules faults on it).
	Started func(RunClock)
	// Spin says whether waits for an op's due time may end in a busy spin
	// (SpinPolicy). Default: ENGRAM_BENCH_SPIN, else SpinAuto.
	Spin SpinPolicy
}

// RunClock places a run in time: Zero is the wall time of run-clock 0, and
// MeasureStart the run-clock time (ns) where measuring begins; samples'
// times are on the run clock.
type RunClock struct {
	Zero         time.Time
	MeasureStart int64
}

// Defaults for RunConfig.
const (
	DefaultConcurrency  = 64
	DefaultInterval     = time.Second
	DefaultDrainTimeout = 10 * time.Second
	DefaultMaxLag       = time.Millisecond
)

// RunStats is the runner's account of a run. Times are ns on the run clock,
// whose zero is Start.
type RunStats struct {
	Start        time.Time // wall time of run-clock zero (the schedule's time zero)
	MeasureStart int64     // run-clock time where measuring began (after warm-up)
	MeasureEnd   int64     // run-clock time where the last measured op finished, or the window's end if later
	Sent         uint64    // measured ops started
	WarmupOps    uint64    // warm-up ops started
	// WarmupSpill counts warm-up ops that finished after measuring began:
	// the target was still busy with the warm-up's load in the window.
	WarmupSpill uint64
	Unsent      uint64 // ops due inside the window that never started
	StartedLate uint64 // measured ops due inside the window that started only after it ended
	Abandoned   uint64 // ops still in flight when the run was cut short
	Interrupted bool   // the context was cancelled before the end
	CPU         time.Duration
	// Spin is the spin policy the run used, and SpinShare the fraction of
	// the measured window in which it let waits end in a spin.
	Spin      SpinPolicy
	SpinShare float64
	// SourceErr is set when the op source failed mid-run (FailingSource):
	// the run stopped there and is incomplete.
	SourceErr error
}

// ErrLateStart is returned (wrapped) by Run and Execute when RunConfig.StartAt
// or Plan.StartAt has already passed: the schedule cannot start in step with
// the other shards.
var ErrLateStart = errors.New("start time already passed")

// Seconds is the measured window in seconds.
func (s RunStats) Seconds() float64 { return float64(s.MeasureEnd-s.MeasureStart) / 1e9 }

// The waiting policy: a Go timer until coarseMargin before due, then one
// nanosleep that stops an adaptive margin before due (see sleeper), then a
// spin. Measured on a 2-core AMD EPYC VM, 2026-11-26: a Go timer on an idle
// runtime wakes up to 1.1 ms late; a nanosleep with 1 ns timer slack
// overshoots by 22–25 µs on sleeps under 50 µs and by 55–70 µs (p99
// 105–125 µs) on sleeps of 0.5–1 ms.
const (
	coarseMargin    = 2 * time.Millisecond   // sleep with a Go timer until this far before due
	fillBudget      = 20 * time.Microsecond  // generate the op while waiting if at least this early
	handoffSlack    = 2 * time.Microsecond   // wake a follower if the next op is due within 4× our expected service + this
	fastGap         = 500 * time.Microsecond // below this gap between ops, hand off only on expected service time
	handoffWindow   = 5 * time.Millisecond   // above fastGap and below this, always hand off
	standbyFloor    = 1 * time.Millisecond   // a standby follower checks for a stalled leader at least this often
	startDelay      = 5 * time.Millisecond   // time zero is this far after Run starts its workers
	minSleep        = 5 * time.Microsecond   // shorter sleeps are spun
	minThriftySleep = 25 * time.Microsecond  // when spinning is not allowed, shorter sleeps are still spun: a nanosleep costs two context switches (~16 µs of CPU on the 2-core VM) and would wake late
	overdueSpins    = 64                     // yields a follower tries for leadership while ops are overdue
	spinYield       = 20 * time.Microsecond  // spin with runtime.Gosched above this, busy below it
)

type runner struct {
	cfg      RunConfig
	driver   Driver
	skipFill bool
	base     time.Time
	end      int64 // run clock: ops due at or after this are not sent
	origin   int64 // run clock of schedule offset 0
	measure  int64

	opCtx  context.Context
	cancel context.CancelFunc

	// Leadership. Only the leader touches seq, nextI, nextDue, filledUpTo.
	leader   atomic.Bool
	seq      workloads.Sequence
	seqI     uint64          // index of the op next() returns next
	primed   []time.Duration // the first offsets of seq, read before the run clock started
	nextI    uint64
	nextDue  int64
	finished bool

	nextDueA atomic.Int64 // nextDue, for standby followers
	wake     chan struct{}
	parked   atomic.Int32
	idle     atomic.Int32 // workers asleep in park (free for work)
	standby  atomic.Bool
	inflight atomic.Int32

	done     chan struct{} // closed when no more ops will be claimed
	doneOnce sync.Once
	stopping atomic.Bool

	sleeper sleeper // used by the leader only
	spin    *spinGate

	sent, warm, abandoned atomic.Uint64
	warmSpill             atomic.Uint64 // warm-up ops that finished inside the measured window
	startedLate           atomic.Uint64 // measured ops started after the window, though a worker was free
	claimedDue            atomic.Int64  // due time of an op claimed by a leader stopped before it was due; -1 if none
	lastEnd               atomic.Int64

	failing FailingSource
	srcErr  atomic.Pointer[error]
}

func (r *runner) now() int64 { return int64(time.Since(r.base)) }

// Run drives d open-loop until the schedule ends, the drain times out or ctx
// is cancelled. It records measured ops in cfg.Recorder and ticks it once per
// interval; the final tick covers the partial last interval. On cancellation
// it returns the stats of the part that ran, with Interrupted set, and a nil
// error.
func Run(ctx context.Context, cfg RunConfig, d Driver) (RunStats, error) {
	if (cfg.Arrival == nil && cfg.Closed == nil) || cfg.Ops == nil || cfg.Recorder == nil {
		return RunStats{}, errors.New("drivers.Run: Arrival (or Closed), Ops and Recorder are required")
	}
	if cfg.Closed != nil {
		if cfg.Closed.Users < 1 {
			return RunStats{}, errors.New("drivers.Run: a closed loop needs at least one user")
		}
		cfg.Concurrency = cfg.Closed.Users
		if cfg.Arrival == nil {
			cfg.Arrival = cfg.Closed
		}
	}
	if cfg.Duration <= 0 {
		return RunStats{}, errors.New("drivers.Run: Duration must be > 0")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Shards <= 1 {
		cfg.Shards, cfg.Shard = 1, 0
	}
	if cfg.Shard < 0 || cfg.Shard >= cfg.Shards {
		return RunStats{}, errors.New("drivers.Run: Shard must be in [0, Shards)")
	}
	spin, err := resolveSpin(cfg.Spin)
	if err != nil {
		return RunStats{}, fmt.Errorf("drivers.Run: %w", err)
	}
	// Position the schedule at this shard's first op before the run clock
	// starts: building a sequence may read a file (a trace replay reads past
	// its preload section, ~30 ms per 1,000 768-d memories), which would
	// otherwise make the first ops late by that much.
	var (
		seq    workloads.Sequence
		primed []time.Duration
	)
	if cfg.Closed == nil {
		seq = workloads.NewSequence(cfg.Arrival)
		primed = primeSequence(seq, cfg.Shard)
	}
	r := &runner{cfg: cfg, driver: d, base: time.Now(), wake: make(chan struct{}, 1), done: make(chan struct{}), spin: newSpinGate(spin)}
	if fs, ok := d.(FillSkipper); ok && fs.SkipsFill() {
		r.skipFill = true
	}
	r.failing, _ = cfg.Ops.(FailingSource)
	r.origin = int64(startDelay)
	if !cfg.StartAt.IsZero() {
		// A wall-clock difference (Round(0) drops any monotonic reading),
		// taken once; from here on the run clock is monotonic.
		r.origin = int64(cfg.StartAt.Round(0).Sub(r.base))
		if r.origin < 0 {
			return RunStats{}, LateStartError(cfg.StartAt, r.base)
		}
	}
	r.measure = r.origin + int64(cfg.Warmup)
	r.end = r.measure + int64(cfg.Duration)
	r.claimedDue.Store(-1)
	r.opCtx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer r.cancel()
	if cfg.Closed == nil {
		r.seq, r.primed = seq, primed
		r.advance()
	} else {
		r.finished = true // nothing is scheduled, so nothing can be left unsent
	}

	cfg.Recorder.SetStart(r.measure)
	if cfg.OnStart != nil {
		cfg.OnStart(r.base.Add(time.Duration(r.measure)))
	}
	if cfg.Started != nil {
		cfg.Started(RunClock{Zero: r.base, MeasureStart: r.measure})
	}
	stats := RunStats{Start: r.base.Add(time.Duration(r.origin)), MeasureStart: r.measure}

	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Closed != nil {
				r.user(w)
			} else {
				r.work(w)
			}
		}()
	}
	// Ticker: one tick per interval of the measured window; and the spin
	// gate's sampler.
	tickStop := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Add(2)
	go func() {
		defer tickWG.Done()
		r.tick(tickStop)
	}()
	go func() {
		defer tickWG.Done()
		r.spin.run(tickStop, r.now, r.measure, r.end)
	}()

	var cpu0 time.Duration
	cpuTaken := false
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()

	// Wait for: the end of the schedule, cancellation, or the drain deadline.
	measureTimer := time.NewTimer(time.Duration(r.measure - r.now()))
	defer measureTimer.Stop()
	drainDeadline := time.NewTimer(time.Duration(r.end-r.now()) + cfg.DrainTimeout)
	defer drainDeadline.Stop()
	done := workersDone // nil once the workers are done and the run holds
	var hold <-chan time.Time
loop:
	for {
		select {
		case <-measureTimer.C:
			cpu0, cpuTaken = processCPU(), true
		case <-done:
			at := r.measure + min(int64(cfg.Hold), int64(cfg.Duration))
			if !r.finished || r.stopping.Load() || at <= r.now() {
				break loop
			}
			// The schedule ran out before the window it covers ended.
			done = nil
			holdTimer := time.NewTimer(time.Duration(at - r.now()))
			defer holdTimer.Stop()
			hold = holdTimer.C
		case <-hold:
			break loop
		case <-ctx.Done():
			stats.Interrupted = true
			r.stop()
			<-workersDone
			break loop
		case <-drainDeadline.C:
			r.stop()
			<-workersDone
			break loop
		}
	}
	if cpuTaken {
		stats.CPU = processCPU() - cpu0
	}
	close(tickStop)
	tickWG.Wait()

	stopAt := r.now()
	if e := r.srcErr.Load(); e != nil {
		stats.SourceErr = *e
	} else if fa, ok := cfg.Arrival.(interface{ Err() error }); ok && fa.Err() != nil {
		stats.SourceErr = fa.Err() // a trace arrival ended early on a bad line
	}
	stats.Sent = r.sent.Load()
	stats.Spin, stats.SpinShare = spin, r.spin.share()
	stats.WarmupOps = r.warm.Load()
	stats.WarmupSpill = r.warmSpill.Load()
	stats.Abandoned = r.abandoned.Load()
	stats.StartedLate = r.startedLate.Load()
	// Ops that fell due before the end (or before the interruption) but were never started.
	limit := r.end
	if stats.Interrupted && stopAt < limit {
		limit = stopAt
	}
	if !r.finished || stats.Interrupted {
		stats.Unsent = r.countUnsent(limit)
	}
	if d := r.claimedDue.Load(); d >= 0 && d < limit {
		stats.Unsent++
	}
	stats.MeasureEnd = max(r.lastEnd.Load(), min(stopAt, r.end))
	if stats.MeasureEnd < r.measure {
		stats.MeasureEnd = r.measure
	}
	// Final tick: the partial last interval, up to MeasureEnd.
	cfg.Recorder.Tick(stats.MeasureEnd, r.onTick)
	return stats, nil
}

// LateStartError is the error for a start time that had passed at now.
func LateStartError(at, now time.Time) error {
	return fmt.Errorf("%w: --start-at %s was %s ago; choose a start far enough ahead for every shard to be ready (pods scheduled, images pulled, shard 0's preload done)",
		ErrLateStart, at.UTC().Format(time.RFC3339Nano), now.Sub(at).Round(time.Millisecond))
}

func (r *runner) onTick(t reports.Tick) {
	if r.cfg.OnTick != nil {
		t.InFlight = int(r.inflight.Load())
		r.cfg.OnTick(t)
	}
}

// primeSequence reads the schedule offsets of ops 0 … shard (up to the
// first NeverDue) from seq: what the first advance needs, read before the
// run clock starts. It holds at most shard+1 offsets, whatever the run's
// length.
func primeSequence(seq workloads.Sequence, shard int) []time.Duration {
	primed := make([]time.Duration, 0, shard+1)
	for range shard + 1 {
		d := seq.Next()
		primed = append(primed, d)
		if d >= workloads.NeverDue {
			break
		}
	}
	return primed
}

// next returns the schedule offset of op seqI: a primed one, else the
// sequence's next.
func (r *runner) next() time.Duration {
	if len(r.primed) > 0 {
		d := r.primed[0]
		r.primed = r.primed[1:]
		return d
	}
	return r.seq.Next()
}

// advance moves the leader's cursor to the next op of this shard.
func (r *runner) advance() {
	for {
		due := r.origin + int64(r.next())
		i := r.seqI
		r.seqI++
		if int(i%uint64(r.cfg.Shards)) == r.cfg.Shard {
			r.nextI, r.nextDue = i, due
			r.nextDueA.Store(due)
			return
		}
		if due >= r.end {
			r.nextI, r.nextDue = i, due
			r.nextDueA.Store(due)
			return
		}
	}
}

// countUnsent counts this shard's ops due before limit that were never claimed.
// Only called after every worker has stopped.
func (r *runner) countUnsent(limit int64) uint64 {
	var n uint64
	if sk, ok := r.seq.(workloads.Skipper); ok && len(r.primed) == 0 && r.nextDue < limit {
		// The cursor's op is this shard's and unsent; the ops after it
		// that fall due before limit are counted without visiting them
		// (an overloaded run leaves millions).
		from := r.seqI
		skipped := sk.SkipBefore(time.Duration(limit - r.origin))
		r.seqI += skipped
		n = 1 + shardOps(from, r.seqI, uint64(r.cfg.Shard), uint64(r.cfg.Shards))
		r.advance()
	}
	for r.nextDue < limit {
		n++
		r.advance()
	}
	return n
}

// shardOps counts the op indices i in [from, to) with i mod shards == shard.
func shardOps(from, to, shard, shards uint64) uint64 {
	below := func(x uint64) uint64 { // indices < x of the shard
		n := x / shards
		if x%shards > shard {
			n++
		}
		return n
	}
	return below(to) - below(from)
}

func (r *runner) stop() {
	r.stopping.Store(true)
	r.finish()
	r.cancel()
}

func (r *runner) finish() {
	r.doneOnce.Do(func() { close(r.done) })
}

type worker struct {
	id     int
	op     workloads.Op
	rec    *reports.ShardRecorder
	ewma   int64 // service time estimate, ns
	freeAt int64 // when this worker last finished an op
	timer  *time.Timer
	// blocked is set when the worker slept in park during its current
	// attempt to lead: it was free, so lateness then is the harness's.
	blocked bool
	// parked is set when the worker entered park (yielded or slept) during
	// its current attempt to lead: freeAt is then too old to stand in for
	// the clock.
	parked bool
}

func (r *runner) work(id int) {
	w := &worker{id: id, rec: r.cfg.Recorder.Shard(id), timer: time.NewTimer(time.Hour)}
	w.timer.Stop()
	for {
		_, due, queued, ok := r.lead(w)
		if !ok {
			return
		}
		if r.sourceFailed() {
			return
		}
		w.op.Scored, w.op.Hit, w.op.Found = false, false, 0
		start := r.now()
		r.inflight.Add(1)
		err := r.driver.Do(r.opCtx, &w.op)
		end := r.now()
		w.freeAt = end
		r.inflight.Add(-1)
		svc := end - start
		w.ewma += (svc - w.ewma) / 8
		if r.stopping.Load() && err != nil && r.opCtx.Err() != nil {
			// Cut short by our own cancellation: not an op error.
			r.abandoned.Add(1)
			continue
		}
		if due < r.measure {
			r.warm.Add(1)
			if end > r.measure {
				r.warmSpill.Add(1)
			}
			continue
		}
		r.record(w, due, start, end, queued, err)
	}
}

// record records one measured op and tells the observer.
func (r *runner) record(w *worker, due, start, end int64, queued bool, err error) {
	r.sent.Add(1)
	if start >= r.end && due < r.end && !queued {
		r.startedLate.Add(1)
	}
	s := reports.Sample{Op: int(w.op.Kind), Intended: due, Start: start, End: end, Queued: queued, Scored: w.op.Scored, Hit: w.op.Hit}
	if err != nil {
		s.Err = Classify(err)
	}
	if r.cfg.Observe != nil {
		r.cfg.Observe(w.id, &w.op, &s)
	}
	w.rec.Record(s)
	for {
		last := r.lastEnd.Load()
		if end <= last || r.lastEnd.CompareAndSwap(last, end) {
			break
		}
	}
}

// sourceFailed checks the op source after a fill; on its first failure it
// stops the run.
func (r *runner) sourceFailed() bool {
	if r.failing == nil {
		return false
	}
	err := r.failing.Err()
	if err == nil {
		return false
	}
	if r.srcErr.CompareAndSwap(nil, &err) {
		r.stop()
	}
	return true
}

// user is one closed-loop user: it sends its ops one at a time (ops u,
// u+U, u+2U, … of this shard's sequence), each Think after the previous
// reply. An op's intended start is the previous reply plus the think time,
// so latency is end − (that moment): timer lateness counts, queueing that an
// open-loop arrival would have exposed does not (the user simply waited).
func (r *runner) user(id int) {
	w := &worker{id: id, rec: r.cfg.Recorder.Shard(id)}
	users := uint64(r.cfg.Concurrency)
	shards := uint64(r.cfg.Shards)
	var sl sleeper
	prev := r.origin
	for j := uint64(id); ; j += users {
		i := j*shards + uint64(r.cfg.Shard)
		due := prev + int64(r.cfg.Closed.Think(i))
		if due >= r.end || r.stopping.Load() {
			return
		}
		r.fill(i, &w.op)
		if r.sourceFailed() {
			return
		}
		if !r.waitFor(due, &sl) {
			return
		}
		w.op.Scored, w.op.Hit, w.op.Found = false, false, 0
		start := r.now()
		r.inflight.Add(1)
		err := r.driver.Do(r.opCtx, &w.op)
		end := r.now()
		r.inflight.Add(-1)
		prev = end
		if r.stopping.Load() && err != nil && r.opCtx.Err() != nil {
			r.abandoned.Add(1)
			return
		}
		if due < r.measure {
			r.warm.Add(1)
			if end > r.measure {
				r.warmSpill.Add(1)
			}
			continue
		}
		r.record(w, due, start, end, false, err)
	}
}

// lead makes w the leader, claims the next op, fills it and waits until it is
// due. It returns ok=false when there is nothing more to do.
func (r *runner) lead(w *worker) (i uint64, due int64, queued, ok bool) {
	w.blocked, w.parked = false, false
	for !r.leader.CompareAndSwap(false, true) {
		if !r.park(w) {
			return 0, 0, false, false
		}
	}
	if r.finished || r.stopping.Load() || r.nextDue >= r.end {
		// Finished means the schedule ran out; a stop (drain timeout) leaves
		// the rest of the schedule to be counted as unsent.
		r.finished = r.finished || r.nextDue >= r.end
		r.leader.Store(false)
		r.finish()
		return 0, 0, false, false
	}
	i, due = r.nextI, r.nextDue
	r.advance()
	nextDue := r.nextDue

	// One clock read per op boundary: when the op was already due at the
	// end of this worker's previous op (the schedule is behind: every op is
	// overdue at saturation), that end is the claim time for the "queued"
	// test below (the true claim is later, so overdue then means overdue
	// at the claim) and there is nothing to wait for. Otherwise read the
	// clock and wait as always.
	claimed, now := w.freeAt, w.freeAt
	filled := false
	if w.parked || claimed <= due {
		claimed = r.now()
		if due-claimed > int64(fillBudget) {
			r.fill(i, &w.op)
			filled = true
		}
		if !r.waitUntil(due) {
			// Stopped while waiting: the claimed op never starts.
			r.claimedDue.Store(due)
			r.leader.Store(false)
			r.signal()
			return 0, 0, false, false
		}
		now = r.now()
	}
	// It queued if it was overdue when claimed because the workers were busy
	// with the target (the target, or the concurrency, made it wait), not
	// because the harness was slow to claim it.
	// With many workers some are always between two ops, so "every other
	// worker in flight" is too strict: half of them in flight, none asleep,
	// and this one awake counts too.
	inflight := int(r.inflight.Load())
	queued = claimed > due && (inflight >= r.cfg.Concurrency-1 || (!w.blocked && r.idle.Load() == 0 && 2*inflight >= r.cfg.Concurrency))
	r.leader.Store(false)
	// Hand leadership to a follower if we may not be back in time for the
	// next op: when it is due within our expected service time, and always
	// at moderate rates, where a wake-up per op is cheap and a stalled op
	// would otherwise leave the next one to the standby's coarse timer.
	if gap := nextDue - now; r.parked.Load() > 0 && (gap < 4*w.ewma+int64(handoffSlack) || (gap > int64(fastGap) && gap < int64(handoffWindow))) {
		r.signal()
	}
	if !filled {
		r.fill(i, &w.op)
	}
	return i, due, queued, true
}

func (r *runner) fill(i uint64, op *workloads.Op) {
	if r.skipFill {
		op.Index = i
		return
	}
	r.cfg.Ops.Fill(i, op)
}

func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// park blocks a follower until it may try to lead again. One follower at a
// time is the standby: it also wakes when the next op falls due, so a leader
// stuck in a slow op cannot hold up ops that free workers could start.
func (r *runner) park(w *worker) bool {
	w.parked = true
	r.parked.Add(1)
	defer r.parked.Add(-1)
	if !r.leader.Load() {
		return true
	}
	// When ops are overdue the leader holds leadership only for one claim:
	// yield and retry briefly instead of sleeping until a wake-up, which
	// costs tens of µs and would serialise claims under overload.
	if r.nextDueA.Load() <= r.now() {
		for range overdueSpins {
			runtime.Gosched()
			if !r.leader.Load() {
				return true
			}
			if r.stopping.Load() {
				return false
			}
		}
	}
	w.blocked = true
	r.idle.Add(1)
	defer r.idle.Add(-1)
	if r.standby.CompareAndSwap(false, true) {
		d := time.Duration(r.nextDueA.Load() - r.now())
		if d < standbyFloor {
			d = standbyFloor
		}
		w.timer.Reset(d)
		select {
		case <-r.wake:
		case <-w.timer.C:
		case <-r.done:
			r.standby.Store(false)
			w.timer.Stop()
			return false
		}
		w.timer.Stop()
		r.standby.Store(false)
		return true
	}
	select {
	case <-r.wake:
		return true
	case <-r.done:
		return false
	}
}

// waitUntil waits until the run clock reaches t: a Go timer for the coarse
// part, a nanosleep with 1 ns slack for the fine part, then a short spin
// (long enough to land on time when the spin gate allows it, else only what
// is left when the sleep woke early). It returns false if the run is
// stopping.
func (r *runner) waitUntil(t int64) bool { return r.waitFor(t, &r.sleeper) }

// waitFor is waitUntil with the caller's own sleeper (closed-loop users each
// have one; the open-loop leader uses the runner's).
func (r *runner) waitFor(t int64, sl *sleeper) bool {
	for {
		if r.stopping.Load() {
			return false
		}
		d := t - r.now()
		spin := r.spin.spin() // once: the sampler may flip it between the test and the sleep
		switch {
		case d <= 0:
			return true
		case d > int64(coarseMargin):
			select {
			case <-time.After(time.Duration(d - int64(coarseMargin))):
			case <-r.done:
				return false
			}
		case havePreciseSleep && d-sl.margin(d, spin) > spinMinSleep(spin):
			sl.sleep(d, spin)
		case d > int64(spinYield):
			runtime.Gosched()
		}
	}
}

// tick closes one recorder interval per Interval of the measured window.
func (r *runner) tick(stop <-chan struct{}) {
	next := r.measure + int64(r.cfg.Interval)
	t := time.NewTimer(time.Duration(next - r.now()))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r.cfg.Recorder.Tick(next, r.onTick)
		next += int64(r.cfg.Interval)
		t.Reset(time.Duration(next - r.now()))
	}
}

// sleeper learns how late nanosleep wakes on this machine and ends each sleep
// that far before the due time; the rest is spun. Per power-of-two bucket of
// the time left, it tracks two quantiles of the overshoot with stochastic
// quantile estimators: the 80th percentile (step up 0.8 µs when a sleep
// overshot it, down 0.2 µs when not), the margin when spinning is allowed,
// so that most sleeps end early and a short spin lands on time; and the 20th
// (up 0.2 µs, down 0.8 µs), the margin when it is not (spinGate), so that
// most sleeps end a little late and few need a spin. Only its owner (the
// leader, or one closed-loop user) uses it.
type sleeper struct {
	hi, lo [24]int64 // per bucket: estimated p80 and p20 overshoot, ns; 0 = no sample yet
}

func sleepBucket(d int64) int {
	b := 0
	for d > 8192 && b < 23 {
		d >>= 1
		b++
	}
	return b
}

// margin returns how long before due a sleep should end when d is left.
// Without spinning it is at most d/2, so that a wait long enough for a
// sleep always gets one: the estimate learns only from sleeps, and a
// margin learned high once (a burst of late wake-ups) would otherwise leave
// every later wait to a spin, for good (measured: at 10,000 req/s the
// runner spun every wait at 95 µs of CPU per request instead of 73).
func (s *sleeper) margin(d int64, spin bool) int64 {
	if spin {
		if m := s.hi[sleepBucket(d)]; m > 0 {
			return m
		}
		return int64(defaultMargin)
	}
	m := s.lo[sleepBucket(d)]
	if m == 0 {
		m = int64(defaultMargin)
	}
	return min(m, d/2)
}

// sleep sleeps until margin(d, spin) before due, d from now, and learns from
// it.
func (s *sleeper) sleep(d int64, spin bool) {
	b := sleepBucket(d)
	m := s.margin(d, spin)
	t0 := nanotime()
	preciseSleep(d - m)
	over := nanotime() - t0 - (d - m)
	learn(&s.hi[b], over, 800, 200)
	learn(&s.lo[b], over, 200, 800)
}

// learn moves the quantile estimate q towards one sample: up by up when the
// sample is above it, else down by down (the estimate converges to the
// quantile up/(up+down), where P(sample > q) = down/(up+down)). An unset
// estimate starts at defaultMargin.
func learn(q *int64, sample, up, down int64) {
	if *q == 0 {
		*q = int64(defaultMargin)
	}
	if sample > *q {
		*q += up
	} else if *q > 1000+down {
		*q -= down
	}
}

// defaultMargin is the margin before the first sample of a bucket.
const defaultMargin = 80 * time.Microsecond

var clockBase = time.Now()

func nanotime() int64 { return int64(time.Since(clockBase)) }
