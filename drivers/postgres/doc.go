// Package postgres drives a PostgreSQL server (pgx v5) with the workload, so
// that the engine can be compared with a database people already run.
//
// Data model: one table per memory space, <schema>."mem_<space>" (schema
// engram_bench by default), with id text primary key, content text,
// confidence real, embedding real[] (normalised to unit length by the driver)
// and created_at. Tables are created when a space is first written. A store is
// one INSERT ... ON CONFLICT (id) DO UPDATE, committed on its own (durable
// when synchronous_commit is on); store_batch and preload batches are one
// pipelined batch in one implicit transaction.
//
// Search is exact, in SQL: without pgvector, the cosine of two unit vectors is
// their dot product, computed per row as sum(a*b) over unnest(embedding,
// $query) and ranked with ORDER BY ... LIMIT k — a sequential scan of the
// space's table on every query. pgvector is not in Debian 12's packages; when
// the server has it (detected when the driver opens: installed, or available
// and creatable), the column is vector(dim) and the query orders by the <=>
// cosine distance, still without an index, so recall stays exact and
// comparable with the engine's. Option vector=array forces the real[] path,
// vector=pgvector requires pgvector.
//
// Ops: store, store_batch, recall_by_id, recall_by_cue, embedding_search,
// forget. pattern_completion, spreading_activation and consolidation have no
// SQL equivalent here and fail with drivers.ErrUnsupported (shown as n/a).
//
// Target (--target): a postgres:// URL or a libpq key=value string. Options
// (--driver-opt): schema=S (default engram_bench); fresh=false keeps tables an
// earlier run left in the schema (by default the schema is dropped and
// recreated when the driver opens, so each run starts from an empty data set);
// vector=auto|array|pgvector.
//
// Concurrency: a Driver is safe for concurrent use; its pool holds up to the
// run's concurrency plus a few connections (the server's max_connections must
// allow that).
//
// Adding an op: add a case to Do with one statement (or one batch) per op and
// test it against the real server in postgres_test.go.
package postgres
