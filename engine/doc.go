// Package engine is the system under test: a cognitive memory store on
// cockroachdb/pebble that engram-bench drives in-process (the embedded
// driver) or over HTTP (engramd).
//
// It is the "engine" room: it imports nothing from the harness. What flows
// in: memories (content, a Dim-dimensional embedding, a confidence) in named
// memory spaces, cues, partial embeddings and graph edits. What flows out:
// memories, matches, activations, completions, consolidated beliefs and
// Stats.
//
// # What it does
//
//   - Storage: [Store.Remember], [Store.RememberWith] (auto_link with the
//     links made), [Store.RememberBatch] (atomic bulk load), [Store.Get],
//     [Store.Delete] (forget), [Store.List]. Writes are durable when they
//     return (pebble Sync, shared by concurrent writers through pebble's
//     group commit) unless Options.NoSync, which bounds the loss window to
//     Options.SyncInterval and reports a possible loss in [Store.Recovery]
//     after a crash. Every record carries a CRC32C checksum verified on
//     every read: a corrupt record is an error wrapping ErrCorrupt, never
//     data.
//   - Vector index: one HNSW graph per space ([Store.Nearest]; cosine on
//     unit vectors, SIMD dot products), safe for concurrent readers and
//     writers, with deletes. [Store.Search] is the exact scan kept for
//     verification. Remember returns after its durable write; a background
//     indexer inserts the memory into the graph, and until then searches
//     find it by exact scan of the indexing queue. The graph is snapshotted
//     into pebble at Close, by [Store.Backup] and in the background
//     (Options.IndexSnapshotEvery), while writers keep going; Open reuses
//     the newest snapshot and indexes only the memories it lacks
//     ([RecoveryInfo].IndexReused, Reindexed).
//   - Graph: weighted, symmetric, persisted edges: auto links (a new memory
//     to its LinkK most similar memories with similarity ≥ LinkThreshold,
//     weight = similarity), [Store.Associate], and member edges from
//     consolidation. [Store.Edges] lists them.
//   - [Store.Spread]: spreading activation, activation(child) =
//     activation(parent) × weight × decay per hop, up to MaxHops, pruned below
//     a threshold, capped in visited memories; deterministic for a graph.
//   - [Store.Recall]: modes similarity, spreading and hybrid, split into
//     vivid (direct matches) and associated (reached by spreading) results;
//     recall reinforces what it returns (last access, recall count).
//   - Decay: forgetting curves (exponential for episodic, power law for
//     semantic memories) applied at read time to Memory.DecayedConfidence;
//     [Store.Decay] forgets memories that fell below a floor.
//   - Consolidation: [Store.Consolidate] clusters recent episodes into
//     semantic memories (centroid embedding, member edges, support count),
//     on demand and every Options.ConsolidationInterval in the background;
//     [Store.Beliefs] and [Store.Belief] list them with stable ids.
//   - [Store.Complete]: pattern completion of a partial embedding from the
//     best matches on its known dimensions.
//   - Tiers: the hot tier caches decoded memories (Options.HotCapacity) in
//     front of pebble, the warm tier; [Store.Stats] reports its hits,
//     misses, promotions and demotions, with per-space counts, index sizes,
//     consolidation runs and pebble metrics.
//   - Backups: [Store.Backup] takes a consistent full or incremental backup
//     while the store serves (a pebble checkpoint, every file copied with
//     its SHA-256 into a directory with a manifest); [Restore] verifies a
//     chain of backups completely before it writes anything
//     ([VerifyChain]) and refuses a corrupt, incomplete or foreign one with
//     an error wrapping [ErrBackup].
//
// # Pebble key layout (format version 2)
//
//	"!format"                             → format version (uvarint)
//	"!session"                            → clean-shutdown flag, NoSync durability mark
//	"!store"                              → store id, written by the first backup (backup.go)
//	's' 0 <space>                         → space record (created at)
//	'm' 0 <space> 0 <memory id>           → memory record (record.go): content, embedding,
//	                                        confidence, created at, sequence number, type
//	'a' 0 <space> 0 <memory id>           → last access and recall count
//	'e' 0 <space> 0 <from> 0 <to>         → edge weight and kind (each edge is stored both ways)
//	'c' 0 <space> 0 <belief id>           → consolidated belief: support, cohesion, citations
//	'H' 0 <space>                         → HNSW snapshot manifest: generation, parts, bytes, prefix
//	'z' 0 <space> 0 <gen> <part>          → HNSW graph snapshot, in parts of 1 MiB (64 KiB while
//	                                        serving; snapshot.go), ingested as one sstable: written
//	                                        at Close, by Backup before its checkpoint and in the
//	                                        background while serving (snaploop.go). Stores written
//	                                        before kept the parts under 'h', read until replaced
//
// Space ids are 3–64 characters from [a-z0-9_-] (Engram's rule) and memory
// ids may not contain 0x00, so the separators are unambiguous. Version 1
// stores (memory records only) open and are upgraded in place.
//
// # Memory
//
// On Open every memory's embedding is loaded into RAM, in fixed-size chunks
// of off-heap memory (so a million 768-d memories do not double the garbage
// collector's heap target), next to its metadata, edges and index links.
// Content stays in pebble and is read through the hot tier.
//
// # Concurrency
//
// A Store is safe for concurrent use. Reads of different spaces never
// contend; searches take no space-wide lock at all (per-node striped locks
// in the graph, copy-on-write edge lists). Writes to one memory id are
// serialised; writes to different ids share pebble's group commit. Long
// scans and graph walks yield the processor every few hundred steps. Close
// waits for calls in flight and background work.
//
// # Adding a new operation
//
// Validate input into a *ValidationError naming the field; take
// Store.enter/leave; resolve the space with Store.space (nil: empty); write
// through one pebble batch and Store.commit, then apply to memory under the
// locks documented on space; add a test that reopens the store; add it to
// the embedded driver and the benchmark suite.
package engine
