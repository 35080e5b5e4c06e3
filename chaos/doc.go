// Package chaos is what goes wrong during a run: fault kinds, the fault
// spec language, schedules, and the timeline that injects and heals faults
// on the run's own clock while it accounts for every op around them.
//
// It is the "chaos" room. What flows in: a schedule of Specs (from a
// scenario's [[chaos.faults]], FromScenario; text form "latency at=10s
// duration=5s latency=200ms", ParseSpec(s.String()) == s) and an Env of
// small interfaces — a Process the harness owns (systems.Engramd), a
// netproxy.Proxy, a DiskSwitch (engramd's /admin/disk or an in-process
// disk.FS), helper processes, a herd client. What flows out: Faults with
// Inject and Heal, and per fault reports.FaultResult — windows before,
// during and after it, time from the heal to health and to p99 under
// target, notes. No fault patches the engine and none depends on one
// driver; chaos/drill strings a drill together, chaos/check proves nothing
// acknowledged was lost.
//
// Kinds: network (latency, bandwidth, stall, reset, timeout, partition),
// process (kill, pause, crashloop), disk (disk_error, disk_slow), data
// (corrupt_wal, corrupt_sst), resources (memory, cpu) and herd. Kinds lists
// them with their parameters and defaults (`engram-bench chaos list`).
//
// Concurrency: Timeline.Observe is safe for concurrent use; each fault
// runs on its own goroutine, owned and waited for by Timeline.Run. Faults
// are healed when the run ends early (Ctrl-C), with a context that
// outlives the run's so that a restart can finish.
//
// Adding a fault kind: register a Kind in an init function (name, class,
// whether it takes a duration, Params with defaults and checks, Needs), its
// New building Inject/Heal from the Env; add it to TestFaultKinds in
// chaos/drill against a real engramd and to docs/chaos.md.
package chaos
