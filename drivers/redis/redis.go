package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/viterin/vek/vek32"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// Defaults for the driver's options.
const (
	DefaultPrefix  = "engram-bench:"
	DefaultTimeout = 30 * time.Second
	// scanPage is the SSCAN COUNT hint: ids fetched per page of a search.
	scanPage = 1000
)

// Driver runs ops against one Redis server.
type Driver struct {
	c       *goredis.Client
	prefix  string
	fresh   bool
	dim     int
	version string
	modules []string
}

var (
	_ drivers.Driver    = (*Driver)(nil)
	_ drivers.Prober    = (*Driver)(nil)
	_ drivers.Preloader = (*Driver)(nil)
	_ drivers.Describer = (*Driver)(nil)
)

func init() {
	drivers.Register(drivers.Meta{
		Name: "redis",
		Help: "a Redis server (--target host:port): hashes per memory, exact search scanned in the client",
		New: func(ctx context.Context, cfg drivers.Config) (drivers.Driver, error) {
			return New(ctx, cfg)
		},
	})
}

// New connects to cfg.Target (host:port or redis:// URL) and, unless the
// option fresh=false is given, deletes what earlier runs left under the prefix.
func New(ctx context.Context, cfg drivers.Config) (*Driver, error) {
	if cfg.Target == "" {
		return nil, errors.New("redis driver: --target host:port (or redis://...) is required")
	}
	var opt *goredis.Options
	if strings.Contains(cfg.Target, "://") {
		o, err := goredis.ParseURL(cfg.Target)
		if err != nil {
			return nil, fmt.Errorf("redis driver: target %q: %w", cfg.Target, err)
		}
		opt = o
	} else {
		if _, _, err := net.SplitHostPort(cfg.Target); err != nil {
			return nil, fmt.Errorf("redis driver: target %q: want host:port or redis://host:port/db: %v", cfg.Target, err)
		}
		opt = &goredis.Options{Addr: cfg.Target}
	}
	d := &Driver{prefix: DefaultPrefix, fresh: true, dim: cfg.Dim}
	timeout := DefaultTimeout
	for k, v := range cfg.Options {
		switch k {
		case "prefix":
			d.prefix = v
		case "fresh":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("redis driver option fresh=%q: want true or false", v)
			}
			d.fresh = b
		case "timeout":
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("redis driver option timeout=%q: want a duration such as 30s", v)
			}
			timeout = t
		default:
			return nil, fmt.Errorf("redis driver option %q: unknown (have prefix, fresh, timeout)", k)
		}
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = drivers.DefaultConcurrency
	}
	opt.PoolSize = conc + 4
	opt.MaxRetries = -1 // one attempt per op
	opt.ReadTimeout, opt.WriteTimeout = timeout, timeout
	opt.PoolTimeout = timeout
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	d.c = goredis.NewClient(opt)
	return d, nil
}

// Close closes the connection pool.
func (d *Driver) Close() error { return d.c.Close() }

