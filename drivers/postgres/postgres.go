package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// DefaultSchema is the schema the driver's tables live in.
const DefaultSchema = "engram_bench"

// Vector modes.
const (
	vectorAuto     = "auto"
	vectorArray    = "array"
	vectorPgvector = "pgvector"
)

// Driver runs ops against one PostgreSQL database.
type Driver struct {
	pool    *pgxpool.Pool
	schema  string
	fresh   bool
	mode    string // requested: auto, array, pgvector
	dim     int
	version string

	pgvector   bool   // chosen after Probe
	pgvNote    string // what detection found
	mu         sync.Mutex
	tables     map[string]bool // spaces whose table exists
	tableNames map[string]string
}

var (
	_ drivers.Driver    = (*Driver)(nil)
	_ drivers.Prober    = (*Driver)(nil)
	_ drivers.Preloader = (*Driver)(nil)
	_ drivers.Describer = (*Driver)(nil)
)

func init() {
	drivers.Register(drivers.Meta{
		Name: "postgres",
		Help: "a PostgreSQL database (--target postgres://...): a table per space, exact cosine search in SQL",
		New: func(ctx context.Context, cfg drivers.Config) (drivers.Driver, error) {
			return New(ctx, cfg)
		},
	})
}

// New builds a driver for cfg.Target; it connects lazily (Probe checks the
// server, detects pgvector and, unless fresh=false, recreates the schema).
func New(ctx context.Context, cfg drivers.Config) (*Driver, error) {
	if cfg.Target == "" {
		return nil, errors.New("postgres driver: --target postgres://user@host:port/db is required")
	}
	pc, err := pgxpool.ParseConfig(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("postgres driver: target %q: %v", cfg.Target, err)
	}
	d := &Driver{schema: DefaultSchema, fresh: true, mode: vectorAuto, dim: cfg.Dim, tables: map[string]bool{}, tableNames: map[string]string{}}
	for k, v := range cfg.Options {
		switch k {
		case "schema":
			if v == "" {
				return nil, errors.New("postgres driver option schema=\"\": must not be empty")
			}
			d.schema = v
		case "fresh":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("postgres driver option fresh=%q: want true or false", v)
			}
			d.fresh = b
		case "vector":
			if v != vectorAuto && v != vectorArray && v != vectorPgvector {
				return nil, fmt.Errorf("postgres driver option vector=%q: want auto, array or pgvector", v)
			}
			d.mode = v
		default:
			return nil, fmt.Errorf("postgres driver option %q: unknown (have schema, fresh, vector)", k)
		}
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = drivers.DefaultConcurrency
	}
	pc.MaxConns = int32(conc + 4)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres driver: %w", err)
	}
	d.pool = pool
	return d, nil
}

// Close closes the connection pool.
func (d *Driver) Close() error {
	d.pool.Close()
	return nil
}

// Probe implements drivers.Prober: the server version, pgvector detection,
// and (fresh) a new empty schema.
func (d *Driver) Probe(ctx context.Context) error {
	if err := d.pool.QueryRow(ctx, "SHOW server_version").Scan(&d.version); err != nil {
		return classify(err)
	}
	if err := d.detectPgvector(ctx); err != nil {
		return err
	}
	schema := pgx.Identifier{d.schema}.Sanitize()
	if d.fresh {
		if _, err := d.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("postgres driver: drop schema %s: %w", d.schema, classify(err))
		}
	}
	if _, err := d.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil && !isDuplicate(err) {
		return fmt.Errorf("postgres driver: create schema %s: %w", d.schema, classify(err))
	}
	d.mu.Lock()
	d.tables = map[string]bool{}
	d.mu.Unlock()
	return nil
}

// detectPgvector decides between real[] and pgvector.
func (d *Driver) detectPgvector(ctx context.Context) error {
	d.pgvector = false
	if d.mode == vectorArray {
		d.pgvNote = "real[] (vector=array)"
		return nil
	}
	var installed, available *string
	err := d.pool.QueryRow(ctx, `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
		(SELECT default_version FROM pg_available_extensions WHERE name = 'vector')`).Scan(&installed, &available)
	if err != nil {
		return classify(err)
	}
	switch {
	case installed != nil:
		d.pgvector, d.pgvNote = true, "pgvector "+*installed
	case available != nil:
		if _, err := d.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
			d.pgvNote = fmt.Sprintf("real[] (pgvector %s available but CREATE EXTENSION failed: %v)", *available, err)
		} else {
			d.pgvector, d.pgvNote = true, "pgvector "+*available
		}
	default:
		d.pgvNote = "real[] (pgvector not installed)"
	}
	if d.mode == vectorPgvector && !d.pgvector {
		return fmt.Errorf("postgres driver option vector=pgvector: %s", d.pgvNote)
	}
	return nil
}

