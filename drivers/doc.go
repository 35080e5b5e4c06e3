// Package drivers sends ops to a system under test, on time.
//
// It is the "drivers" room: the [Driver] interface (one attempt per op, no
// hidden retries), a registry of drivers by name, and the open-loop [Run]: op
// i is due at its intended time whether or not earlier ops have finished, at
// most Concurrency ops are in flight, and an op that has to wait for a free
// worker waits with its clock running — it is never dropped or skipped.
//
// Pacing is our own: Go's timers sleep in whole milliseconds on an idle
// runtime, and go.uber.org/ratelimit returns "now" to a late caller, hiding
// lateness. The runner uses leader/followers: one worker at a time (the
// leader) claims the next op, waits for its due time (a coarse sleep, then a
// precise nanosleep with 1 ns timer slack, then a short yielding spin), hands
// leadership on and runs the op itself, so the thread that woke on time is the
// one that starts the op. At saturation (the next op already due) the
// worker that finishes an op leads at once and claims the next with no
// hand-off and no extra clock read. Its dispatch lag (actual − intended start) is
// recorded for every op, and the run is marked harness-limited when that lag,
// not the target, bounded it.
//
// Run also offers the closed-loop alternative (RunConfig.Closed: users that
// wait for each reply; latency then hides queueing), stops cleanly when a
// FailingSource (a trace) fails, and hands every measured op to an Observer
// before recording it. Execute (session.go) strings it together: probe,
// preload (batched, with progress, never timed), run, and the Result with
// per-phase and per-space breakdowns, recall@10 per op kind, and the
// acknowledged-write Ledger (constant memory: an exact window of recent acks
// plus a bounded hash sample of writes; see ledger.go).
//
// Sharding (shard.go, RunConfig.Shard/Shards/StartAt): shard i of N runs
// exactly the ops j with j mod N = i, so N shards together send the
// single-process stream; StartAt puts every shard's time zero at the same
// wall time (converted once to the monotonic run clock, then waited for like
// any op, so lag and latency are measured as always; ErrLateStart when it
// has passed). PreloadMode says which shards preload: shard 0 for a shared
// target, every shard for an in-process one (Meta.InProcess). Results of
// shards merge exactly with reports.Merge.
//
// Sub-packages hold the drivers: null (does nothing: measures the harness),
// embedded (the engine in-process), engram (Engram's REST API: engramd or a
// real Engram), http (any HTTP service, from vegeta-style targets), redis and
// postgres (the same workload on systems people already run); internal/h1 is
// the HTTP/1.1 client the engram and http drivers send with; systems starts fresh local servers and
// measures their memory and disk (and owns an engramd process), compare runs one workload
// against several systems, recovery runs a disaster-recovery drill (backups under load, the data
// destroyed, restore, RTO and RPO), and drivertest checks any driver against its real target.
//
// Concurrency: Run owns every goroutine it starts and waits for them; a
// Driver must be safe for concurrent use.
//
// Adding a driver: implement Driver (and Prober, Preloader, Warmer and
// io.Closer where they apply: Execute probes, preloads, warms the
// connections, then measures), keep `var _ drivers.Driver = (*yours)(nil)` next to it, and register
// it by name in an init function with drivers.Register; set Meta.InProcess
// when its target lives inside the harness's process (each shard then
// preloads its own).
package drivers
