// Package engram drives Engram's REST API: engramd (this repository's
// server) or a real Engram. It is the network twin of the embedded driver:
// the same ops, the same ids and contents, over HTTP.
//
// Each op is one request (no retries): store → POST /api/v1/memories/remember
// with the memory's id, content, 768-d embedding and confidence; recall_by_cue
// and embedding_search → recall by embedding (GET with the cue in the URL as
// Engram reads it, or POST with a JSON body with recall=post); recall_by_id →
// GET /api/v1/memories/{id}, checking the content; spreading_activation →
// recall mode=spreading from a seed memory; pattern_completion → POST
// /api/v1/complete; consolidation → POST /api/v1/consolidations; forget →
// DELETE /api/v1/memories/{id}; store_batch → POST /api/v1/memories/batch.
// Every request carries X-Memory-Space (and, with an API key, Authorization
// and X-Memory-Space-Id).
//
// Requests are built without reflection into pooled buffers (a 768-float
// embedding is written with fixed decimals, ~5 ns a value) and sent through
// drivers/internal/h1 on keep-alive connections, a pool sized to the run's
// concurrency. Ids returned by remember are used by later by-id reads when
// the target chose its own (only those are remembered, so memory stays
// constant when the target keeps the ids it is given).
//
// Error classes: "4xx", "5xx", "overload" (503), "not_found" (404 on a read),
// "timeout", "connection_refused", "connection_reset", "protocol",
// "wrong_content"; "unsupported" when the target lacks the feature: a 400 on
// mode=spreading|hybrid (Engram's answer), or 404/405/501 on an endpoint
// only engramd has.
//
// Options (--driver-opt): recall=get|post (default get), batch=auto|on|off
// (preload through /api/v1/memories/batch; auto falls back to one request
// per memory when the target lacks it), timeout=DURATION (default 30s),
// api-key=KEY (also --api-key).
//
// Concurrency: a Driver is safe for concurrent use.
package engram

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	httpdriver "github.com/engram-bench/engram-bench/drivers/http"
	"github.com/engram-bench/engram-bench/drivers/internal/h1"
	"github.com/engram-bench/engram-bench/workloads"
)

// Driver speaks Engram's REST API.
type Driver struct {
	client     *h1.Client
	target     string
	host       string
	prefix     string // path prefix of the target URL ("" for the root)
	apiKey     string
	recallPost bool
	batch      batchMode
	conns      int

	noBatch atomic.Bool // the target answered 404/405 to the batch endpoint
	ids     sync.Map    // workloads.Key → id the target chose, when it differs
	keys    sync.Map    // and back: id the target chose → workloads.Key
	bufs    sync.Pool
}

type batchMode uint8

const (
	batchAuto batchMode = iota
	batchOn
	batchOff
)

var (
	_ drivers.Driver    = (*Driver)(nil)
	_ drivers.Prober    = (*Driver)(nil)
	_ drivers.Warmer    = (*Driver)(nil)
	_ drivers.Preloader = (*Driver)(nil)
)

// DefaultTarget is engramd's and Engram's default address.
const DefaultTarget = "http://127.0.0.1:7432"

func init() {
	drivers.Register(drivers.Meta{
		Name: "engram",
		Help: "Engram's REST API: engramd or a real Engram (--target, default " + DefaultTarget + "; --api-key)",
		New:  newFromConfig,
	})
}

// Options configure New.
type Options struct {
	// Target is the server's base URL. Default DefaultTarget.
	Target string
	// APIKey, when set, is sent as Authorization: Bearer APIKey.
	APIKey string
	// Concurrency sizes the connection pool. Default 64.
	Concurrency int
	// Timeout bounds one request. Default 30 s.
	Timeout time.Duration
	// RecallPost sends recalls as POST with a JSON body (engramd) instead of
	// GET with the cue in the URL (Engram).
	RecallPost bool
	// Batch selects how Preload stores: "auto" (default), "on", "off".
	Batch string
}