// Describe implements drivers.Describer.
func (d *Driver) Describe() string {
	if d.pgvector {
		return fmt.Sprintf("PostgreSQL %s; search: exact, %s, ORDER BY embedding <=> query (cosine distance) without an index", d.version, d.pgvNote)
	}
	return fmt.Sprintf("PostgreSQL %s; search: exact cosine in SQL, %s, sum(a*b) over unnest per row, sequential scan", d.version, d.pgvNote)
}

// table returns the quoted table name of a space.
func (d *Driver) table(space string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tableNames[space]
	if !ok {
		t = pgx.Identifier{d.schema, "mem_" + space}.Sanitize()
		d.tableNames[space] = t
	}
	return t
}

// ensureTable creates a space's table the first time it is written.
func (d *Driver) ensureTable(ctx context.Context, space string) error {
	d.mu.Lock()
	done := d.tables[space]
	d.mu.Unlock()
	if done {
		return nil
	}
	col := "real[]"
	if d.pgvector {
		col = "vector"
		if d.dim > 0 {
			col = fmt.Sprintf("vector(%d)", d.dim)
		}
	}
	sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		id text PRIMARY KEY,
		content text NOT NULL,
		confidence real NOT NULL,
		embedding %s NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now())`, d.table(space), col)
	// Two sessions creating the same table at once can collide on the
	// catalog's unique index even with IF NOT EXISTS: the loser's table exists.
	if _, err := d.pool.Exec(ctx, sql); err != nil && !isDuplicate(err) {
		return fmt.Errorf("create table for space %s: %w", space, classify(err))
	}
	d.mu.Lock()
	d.tables[space] = true
	d.mu.Unlock()
	return nil
}

func (d *Driver) upsertSQL(space string) string {
	cast := "$4::real[]"
	if d.pgvector {
		cast = "$4::real[]::vector"
	}
	return "INSERT INTO " + d.table(space) + " (id, content, confidence, embedding) VALUES ($1, $2, $3, " + cast + `)
		ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, confidence = EXCLUDED.confidence, embedding = EXCLUDED.embedding`
}

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, op *workloads.Op) error {
	switch op.Kind {
	case workloads.KindStore:
		if err := d.ensureTable(ctx, op.Space); err != nil {
			return err
		}
		_, err := d.pool.Exec(ctx, d.upsertSQL(op.Space), op.Key.ID(), workloads.Content(op.Key), op.Confidence, unit(op.Embedding))
		return classify(err)
	case workloads.KindStoreBatch:
		if err := d.ensureTable(ctx, op.Space); err != nil {
			return err
		}
		b := &pgx.Batch{}
		sql := d.upsertSQL(op.Space)
		for n := 0; n < op.Count; n++ {
			k := workloads.MemberKey(op.Index, n)
			b.Queue(sql, k.ID(), workloads.Content(k), op.Confidence, unit(op.Vector(n)))
		}
		return classify(d.pool.SendBatch(ctx, b).Close())
	case workloads.KindRecallByID:
		var content string
		err := d.pool.QueryRow(ctx, "SELECT content FROM "+d.table(op.Space)+" WHERE id = $1", op.Key.ID()).Scan(&content)
		if err != nil {
			return classifyRead(err, op)
		}
		op.Scored, op.Hit = true, content == workloads.Content(op.Key)
		if !op.Hit {
			return drivers.WithClass("wrong_content", fmt.Errorf("memory %s: content differs from what was stored", op.Key.ID()))
		}
		return nil
	case workloads.KindRecall, workloads.KindSearch:
		threshold := float32(math.Inf(-1))
		if op.Kind == workloads.KindRecall {
			threshold = op.Threshold
		}
		res, err := d.Search(ctx, op.Space, op.Embedding, op.K)
		if err != nil {
			return err
		}
		if op.HasTarget {
			op.BeginScore()
			for rank, m := range res {
				if m.Score < threshold {
					break
				}
				op.ScoreResult(rank, m.ID)
			}
		}
		return nil
	case workloads.KindForget:
		tag, err := d.pool.Exec(ctx, "DELETE FROM "+d.table(op.Space)+" WHERE id = $1", op.Key.ID())
		if err != nil {
			return classifyRead(err, op)
		}
		if tag.RowsAffected() == 0 {
			return drivers.WithClass("not_found", fmt.Errorf("memory %s/%s: not found", op.Space, op.Key.ID()))
		}
		return nil
	default:
		return fmt.Errorf("%s on postgres: %w", op.Kind, drivers.ErrUnsupported)
	}
}

// Preload implements drivers.Preloader: one batch, one implicit transaction.
func (d *Driver) Preload(ctx context.Context, ops []workloads.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := d.ensureTable(ctx, ops[0].Space); err != nil {
		return err
	}
	b := &pgx.Batch{}
	sql := d.upsertSQL(ops[0].Space)
	for i := range ops {
		b.Queue(sql, ops[i].Key.ID(), workloads.Content(ops[i].Key), ops[i].Confidence, unit(ops[i].Embedding))
	}
	return classify(d.pool.SendBatch(ctx, b).Close())
}

// Match is one search result: a memory id and its cosine similarity.
type Match struct {
	ID    string
	Score float32
}

// Search returns the k memories of a space most similar (cosine) to query,
// best first (ties by id), computed exactly by the server.
func (d *Driver) Search(ctx context.Context, space string, query []float32, k int) ([]Match, error) {
	if k < 1 {
		return nil, drivers.WithClass("invalid", fmt.Errorf("k=%d: must be >= 1", k))
	}
	q := unit(query)
	if q == nil {
		return nil, drivers.WithClass("invalid", errors.New("query embedding is the zero vector or not finite"))
	}
	var sql string
	if d.pgvector {
		sql = "SELECT id, 1 - (embedding <=> $1::real[]::vector) FROM " + d.table(space) +
			" ORDER BY embedding <=> $1::real[]::vector, id LIMIT $2"
	} else {
		sql = "SELECT id, (SELECT sum(a::float8 * b) FROM unnest(embedding, $1::real[]) AS t(a, b)) AS score FROM " + d.table(space) +
			" ORDER BY score DESC, id LIMIT $2"
	}
	rows, err := d.pool.Query(ctx, sql, q, k)
	if err != nil {
		if isUndefinedTable(err) {
			return nil, nil // nothing stored in this space yet
		}
		return nil, classify(err)
	}
	out := make([]Match, 0, k)
	for rows.Next() {
		var id string
		var score float64
		if err := rows.Scan(&id, &score); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		out = append(out, Match{ID: id, Score: float32(score)})
	}
	if err := rows.Err(); err != nil {
		if isUndefinedTable(err) {
			return nil, nil
		}
		return nil, classify(err)
	}
	return out, nil
}

// unit returns v normalised to unit length (a copy), nil for a zero or
// non-finite vector.
func unit(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return nil
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// classifyRead is classify, with a missing table (nothing stored in the
// space yet) read as a missing memory.
func classifyRead(err error, op *workloads.Op) error {
	if errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err) {
		return drivers.WithClass("not_found", fmt.Errorf("memory %s/%s: not found", op.Space, op.Key.ID()))
	}
	return classify(err)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUndefinedTable(err error) bool { return pgCode(err) == "42P01" }

// isDuplicate: a concurrent CREATE ... IF NOT EXISTS lost the race.
func isDuplicate(err error) bool {
	c := pgCode(err)
	return c == "42P07" || c == "23505" || c == "42P06"
}

// classify maps pgx errors onto result classes.
func classify(err error) error {
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return drivers.WithClass("connection_refused", err)
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), errors.As(err, &ne) && ne.Timeout():
		return drivers.WithClass("timeout", err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return drivers.WithClass("connection", err)
	}
	switch c := pgCode(err); {
	case c == "":
		return err
	case c == "53300": // too_many_connections
		return drivers.WithClass("too_many_connections", err)
	case c[:2] == "22" || c[:2] == "23":
		return drivers.WithClass("invalid", err)
	default:
		return drivers.WithClass("server_error", err)
	}
}