// Probe implements drivers.Prober: PING, the server version and modules,
// then (fresh) the deletion of earlier runs' keys.
func (d *Driver) Probe(ctx context.Context) error {
	if err := d.c.Ping(ctx).Err(); err != nil {
		return classify(err)
	}
	info, err := d.c.Info(ctx, "server").Result()
	if err != nil {
		return classify(err)
	}
	d.version = "redis " + infoField(info, "redis_version")
	if mods, err := d.c.Do(ctx, "MODULE", "LIST").Slice(); err == nil {
		for _, m := range mods {
			if name := moduleName(m); name != "" {
				d.modules = append(d.modules, name)
			}
		}
	}
	if d.fresh {
		if _, err := d.Reset(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Reset deletes every key under the driver's prefix and returns how many.
func (d *Driver) Reset(ctx context.Context) (int64, error) {
	var n int64
	var cursor uint64
	for {
		keys, next, err := d.c.Scan(ctx, cursor, escapeGlob(d.prefix)+"*", 1000).Result()
		if err != nil {
			return n, fmt.Errorf("redis driver: delete keys under %q: %w", d.prefix, err)
		}
		if len(keys) > 0 {
			del, err := d.c.Unlink(ctx, keys...).Result()
			if err != nil {
				return n, fmt.Errorf("redis driver: delete keys under %q: %w", d.prefix, err)
			}
			n += del
		}
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}

// Describe implements drivers.Describer.
func (d *Driver) Describe() string {
	v := d.version
	if v == "" {
		v = "redis"
	}
	s := v + "; search: exact scan in the client (SSCAN ids, pipelined HGET of every embedding, cosine in Go)"
	for _, m := range d.modules {
		if m == "search" || m == "vectorset" {
			s += "; module " + m + " present but not used (the exact scan keeps recall comparable)"
		}
	}
	return s
}

func (d *Driver) memKey(space, id string) string { return d.prefix + space + ":m:" + id }
func (d *Driver) idsKey(space string) string     { return d.prefix + space + ":ids" }

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, op *workloads.Op) error {
	switch op.Kind {
	case workloads.KindStore:
		_, err := d.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			d.queueStore(ctx, p, op.Space, op.Key, op.Confidence, op.Embedding)
			return nil
		})
		return classify(err)
	case workloads.KindStoreBatch:
		_, err := d.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			for n := 0; n < op.Count; n++ {
				d.queueStore(ctx, p, op.Space, workloads.MemberKey(op.Index, n), op.Confidence, op.Vector(n))
			}
			return nil
		})
		return classify(err)
	case workloads.KindRecallByID:
		content, err := d.c.HGet(ctx, d.memKey(op.Space, op.Key.ID()), "content").Result()
		if err != nil {
			return classify(err)
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
		var del *goredis.IntCmd
		_, err := d.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			del = p.Del(ctx, d.memKey(op.Space, op.Key.ID()))
			p.SRem(ctx, d.idsKey(op.Space), op.Key.ID())
			return nil
		})
		if err != nil {
			return classify(err)
		}
		if del.Val() == 0 {
			return drivers.WithClass("not_found", fmt.Errorf("memory %s/%s: not found", op.Space, op.Key.ID()))
		}
		return nil
	default:
		return fmt.Errorf("%s on redis: %w", op.Kind, drivers.ErrUnsupported)
	}
}

func (d *Driver) queueStore(ctx context.Context, p goredis.Pipeliner, space string, k workloads.Key, conf float32, vec []float32) {
	id := k.ID()
	p.HSet(ctx, d.memKey(space, id),
		"content", workloads.Content(k),
		"conf", strconv.FormatFloat(float64(conf), 'g', -1, 32),
		"emb", encodeVector(vec))
	p.SAdd(ctx, d.idsKey(space), id)
}

// Preload implements drivers.Preloader: one pipeline (not a transaction) per call.
func (d *Driver) Preload(ctx context.Context, ops []workloads.Op) error {
	_, err := d.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range ops {
			d.queueStore(ctx, p, ops[i].Space, ops[i].Key, ops[i].Confidence, ops[i].Embedding)
		}
		return nil
	})
	return classify(err)
}

// Match is one search result: a memory id and its cosine similarity.
type Match struct {
	ID    string
	Score float32
}