func newFromConfig(_ context.Context, cfg drivers.Config) (drivers.Driver, error) {
	o := Options{Target: cfg.Target, Concurrency: cfg.Concurrency, APIKey: cfg.Options["api-key"], Batch: cfg.Options["batch"]}
	for k, v := range cfg.Options {
		switch k {
		case "api-key", "batch":
		case "recall":
			switch v {
			case "get":
			case "post":
				o.RecallPost = true
			default:
				return nil, fmt.Errorf("engram driver option recall=%q: want get or post", v)
			}
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("engram driver option timeout=%q: want a positive duration (e.g. 5s)", v)
			}
			o.Timeout = d
		default:
			return nil, fmt.Errorf("engram driver option %q: unknown (have recall, batch, timeout, api-key)", k)
		}
	}
	return New(o)
}

// New returns a driver for o.
func New(o Options) (*Driver, error) {
	if o.Target == "" {
		o.Target = DefaultTarget
	}
	u, err := url.Parse(o.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("engram driver: --target %q: want http://host:port (or https)", o.Target)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	d := &Driver{target: o.Target, host: u.Host, prefix: strings.TrimRight(u.Path, "/"), apiKey: o.APIKey, recallPost: o.RecallPost, conns: max(o.Concurrency, 1)}
	switch o.Batch {
	case "", "auto":
	case "on":
		d.batch = batchOn
	case "off":
		d.batch = batchOff
	default:
		return nil, fmt.Errorf("engram driver option batch=%q: want auto, on or off", o.Batch)
	}
	if o.APIKey != "" && strings.ContainsAny(o.APIKey, "\r\n") {
		return nil, errors.New("engram driver: the API key contains a line break")
	}
	cfg := h1.Config{Addr: net.JoinHostPort(u.Hostname(), port), Conns: o.Concurrency, Timeout: o.Timeout}
	if u.Scheme == "https" {
		cfg.TLS = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	}
	if d.client, err = h1.New(cfg); err != nil {
		return nil, err
	}
	d.bufs.New = func() any { return &buffers{} }
	return d, nil
}

type buffers struct {
	req, body []byte
	id        []byte
}

// Close closes idle connections.
func (d *Driver) Close() error { return d.client.Close() }

// Probe implements drivers.Prober: GET /health/alive must answer 200, then
// GET /health (which needs the key when authentication is on) must not be
// refused.
func (d *Driver) Probe(ctx context.Context) error {
	b := d.get()
	defer d.put(b)
	for _, path := range []string{"/health/alive", "/health"} {
		b.req = d.head(b.req[:0], "GET", path, "", "", 0)
		resp, err := d.client.Do(ctx, b.req, true, false)
		if err != nil {
			return fmt.Errorf("GET %s%s: %w", d.target, path, err)
		}
		st, body := resp.Status, string(resp.Body)
		resp.Release()
		switch {
		case st == 401 || st == 403:
			return fmt.Errorf("GET %s%s: %d: the target refused the API key (--api-key): %s", d.target, path, st, clipS(body))
		case st != 200 && !(path == "/health" && st == 503):
			return fmt.Errorf("GET %s%s: status %d, want 200: %s", d.target, path, st, clipS(body))
		}
	}
	return nil
}

// Warm implements drivers.Warmer: the connection pool is filled to the
// run's concurrency.
func (d *Driver) Warm(ctx context.Context) error { return d.client.Warm(ctx, d.conns) }

func (d *Driver) get() *buffers  { return d.bufs.Get().(*buffers) }
func (d *Driver) put(b *buffers) { d.bufs.Put(b) }

// head appends a request line and headers; pathAndQuery is appended to the
// target's path prefix.
func (d *Driver) head(b []byte, method, pathAndQuery, space, ctype string, bodyLen int) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, d.prefix...)
	b = append(b, pathAndQuery...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, d.host...)
	b = append(b, "\r\nUser-Agent: engram-bench\r\n"...)
	if space != "" {
		b = append(b, "X-Memory-Space: "...)
		b = append(b, space...)
		b = append(b, "\r\n"...)
	}
	if d.apiKey != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, d.apiKey...)
		b = append(b, "\r\n"...)
		if space != "" {
			b = append(b, "X-Memory-Space-Id: "...)
			b = append(b, space...)
			b = append(b, "\r\n"...)
		}
	}
	if ctype != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, ctype...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(bodyLen), 10)
		b = append(b, "\r\n"...)
	} else if method == "POST" {
		b = append(b, "Content-Length: 0\r\n"...)
	}
	return append(b, "\r\n"...)
}

