package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Engine families, collected from engine.Stats at scrape time. Engram's own
// names where Engram has the family (ENGRAM_API.md §10), engramd_ otherwise.
var (
	descHotRatio    = prometheus.NewDesc("engramd_hot_tier_hit_ratio", "Share of memory reads served by the hot tier since start.", nil, nil)
	descHotEntries  = prometheus.NewDesc("engramd_hot_tier_entries", "Memories held by the hot tier.", nil, nil)
	descHotEvents   = prometheus.NewDesc("engramd_hot_tier_events_total", "Hot tier hits, misses, promotions and demotions.", []string{"event"}, nil)
	descIndexNodes  = prometheus.NewDesc("engramd_index_nodes", "Memories in the HNSW index, by space.", []string{"space"}, nil)
	descIndexPend   = prometheus.NewDesc("engramd_index_pending", "Memories waiting to be indexed, by space.", []string{"space"}, nil)
	descIndexBytes  = prometheus.NewDesc("engramd_index_bytes", "Memory held by the HNSW index (vectors and links), by space.", []string{"space"}, nil)
	descIndexRelink = prometheus.NewDesc("engramd_index_relinked_total", "Index nodes found unreachable from the entry point and linked back since start, by space: a few per ten thousand concurrent inserts is expected.", []string{"space"}, nil)
	descBounded     = prometheus.NewDesc("engramd_bounded_memory_bytes", "Memory the store may come to hold whatever the number of memories: pebble's queued memtables, its block cache and a full hot tier (they fill with use up to this bound). A run's memory-overhead check (H4) is not judged while the raw data is below it.", nil, nil)
	descRetired     = prometheus.NewDesc("engramd_memories_retired", "Deleted or replaced memories (beliefs strengthened by consolidation included) still held in RAM (vector, index node, about 5–7 KB each at 768 dimensions) until the next restart, by space.", []string{"space"}, nil)
	descEdges       = prometheus.NewDesc("engramd_edges", "Directed graph edges, by space.", []string{"space"}, nil)
	descBeliefs     = prometheus.NewDesc("engramd_beliefs", "Consolidated beliefs, by space.", []string{"space"}, nil)
	descConsRuns    = prometheus.NewDesc("engram_consolidation_runs_total", "Consolidation runs since start.", nil, nil)
	descConsFails   = prometheus.NewDesc("engram_consolidation_failures_total", "Failed consolidation runs since start.", nil, nil)
	descConsFresh   = prometheus.NewDesc("engram_consolidation_freshness_seconds", "Seconds since the last successful consolidation run.", nil, nil)
	descSnapTotal   = prometheus.NewDesc("engramd_index_snapshots_total", "HNSW index snapshots written into the store since start (backups, the background loop), by result.", []string{"result"}, nil)
	descSnapLast    = prometheus.NewDesc("engramd_index_snapshot_last_timestamp_seconds", "Unix time when the last index snapshot began: a crash or a restore re-indexes what was written after it.", nil, nil)
	descSnapDur     = prometheus.NewDesc("engramd_index_snapshot_duration_seconds", "How long the last index snapshot took to write.", nil, nil)
	descPebbleDisk  = prometheus.NewDesc("engramd_pebble_disk_usage_bytes", "Bytes of sstables, WAL and other pebble files.", nil, nil)
	descPebbleWAL   = prometheus.NewDesc("engramd_pebble_wal_bytes_written_total", "Bytes written to pebble's WAL.", nil, nil)
	descPebbleL0    = prometheus.NewDesc("engramd_pebble_l0_files", "Sstables in L0.", nil, nil)
	descPebbleRAmp  = prometheus.NewDesc("engramd_pebble_read_amplification", "Pebble read amplification.", nil, nil)
	descPebbleComp  = prometheus.NewDesc("engramd_pebble_compactions_total", "Pebble compactions.", nil, nil)
	descPebbleFlush = prometheus.NewDesc("engramd_pebble_flushes_total", "Pebble memtable flushes.", nil, nil)
	descPebbleDebt  = prometheus.NewDesc("engramd_pebble_compaction_debt_bytes", "Estimated bytes to compact for a stable LSM.", nil, nil)
	descPebbleCache = prometheus.NewDesc("engramd_pebble_block_cache_events_total", "Pebble block cache hits and misses.", []string{"event"}, nil)
)

func describeEngine(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHotRatio, descHotEntries, descHotEvents, descIndexNodes, descIndexPend, descIndexBytes, descIndexRelink, descBounded, descRetired, descEdges, descBeliefs,
		descConsRuns, descConsFails, descConsFresh, descSnapTotal, descSnapLast, descSnapDur, descPebbleDisk, descPebbleWAL, descPebbleL0, descPebbleRAmp, descPebbleComp, descPebbleFlush, descPebbleDebt, descPebbleCache} {
		ch <- d
	}
}

func collectEngine(s *Server, ch chan<- prometheus.Metric) {
	st, err := s.store.Stats()
	if err != nil {
		return // closed: nothing to report
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	g(descHotRatio, st.Hot.HitRatio())
	g(descBounded, float64(s.store.BoundedMemory()))
	g(descHotEntries, float64(st.Hot.Entries))
	c(descHotEvents, float64(st.Hot.Hits), "hit")
	c(descHotEvents, float64(st.Hot.Misses), "miss")
	c(descHotEvents, float64(st.Hot.Promotions), "promotion")
	c(descHotEvents, float64(st.Hot.Demotions), "demotion")
	for _, sp := range st.Spaces {
		g(descIndexNodes, float64(sp.Index.Nodes), sp.ID)
		g(descIndexPend, float64(sp.Index.Pending), sp.ID)
		g(descIndexBytes, float64(sp.Index.Bytes), sp.ID)
		c(descIndexRelink, float64(sp.Index.Relinked), sp.ID)
		g(descRetired, float64(sp.Retired), sp.ID)
		g(descEdges, float64(sp.Edges), sp.ID)
		g(descBeliefs, float64(sp.Beliefs), sp.ID)
	}
	c(descConsRuns, float64(st.Consolidation.Runs))
	c(descConsFails, float64(st.Consolidation.Failures))
	if !st.Consolidation.LastRun.IsZero() {
		g(descConsFresh, time.Since(st.Consolidation.LastRun).Seconds())
	}
	c(descSnapTotal, float64(st.IndexSnapshots.Taken), "ok")
	c(descSnapTotal, float64(st.IndexSnapshots.Failed), "failed")
	if !st.IndexSnapshots.LastAt.IsZero() {
		g(descSnapLast, float64(st.IndexSnapshots.LastAt.UnixNano())/1e9)
		g(descSnapDur, st.IndexSnapshots.LastDuration.Seconds())
	}
	p := st.Pebble
	g(descPebbleDisk, float64(p.DiskSpaceUsage))
	c(descPebbleWAL, float64(p.WALBytesWritten))
	g(descPebbleL0, float64(p.L0Files))
	g(descPebbleRAmp, float64(p.ReadAmp))
	c(descPebbleComp, float64(p.Compactions))
	c(descPebbleFlush, float64(p.Flushes))
	g(descPebbleDebt, float64(p.CompactionDebt))
	c(descPebbleCache, float64(p.BlockCacheHits), "hit")
	c(descPebbleCache, float64(p.BlockCacheMisses), "miss")
}