// Search returns the k memories of a space most similar (cosine) to query,
// best first (ties by id), by scanning every embedding of the space.
func (d *Driver) Search(ctx context.Context, space string, query []float32, k int) ([]Match, error) {
	if k < 1 {
		return nil, drivers.WithClass("invalid", fmt.Errorf("k=%d: must be >= 1", k))
	}
	q := append([]float32(nil), query...)
	if !normalize(q) {
		return nil, drivers.WithClass("invalid", errors.New("query embedding is the zero vector or not finite"))
	}
	h := make(topK, 0, k+1)
	vec := make([]float32, len(q))
	var cursor uint64
	for {
		ids, next, err := d.c.SScan(ctx, d.idsKey(space), cursor, "", scanPage).Result()
		if err != nil {
			return nil, classify(err)
		}
		if len(ids) > 0 {
			cmds, err := d.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for _, id := range ids {
					p.HGet(ctx, d.memKey(space, id), "emb")
				}
				return nil
			})
			if err != nil && !errors.Is(err, goredis.Nil) {
				return nil, classify(err)
			}
			for i, c := range cmds {
				b, err := c.(*goredis.StringCmd).Bytes()
				if err != nil {
					continue // forgotten between SSCAN and HGET
				}
				if !decodeVector(vec, b) {
					return nil, drivers.WithClass("corrupt", fmt.Errorf("memory %s/%s: embedding of %d bytes, want %d", space, ids[i], len(b), 4*len(vec)))
				}
				h.offer(Match{ID: ids[i], Score: vek32.Dot(q, vec)}, k)
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	sort.Slice(h, func(a, b int) bool {
		if h[a].Score != h[b].Score {
			return h[a].Score > h[b].Score
		}
		return h[a].ID < h[b].ID
	})
	return h, nil
}

// encodeVector returns vec normalised to unit length, as little-endian float32.
func encodeVector(vec []float32) []byte {
	var sum float64
	for _, v := range vec {
		sum += float64(v) * float64(v)
	}
	inv := 1.0
	if sum > 0 {
		inv = 1 / math.Sqrt(sum)
	}
	b := make([]byte, 4*len(vec))
	for i, v := range vec {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(float64(v)*inv)))
	}
	return b
}

// decodeVector fills dst from little-endian float32 bytes; false when the
// length does not match.
func decodeVector(dst []float32, b []byte) bool {
	if len(b) != 4*len(dst) {
		return false
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return true
}

// normalize scales v to unit length; false for a zero or non-finite vector.
func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
	return true
}

// topK is a min-heap on Score holding the best k matches seen.
type topK []Match

func (h *topK) offer(m Match, k int) {
	if len(*h) < k {
		*h = append(*h, m)
		for i := len(*h) - 1; i > 0; {
			p := (i - 1) / 2
			if !less((*h)[i], (*h)[p]) {
				break
			}
			(*h)[p], (*h)[i] = (*h)[i], (*h)[p]
			i = p
		}
		return
	}
	if !less((*h)[0], m) {
		return
	}
	(*h)[0] = m
	for i, n := 0, len(*h); ; {
		l, s := 2*i+1, i
		if l < n && less((*h)[l], (*h)[s]) {
			s = l
		}
		if r := l + 1; r < n && less((*h)[r], (*h)[s]) {
			s = r
		}
		if s == i {
			return
		}
		(*h)[i], (*h)[s] = (*h)[s], (*h)[i]
		i = s
	}
}

// less orders matches worst first: lower score, then (for equal scores) the
// larger id, so the result keeps the smaller ids on ties as the sort does.
func less(a, b Match) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID > b.ID
}

// classify maps go-redis errors onto result classes.
func classify(err error) error {
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.Nil):
		return drivers.WithClass("not_found", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return drivers.WithClass("connection_refused", err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return drivers.WithClass("timeout", err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, goredis.ErrClosed):
		return drivers.WithClass("connection", err)
	}
	var re goredis.Error
	if errors.As(err, &re) {
		return drivers.WithClass("server_error", err)
	}
	return err
}

// infoField returns a field of an INFO reply ("redis_version:7.0.15").
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return "?"
}

// moduleName reads the name of one MODULE LIST entry (RESP2 flat list or RESP3 map).
func moduleName(m any) string {
	switch e := m.(type) {
	case []any:
		for i := 0; i+1 < len(e); i += 2 {
			if k, _ := e[i].(string); k == "name" {
				s, _ := e[i+1].(string)
				return s
			}
		}
	case map[any]any:
		s, _ := e["name"].(string)
		return s
	case map[string]any:
		s, _ := e["name"].(string)
		return s
	}
	return ""
}

// escapeGlob escapes SCAN MATCH pattern characters in a literal prefix.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