// send sends b.req and calls check with the status and body.
func (d *Driver) send(ctx context.Context, b *buffers, check func(status int, body []byte) error) error {
	resp, err := d.client.Do(ctx, b.req, true, false)
	if err != nil {
		return httpdriver.TransportError(ctx, err)
	}
	err = check(resp.Status, resp.Body)
	resp.Release()
	return err
}

// post builds a POST with a JSON body that is already in b.body.
func (d *Driver) post(b *buffers, path, space string) {
	b.req = d.head(b.req[:0], "POST", path, space, "application/json", len(b.body))
	b.req = append(b.req, b.body...)
}

// idOf returns the id the target knows memory k by.
func (d *Driver) idOf(k workloads.Key, dst []byte) []byte {
	if v, ok := d.ids.Load(k); ok {
		return append(dst, v.(string)...)
	}
	return k.AppendID(dst)
}

// learnID remembers the id the target returned for k when it differs.
func (d *Driver) learnID(k workloads.Key, body []byte) {
	got, ok := stringField(body, "memory_id")
	if !ok {
		return
	}
	var want [24]byte
	if string(k.AppendID(want[:0])) != string(got) {
		d.ids.Store(k, string(got))
		d.keys.Store(string(got), k)
	}
}

// statusErr classes a non-2xx answer. ext says the endpoint is an engramd
// extension (404/405/501 mean the target lacks it); modeOp says the request
// asked for spreading or hybrid recall (a 400 means the target lacks it).
func statusErr(status int, body []byte, ext, modeOp bool) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == 501, ext && (status == 404 || status == 405), modeOp && status == 400:
		return fmt.Errorf("status %d: %s: %w", status, clipS(string(body)), drivers.ErrUnsupported)
	case status == 404:
		return drivers.WithClass("not_found", fmt.Errorf("status 404: %s", clipS(string(body))))
	}
	err := httpdriver.StatusError(status)
	var ce *drivers.ClassError
	if errors.As(err, &ce) {
		ce.Err = fmt.Errorf("status %d: %s", status, clipS(string(body)))
	}
	return err
}

func clipS(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:197] + "..."
	}
	return s
}

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, op *workloads.Op) error {
	b := d.get()
	defer d.put(b)
	switch op.Kind {
	case workloads.KindStore, workloads.KindUpdate:
		b.id = op.Key.AppendID(b.id[:0])
		b.body = appendMemoryJSON(b.body[:0], string(b.id), op.Key, op.Embedding, op.Confidence)
		d.post(b, "/api/v1/memories/remember", op.Space)
		return d.send(ctx, b, func(st int, body []byte) error {
			if err := statusErr(st, body, false, false); err != nil {
				return err
			}
			d.learnID(op.Key, body)
			return nil
		})
	case workloads.KindStoreBatch:
		b.body = append(b.body[:0], `{"memories":[`...)
		for n := 0; n < op.Count; n++ {
			if n > 0 {
				b.body = append(b.body, ',')
			}
			k := workloads.MemberKey(op.Index, n)
			b.id = k.AppendID(b.id[:0])
			b.body = appendMemoryJSON(b.body, string(b.id), k, op.Vector(n), op.Confidence)
		}
		b.body = append(b.body, "]}"...)
		d.post(b, "/api/v1/memories/batch", op.Space)
		return d.send(ctx, b, func(st int, body []byte) error { return statusErr(st, body, true, false) })
	case workloads.KindRecall, workloads.KindSearch:
		threshold, mode := op.Threshold, op.Mode
		if op.Kind == workloads.KindSearch {
			threshold, mode = 0, workloads.ModeSimilarity
		}
		d.recall(b, op, threshold, mode)
		modeOp := mode != workloads.ModeSimilarity
		return d.send(ctx, b, func(st int, body []byte) error {
			if err := statusErr(st, body, false, modeOp); err != nil {
				return err
			}
			if op.HasTarget {
				d.score(op, body)
			}
			return nil
		})
	case workloads.KindReadModify:
		if err := d.readBack(ctx, b, op); err != nil {
			return err
		}
		b.id = op.Key.AppendID(b.id[:0])
		b.body = appendMemoryJSON(b.body[:0], string(b.id), op.Key, op.Embedding, op.Confidence)
		d.post(b, "/api/v1/memories/remember", op.Space)
		return d.send(ctx, b, func(st int, body []byte) error { return statusErr(st, body, false, false) })
	case workloads.KindRecallByID:
		return d.readBack(ctx, b, op)
	case workloads.KindSpread:
		d.recall(b, op, op.Threshold, workloads.ModeSpreading)
		return d.send(ctx, b, func(st int, body []byte) error { return statusErr(st, body, false, true) })
	case workloads.KindComplete:
		b.body = append(b.body[:0], `{"partial_episode":{"known_fields":{},"partial_embedding":`...)
		b.body = appendVector(b.body, op.Embedding, 6)
		b.body = append(b.body, `,"cue_strength":0.7},"config":{"num_hypotheses":`...)
		b.body = strconv.AppendInt(b.body, int64(max(op.K, 1)), 10)
		b.body = append(b.body, "}}"...)
		d.post(b, "/api/v1/complete", op.Space)
		return d.send(ctx, b, func(st int, body []byte) error {
			if err := statusErr(st, body, false, false); err != nil {
				return err
			}
			// engramd names the memories a completion drew on, best
			// first; an answer without them is not scored.
			if i := bytes.Index(body, []byte(`"source_attribution":`)); i >= 0 && op.HasTarget {
				d.scoreIDs(op, body[i:], `"memory_id":`, max(op.K, 1))
			}
			return nil
		})
	case workloads.KindConsolidate:
		b.body = b.body[:0]
		b.req = d.head(b.req[:0], "POST", "/api/v1/consolidations", op.Space, "", 0)
		return d.send(ctx, b, func(st int, body []byte) error { return statusErr(st, body, true, false) })
	case workloads.KindForget:
		b.id = d.idOf(op.Key, b.id[:0])
		b.body = append(b.body[:0], "/api/v1/memories/"...)
		b.body = appendQueryEscaped(b.body, string(b.id))
		b.req = d.head(b.req[:0], "DELETE", string(b.body), op.Space, "", 0)
		return d.send(ctx, b, func(st int, body []byte) error {
			if st == 405 {
				return fmt.Errorf("status 405: %w", drivers.ErrUnsupported)
			}
			if err := statusErr(st, body, false, false); err != nil {
				return err
			}
			if bytes.Contains(body, []byte("not_supported")) {
				return fmt.Errorf("delete answered %s: %w", clipS(string(body)), drivers.ErrUnsupported)
			}
			return nil
		})
	}
	return fmt.Errorf("%s: %w", op.Kind, drivers.ErrUnsupported)
}

