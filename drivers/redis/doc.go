// Package redis drives a Redis server (go-redis v9) with the workload, so that
// the engine can be compared with a store people already run.
//
// Data model: memory spaces are key prefixes. Memory <id> of space <s> is the
// hash <prefix><s>:m:<id> with fields content (text), conf (decimal text) and
// emb (the embedding normalised to unit length, as little-endian float32
// bytes); the set <prefix><s>:ids lists the space's memory ids. A store is one
// MULTI/EXEC (HSET + SADD); store_batch is one MULTI/EXEC for the whole batch.
//
// Search is an exact scan in the client, and is documented as such: Redis 7
// (Debian 12's redis-server) has no vector index, so recall_by_cue and
// embedding_search page through the space's id set (SSCAN, 1000 ids per page),
// fetch the embeddings with pipelined HGETs and rank them by cosine in Go.
// Every query moves every embedding of the space over the wire (3 KiB each at
// 768 dimensions): its cost grows with the space, which is what a Redis user
// without a vector module would live with. Its recall is exact, like the
// engine's. A server with a search module is detected and reported, not used.
//
// Ops: store, store_batch, recall_by_id, recall_by_cue, embedding_search,
// forget. pattern_completion, spreading_activation and consolidation have no
// Redis equivalent and fail with drivers.ErrUnsupported (shown as n/a).
//
// Target (--target): host:port or a redis:// URL. Options (--driver-opt):
// prefix=P (key prefix, default "engram-bench:"); fresh=false keeps keys left
// under the prefix by an earlier run (by default they are deleted when the
// driver opens, so each run starts from an empty data set); timeout=D (socket
// read/write timeout, default 30s). go-redis's own retries are off: one
// attempt per op, as every driver.
//
// Concurrency: a Driver is safe for concurrent use; its connection pool holds
// up to the run's concurrency plus a few connections.
//
// Adding an op: add a case to Do, keep one round trip (or one pipeline) per
// op where Redis allows it, and test it against the real server in
// redis_test.go.
package redis
