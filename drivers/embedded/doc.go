// Package embedded drives the engine in-process: no network, no
// serialisation, so what it measures is the engine itself.
//
// Every op kind maps onto the engine: store → Remember, store_batch →
// RememberBatch, recall_by_id → Get (checks the content read back),
// recall_by_cue → Recall (mode, threshold, max_results; a hit when the
// aimed-at memory is among the results at or above the threshold),
// embedding_search → Nearest (the HNSW index; a hit when the aimed-at memory
// is among the k results), spreading_activation → Spread (seeded with the
// op's memory, depth hops, the op's threshold and max results),
// pattern_completion → Complete (a hit when the best match on the known
// dimensions is the aimed-at memory), consolidation → Consolidate, forget →
// Delete.
//
// Options (--driver-opt key=value):
//
//	slowdown=F                 plant a regression of F (0.25 = every op about 25% slower)
//	autolink=on|off            auto_link new memories (default on: spreading needs a graph)
//	hot_capacity=N             memories in the hot tier (default 10000; 0 disables)
//	ef_search=N                HNSW search candidate list (default 96)
//	index_m=N                  HNSW links per node, 3N on layer 0 (default 16)
//	ef_construction=N          HNSW candidate list while inserting (default 128, at least index_m)
//	consolidation_interval=D   background consolidation every D (e.g. 10s; default off)
//	disk-faults=on|off         open the engine on chaos's switchable disk wrapper (DiskFS), so
//	                           chaos drills can make its disk slow or failing while it runs
//
// The engine's data lives in Config.DataDir; Config.NoSync switches it to
// acknowledging before fsync.
//
// It is in the "drivers" room: ops flow in from the runner, results go back
// as errors (classified: not_found, invalid, corrupt, storage_failed) and the
// op's Scored/Hit flags.
//
// Concurrency: a Driver is safe for concurrent use (the engine is).
//
// Adding an op kind: map it in Do onto one engine call, set op.Scored and
// op.Hit when the result can be checked against op.Target, classify errors
// with classify, and extend TestEveryOpKind's scenario weights.
package embedded