// readBack reads memory op.Key by id and checks its content.
func (d *Driver) readBack(ctx context.Context, b *buffers, op *workloads.Op) error {
	b.id = d.idOf(op.Key, b.id[:0])
	b.body = append(b.body[:0], "/api/v1/memories/"...)
	b.body = appendQueryEscaped(b.body, string(b.id))
	b.req = d.head(b.req[:0], "GET", string(b.body), op.Space, "", 0)
	return d.send(ctx, b, func(st int, body []byte) error {
		if err := statusErr(st, body, false, false); err != nil {
			return err
		}
		op.Scored = true
		got, ok := stringField(body, "content")
		b.body = workloads.AppendContent(b.body[:0], op.Key)
		op.Hit = ok && bytes.Equal(got, b.body)
		if !op.Hit {
			return drivers.WithClass("wrong_content", fmt.Errorf("memory %s: content differs from what was stored", b.id))
		}
		return nil
	})
}

// score scores a recall answer: every result id, in order (vivid, then
// associated), through op.ScoreResult.
func (d *Driver) score(op *workloads.Op, body []byte) { d.scoreIDs(op, body, `"id":`, -1) }

// scoreIDs scores the values of the members named by key in body, in order,
// the first limit of them (all if limit < 0), through op.ScoreResult.
func (d *Driver) scoreIDs(op *workloads.Op, body []byte, key string, limit int) {
	op.BeginScore()
	rank := 0
	for rest := body; rank != limit; {
		id, next, ok := nextString(rest, key)
		if !ok {
			return
		}
		rest = next
		if k, ok := d.keys.Load(string(id)); ok {
			var kb [24]byte
			op.ScoreResult(rank, string(k.(workloads.Key).AppendID(kb[:0])))
		} else {
			op.ScoreResult(rank, string(id))
		}
		rank++
	}
}

