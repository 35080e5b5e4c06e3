package engine

import (
	"time"
)

// Stats is a snapshot of the store for health checks and metrics.
type Stats struct {
	// Spaces describes every space, sorted by id.
	Spaces []SpaceInfo
	// Memories is the number of live memories in all spaces.
	Memories int
	// Hot is the hot tier (decoded memories in RAM); its misses went to
	// the warm tier (pebble).
	Hot TierStats
	// Index sums the HNSW indexes of all spaces.
	Index IndexStats
	// Consolidation sums the consolidation runs of all spaces since Open.
	Consolidation ConsolidationTotals
	// Pebble is the storage engine's state.
	Pebble PebbleStats
	// IndexSnapshots describes the index snapshots written since Open.
	IndexSnapshots IndexSnapshotStats
	// Recovery is what Open found and did.
	Recovery RecoveryInfo
	// Uptime is the time since Open returned.
	Uptime time.Duration
}

// PebbleStats are the pebble metrics worth watching.
type PebbleStats struct {
	DiskSpaceUsage   uint64 // bytes of sstables, WAL and other files
	WALFiles         int64
	WALSize          uint64 // bytes of live WAL data
	WALBytesWritten  uint64
	MemTableSize     uint64 // bytes allocated by memtables
	MemTableCount    int64
	Flushes          int64
	Compactions      int64
	CompactionDebt   uint64 // estimated bytes to compact for a stable LSM
	L0Files          int64
	L0Sublevels      int32
	ReadAmp          int
	Tables           int64 // sstables in all levels
	TableBytes       int64
	BlockCacheSize   int64
	BlockCacheHits   int64
	BlockCacheMisses int64
}

// Stats returns a snapshot of the store.
func (s *Store) Stats() (Stats, error) {
	if err := s.enter(); err != nil {
		return Stats{}, err
	}
	defer s.leave()
	var st Stats
	for _, id := range s.Spaces() {
		sp := s.space(id)
		in := sp.info()
		st.Spaces = append(st.Spaces, in)
		st.Memories += in.Memories
		st.Index.Nodes += in.Index.Nodes
		st.Index.Deleted += in.Index.Deleted
		st.Index.Pending += in.Index.Pending
		st.Index.Relinked += in.Index.Relinked
		st.Index.Levels = max(st.Index.Levels, in.Index.Levels)
		st.Index.Bytes += in.Index.Bytes
		c := in.Consolidation
		t := &st.Consolidation
		t.Runs += c.Runs
		t.Failures += c.Failures
		t.EpisodesScanned += c.EpisodesScanned
		t.ClustersFormed += c.ClustersFormed
		t.BeliefsUpdated += c.BeliefsUpdated
		t.EpisodesConsolidated += c.EpisodesConsolidated
		if c.LastRun.After(t.LastRun) {
			t.LastRun, t.LastDuration = c.LastRun, c.LastDuration
		}
	}
	st.Hot = s.hot.stats()
	m := s.db.Metrics()
	p := &st.Pebble
	p.DiskSpaceUsage = m.DiskSpaceUsage()
	p.WALFiles = m.WAL.Files
	p.WALSize = m.WAL.Size
	p.WALBytesWritten = m.WAL.BytesWritten
	p.MemTableSize = m.MemTable.Size
	p.MemTableCount = m.MemTable.Count
	p.Flushes = m.Flush.Count
	p.Compactions = m.Compact.Count
	p.CompactionDebt = m.Compact.EstimatedDebt
	p.L0Files = m.Levels[0].TablesCount
	p.L0Sublevels = m.Levels[0].Sublevels
	p.ReadAmp = m.ReadAmp()
	for _, l := range m.Levels {
		p.Tables += l.TablesCount
		p.TableBytes += l.TablesSize
	}
	p.BlockCacheSize = m.BlockCache.Size
	p.BlockCacheHits = m.BlockCache.Hits
	p.BlockCacheMisses = m.BlockCache.Misses
	st.IndexSnapshots = s.snaps.get()
	st.Recovery = s.recovery
	st.Uptime = time.Since(s.opened)
	return st, nil
}
