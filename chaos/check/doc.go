// Package check proves, after a run, that nothing acknowledged was lost:
// every write the client sent is kept in a Spill with its outcome, and
// ReadBack reads each memory back from the target after recovery.
//
// It belongs to the chaos room (invariant checkers). In: a Spill filled by
// Record (a driver wrapper that adds every store, batch member, update and
// forget with its outcome: Acked on 2xx, Rejected when the target provably
// did not apply it, Unknown otherwise), and a target URL. Out: a
// reports.CheckStats — intact, lost, corrupted (content CRC-32C differs
// from what was sent), unexpected (refused writes that are there anyway,
// and memories beyond every write sent, from the target's per-space
// counts), indeterminate (unanswered writes: either outcome is correct).
//
// Memory is constant in run length: the spill costs 12–16 bytes per write
// on disk and a 64 KiB buffer in memory, and the read-back holds at most
// Config.PartitionSize writes at a time (a larger spill is split on disk by
// hash of the memory id). The live, sampled view of the same writes during
// the run stays with drivers.Ledger.
//
// Usage, e.g. for a disaster-recovery drill:
//
//	spill, _ := check.CreateSpill("run.spill")
//	d, _ := check.Record(driver, spill)      // drive load through d
//	...                                      // kill, restore, restart
//	spill.Close()
//	st, err := check.ReadBack(ctx, spill.Path(), check.Config{Target: url, CountExtras: true})
//	if !st.OK() { ... st.Lost, st.LostExamples ... }
//
// Concurrency: Spill and Recorder are safe for concurrent use; ReadBack
// runs Config.Concurrency reads at once.
//
// Adding a checker: take the spill (ReadSpill streams it) or the Result,
// never a driver; report into a reports type so every renderer shows it;
// prove with a test that it fails on a target that breaks the invariant.
package check