// recall builds a recall request into b.req.
func (d *Driver) recall(b *buffers, op *workloads.Op, threshold float32, mode workloads.RecallMode) {
	seed := op.Kind == workloads.KindSpread
	if d.recallPost {
		b.body = append(b.body[:0], '{')
		if seed {
			b.id = d.idOf(op.Key, b.id[:0])
			b.body = append(b.body, `"seed_id":`...)
			b.body = appendJSONString(b.body, string(b.id))
			b.body = append(b.body, `,"max_hops":`...)
			b.body = strconv.AppendInt(b.body, int64(max(op.Depth, 1)), 10)
		} else {
			b.body = append(b.body, `"embedding":`...)
			b.body = appendVector(b.body, op.Embedding, 6)
		}
		b.body = append(b.body, `,"threshold":`...)
		b.body = appendFixed(b.body, threshold, 4)
		b.body = append(b.body, `,"max_results":`...)
		b.body = strconv.AppendInt(b.body, int64(max(op.K, 1)), 10)
		if mode != workloads.ModeSimilarity {
			b.body = append(b.body, `,"mode":"`...)
			b.body = append(b.body, mode.String()...)
			b.body = append(b.body, '"')
		}
		b.body = append(b.body, '}')
		d.post(b, "/api/v1/memories/recall", op.Space)
		return
	}
	b.body = append(b.body[:0], "/api/v1/memories/recall?"...)
	if seed {
		b.id = d.idOf(op.Key, b.id[:0])
		b.body = append(b.body, "seed_id="...)
		b.body = appendQueryEscaped(b.body, string(b.id))
		b.body = append(b.body, "&max_hops="...)
		b.body = strconv.AppendInt(b.body, int64(max(op.Depth, 1)), 10)
	} else {
		b.body = append(b.body, "embedding="...)
		b.body = appendVectorQuery(b.body, op.Embedding, 6)
	}
	b.body = append(b.body, "&threshold="...)
	b.body = appendFixed(b.body, threshold, 4)
	b.body = append(b.body, "&max_results="...)
	b.body = strconv.AppendInt(b.body, int64(max(op.K, 1)), 10)
	if mode != workloads.ModeSimilarity {
		b.body = append(b.body, "&mode="...)
		b.body = append(b.body, mode.String()...)
	}
	b.req = d.head(b.req[:0], "GET", string(b.body), op.Space, "", 0)
}

// preloadChunk is the most memories one batch request carries (~0.8 MB of
// JSON at 768 dimensions, well under engramd's default body limit).
const preloadChunk = 100

// Preload implements drivers.Preloader: one batch request per call when the
// target has engramd's batch endpoint, else one remember per memory, 16 at
// a time.
func (d *Driver) Preload(ctx context.Context, ops []workloads.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) > preloadChunk && d.batch != batchOff && !d.noBatch.Load() {
		// One request per chunk; a failed chunk does not stop the others,
		// and the error says how many memories were not stored.
		var first error
		failed := 0
		for len(ops) > 0 {
			n := min(len(ops), preloadChunk)
			if err := d.Preload(ctx, ops[:n]); err != nil {
				var pe *drivers.PreloadError
				if errors.As(err, &pe) {
					failed += pe.Failed
					err = pe.Err
				} else {
					failed += n
				}
				if first == nil {
					first = err
				}
				if ctx.Err() != nil {
					failed += len(ops) - n
					break
				}
			}
			ops = ops[n:]
		}
		if first != nil {
			return &drivers.PreloadError{Failed: failed, Err: first}
		}
		return nil
	}
	if d.batch != batchOff && !d.noBatch.Load() {
		b := d.get()
		b.body = append(b.body[:0], `{"memories":[`...)
		for i := range ops {
			if i > 0 {
				b.body = append(b.body, ',')
			}
			b.id = ops[i].Key.AppendID(b.id[:0])
			b.body = appendMemoryJSON(b.body, string(b.id), ops[i].Key, ops[i].Embedding, ops[i].Confidence)
		}
		b.body = append(b.body, "]}"...)
		d.post(b, "/api/v1/memories/batch", ops[0].Space)
		err := d.send(ctx, b, func(st int, body []byte) error { return statusErr(st, body, true, false) })
		d.put(b)
		if err == nil || !errors.Is(err, drivers.ErrUnsupported) || d.batch == batchOn {
			return err
		}
		d.noBatch.Store(true) // a real Engram: one request per memory from now on
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range ops {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.Do(ctx, &ops[i]); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("preload memory %s: %w", ops[i].Key.ID(), err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
