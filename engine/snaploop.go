package engine

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Index snapshots while the store serves. Close snapshots every graph, but
// a process that is killed, or a store restored from a backup of a live
// one, would otherwise find no recent snapshot and re-index every memory on
// Open (at 100,000 memories that costs minutes of CPU in the background,
// during which searches scan the not-yet-indexed memories exactly). So the
// engine also snapshots:
//   - in Backup, before the checkpoint: a backup carries an index that
//     matches it up to the writes made during the backup itself;
//   - in the background (snapshotLoop), once Options.IndexSnapshotEvery
//     index inserts have accumulated in a space since its last snapshot,
//     as often as the snapshots' cost allows (snapshotGap) and at least
//     once per Options.IndexSnapshotInterval; and once after Open's
//     re-indexing of memories missing from the snapshot has caught up.
//
// A snapshot taken while the store serves is fuzzy; saveIndex explains why
// that is safe.

// IndexSnapshotStats describes the index snapshots written since Open (by
// Backup, the background loop and Close).
type IndexSnapshotStats struct {
	// Taken counts the snapshots written; Failed those that failed
	// (LastError says why). A snapshot interrupted by Close is neither.
	Taken  int64
	Failed int64
	// LastAt is when the last written snapshot began (zero: none since
	// Open); every node it holds was indexed by then.
	LastAt time.Time
	// LastDuration is how long it took to write; LastSpace, LastNodes and
	// LastBytes what it held (one space).
	LastDuration time.Duration
	LastSpace    string
	LastNodes    int
	LastBytes    int64
	// LastError is the error of the last failed snapshot ("" if none).
	LastError string
}

// snapStats collects IndexSnapshotStats.
type snapStats struct {
	mu sync.Mutex
	st IndexSnapshotStats
}

func (c *snapStats) record(space string, start time.Time, nodes int, bytes int64, err error) {
	if errors.Is(err, errSnapshotStopped) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.st.Failed++
		c.st.LastError = err.Error()
		return
	}
	c.st.Taken++
	c.st.LastAt, c.st.LastDuration = start, time.Since(start)
	c.st.LastSpace, c.st.LastNodes, c.st.LastBytes = space, nodes, bytes
}

func (c *snapStats) get() IndexSnapshotStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// snapFresh reports whether the graph's last snapshot (since Open, or the
// one Open loaded) holds every insert made so far.
func (h *hnsw) snapFresh() bool {
	return h.snapshotted.Load() && h.inserts.Load() == h.snapInserts.Load()
}

// snapshotGapFactor bounds the background snapshots' cost: a space is
// snapshotted again at the earliest this many times its last snapshot's
// duration later (its pacing included), so a space that keeps taking
// inserts is being snapshotted about 1/snapshotGapFactor of the time.
const snapshotGapFactor = 20

// snapshotGap is the least time between two background snapshots of a
// space whose last one took took: snapshotGapFactor times that, at least
// a second, never more than interval.
func snapshotGap(interval, took time.Duration) time.Duration {
	return min(interval, max(snapshotGapFactor*took, time.Second))
}

// snapshotLoop snapshots a space in the background when
//   - it took IndexSnapshotEvery inserts since its last snapshot, and
//     snapshotGap has passed since the loop's last snapshot of it: a cheap
//     snapshot is repeated sooner than IndexSnapshotInterval, so a kill
//     leaves little to re-index;
//   - or Open found memories missing from its snapshot and re-indexing
//     them has caught up: without that snapshot, a restarted store that
//     re-indexed fewer than IndexSnapshotEvery would re-index the same
//     memories again after every crash.
//
// Close stops it (an interrupted snapshot leaves nothing behind and Close
// writes its own).
func (s *Store) snapshotLoop(ctx context.Context) {
	every, interval := int64(s.opts.IndexSnapshotEvery), s.opts.IndexSnapshotInterval
	t := time.NewTicker(min(interval, time.Second))
	defer t.Stop()
	type spaceLoop struct {
		at       time.Time     // when the loop's last snapshot began
		took     time.Duration // how long it took
		caughtUp bool          // the re-indexing Open started has been snapshotted
	}
	loops := map[string]*spaceLoop{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, id := range s.Spaces() {
			if ctx.Err() != nil || s.failed.Load() {
				return
			}
			sp := s.space(id)
			h := sp.idx
			l := loops[id]
			if l == nil {
				l = &spaceLoop{caughtUp: h.reindexAtOpen == 0}
				loops[id] = l
			}
			since := h.inserts.Load() - h.snapInserts.Load()
			due := since >= every && (l.at.IsZero() || time.Since(l.at) >= snapshotGap(interval, l.took))
			recovered := false
			if !l.caughtUp && h.backlog() == 0 {
				if since == 0 {
					l.caughtUp = true // a snapshot since the catch-up holds it
					continue
				}
				due, recovered = true, true
			}
			if !due {
				continue
			}
			start := time.Now()
			_, err := s.saveIndexAt(ctx, sp, false, snapshotRate.Load()) // a failure is counted in the stats; the next round tries again
			l.at, l.took = start, time.Since(start)
			if err == nil && recovered {
				l.caughtUp = true
			}
		}
	}
}
