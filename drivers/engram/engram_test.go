package engram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/drivertest"
	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/engine/server"
	"github.com/engram-bench/engram-bench/workloads"
)

// startEngramd serves a real engine on 127.0.0.1:0.
func startEngramd(t testing.TB, cfg server.Config) (string, *engine.Store) {
	t.Helper()
	st, err := engine.Open(t.TempDir(), engine.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); st.Close() })
	return hs.URL, st
}

func TestAppendFixed(t *testing.T) {
	cases := []struct {
		v    float32
		dec  int
		want string
	}{{0, 6, "0.000000"}, {0.0123456789, 7, "0.0123457"}, {-0.5, 3, "-0.500"}, {-0.0000001, 6, "0.000000"}, {1, 4, "1.0000"}, {12.25, 2, "12.25"}, {3e7, 6, "3e+07"}}
	for _, tc := range cases {
		if got := string(appendFixed(nil, tc.v, tc.dec)); got != tc.want {
			t.Errorf("appendFixed(%v, %d) = %q, want %q", tc.v, tc.dec, got, tc.want)
		}
	}
	v := []float32{0.25, float32(math.NaN()), -1}
	var back []*float64
	if err := json.Unmarshal(appendVector(nil, v, 6), &back); err != nil || *back[0] != 0.25 || back[1] != nil || *back[2] != -1 {
		t.Fatalf("appendVector round trip: %v %v", back, err)
	}
	if got := string(appendVectorQuery(nil, []float32{0.5, -0.25}, 2)); got != "%5B0.50%2C-0.25%5D" {
		t.Errorf("query form %q", got)
	}
}

func TestScanHelpers(t *testing.T) {
	body := []byte(`{"memories":{"vivid":[{"id":"p12","content":"x"},{"id": "p1234"}]},"memory_id":"mem_1","content":"engram-bench memory p1"}`)
	var ids []string
	for rest := body; ; {
		id, next, ok := nextString(rest, `"id":`)
		if !ok {
			break
		}
		ids, rest = append(ids, string(id)), next
	}
	if fmt.Sprint(ids) != "[p12 p1234]" {
		t.Errorf("ids in order: %v", ids)
	}
	if v, ok := stringField(body, "memory_id"); !ok || string(v) != "mem_1" {
		t.Errorf("memory_id %q %v", v, ok)
	}
	if _, ok := stringField([]byte(`{"memory_id":"a\"b"}`), "memory_id"); ok {
		t.Error("escaped value accepted")
	}
}

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func opsOf(t *testing.T, sc *workloads.Scenario, n int) []workloads.Op {
	g, err := workloads.NewGenerator(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]workloads.Op, n)
	for i := range ops {
		g.FillPreload(uint64(i), &ops[i])
	}
	return ops
}

// TestQuickstartAgainstEngramd runs the quickstart scenario end to end
// against a real engramd — shortened (1 s at 300 ops/s, 2,000 memories
// preloaded) so that it stays quick under the race detector on a busy
// machine: zero errors, every op accounted for, recalls find their memory.
func TestQuickstartAgainstEngramd(t *testing.T) {
	for _, recall := range []string{"get", "post"} {
		t.Run("recall="+recall, func(t *testing.T) {
			if recall == "post" && testing.Short() {
				t.Skip("short")
			}
			url, st := startEngramd(t, server.Config{})
			sc, err := workloads.LoadBuiltin("quickstart")
			if err != nil {
				t.Fatal(err)
			}
			sc = sc.Clone()
			sc.Duration.TotalSeconds, sc.Duration.WarmupSeconds = 1, 0
			preload := int64(2000)
			sc.Data.Preload = &preload
			if sc.Arrival, err = workloads.ScaleArrival(sc.Arrival, 300); err != nil {
				t.Fatal(err)
			}
			res, err := drivers.Execute(context.Background(), drivers.Plan{
				Scenario: sc, Seed: 1, Driver: "engram", Concurrency: 16, MaxLag: time.Second,
				DriverConfig: drivers.Config{Target: url, Options: map[string]string{"recall": recall}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total.Errors != 0 || res.Total.Count != 300 || res.Harness.Unsent != 0 {
				t.Fatalf("count %d unsent %d errors %d %v", res.Total.Count, res.Harness.Unsent, res.Total.Errors, res.Total.ErrorsByClass)
			}
			if res.Preload.Memories != 2000 || st.Count("default") < 2000 {
				t.Fatalf("preload %+v, engine holds %d", res.Preload, st.Count("default"))
			}
			for _, k := range []string{"recall_by_cue", "embedding_search"} {
				o := res.Ops[k]
				// The engine's index is approximate (HNSW): a few cues may
				// miss their memory.
				if o.HitRate == nil || *o.HitRate < 0.95 {
					t.Errorf("%s hit rate %v", k, ptr(o.HitRate))
				}
			}
		})
	}
}

// TestOps: every op kind against engramd, by-id reads of stored memories,
// and ids the target chose.
func TestOps(t *testing.T) {
	url, _ := startEngramd(t, server.Config{})
	d, err := New(Options{Target: url, Concurrency: 2, RecallPost: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	sc, _ := workloads.LoadBuiltin("quickstart")
	ops := opsOf(t, sc, 20)
	if err := d.Preload(ctx, ops[:10]); err != nil {
		t.Fatal(err)
	}
	if err := d.Do(ctx, &ops[10]); err != nil {
		t.Fatal(err)
	}
	for _, k := range []workloads.Key{ops[3].Key, ops[10].Key} {
		op := workloads.Op{Kind: workloads.KindRecallByID, Key: k, Space: "default"}
		if err := d.Do(ctx, &op); err != nil || !op.Hit {
			t.Fatalf("by id %s: %v hit=%v", k.ID(), err, op.Hit)
		}
	}
	missing := workloads.Op{Kind: workloads.KindRecallByID, Key: workloads.OpKey(999), Space: "default"}
	if err := d.Do(ctx, &missing); drivers.Classify(err) != "not_found" {
		t.Fatalf("missing: %v", err)
	}
	recall := workloads.Op{Kind: workloads.KindRecall, Space: "default", Embedding: ops[4].Embedding, Dim: 768, K: 5, Threshold: 0.5, HasTarget: true, Target: ops[4].Key}
	if err := d.Do(ctx, &recall); err != nil || !recall.Scored || !recall.Hit {
		t.Fatalf("recall: %v scored=%v hit=%v", err, recall.Scored, recall.Hit)
	}
	// A completion from half of memory 4's embedding names memory 4 first
	// among the memories it drew on: scored, a hit, counted by recall@10.
	partial := append([]float32(nil), ops[4].Embedding...)
	for i := len(partial) / 2; i < len(partial); i++ {
		partial[i] = float32(math.NaN())
	}
	complete := workloads.Op{Kind: workloads.KindComplete, Space: "default", Embedding: partial, Dim: 768, K: 1, HasTarget: true, Target: ops[4].Key, ExpectFrom: ops[4].Key, ExpectN: 1}
	if err := d.Do(ctx, &complete); err != nil || !complete.Scored || !complete.Hit || complete.Found != 1 {
		t.Fatalf("completion: %v scored=%v hit=%v found=%d", err, complete.Scored, complete.Hit, complete.Found)
	}
	bad := workloads.Op{Kind: workloads.KindStore, Key: workloads.OpKey(5), Space: "default", Embedding: []float32{1, 2}, Dim: 2, Confidence: 0.5}
	if err := d.Do(ctx, &bad); drivers.Classify(err) != "4xx" || !strings.Contains(err.Error(), "embedding") {
		t.Fatalf("wrong dimension: class %q: %v", drivers.Classify(err), err)
	}
	badSpace := workloads.Op{Kind: workloads.KindRecallByID, Key: ops[3].Key, Space: "X"}
	if err := d.Do(ctx, &badSpace); drivers.Classify(err) != "4xx" {
		t.Fatalf("bad space: %v", err)
	}
}

// TestTargetIDs: a target that picks its own ids (as Engram may) gets them
// back on by-id reads.
func TestTargetIDs(t *testing.T) {
	stored := map[string]string{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/health/alive" || r.URL.Path == "/health":
		case r.URL.Path == "/api/v1/memories/remember":
			var m struct{ Content string }
			json.NewDecoder(r.Body).Decode(&m)
			id := "mem_" + strconv.Itoa(len(stored))
			stored[id] = m.Content
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"memory_id":%q}`, id)
		case strings.HasPrefix(r.URL.Path, "/api/v1/memories/"):
			id := strings.TrimPrefix(r.URL.Path, "/api/v1/memories/")
			c, ok := stored[id]
			if !ok {
				w.WriteHeader(404)
				return
			}
			fmt.Fprintf(w, `{"id":%q,"content":%q}`, id, c)
		}
	}))
	defer hs.Close()
	d, _ := New(Options{Target: hs.URL})
	ctx := context.Background()
	sc, _ := workloads.LoadBuiltin("quickstart")
	ops := opsOf(t, sc, 3)
	for i := range ops {
		if err := d.Do(ctx, &ops[i]); err != nil {
			t.Fatal(err)
		}
	}
	op := workloads.Op{Kind: workloads.KindRecallByID, Key: ops[2].Key, Space: "default"}
	if err := d.Do(ctx, &op); err != nil || !op.Hit {
		t.Fatalf("by id through the target's id: %v", err)
	}
}

// TestErrorClasses: status codes and transport failures map to classes.
func TestErrorClasses(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("mode") == "spreading" || q.Get("mode") == "hybrid":
			w.WriteHeader(400) // Engram's answer: spreading is not attached
			io.WriteString(w, `{"error":{"code":"INVALID_MEMORY_INPUT","message":"enable spreading_api_beta"}}`)
		case q.Get("max_results") == "503":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
		case q.Get("max_results") == "500":
			w.WriteHeader(500)
		case q.Get("max_results") == "422":
			w.WriteHeader(422)
		case q.Get("max_results") == "7":
			time.Sleep(300 * time.Millisecond)
		case r.Method == "DELETE":
			io.WriteString(w, `{"status":"not_supported"}`)
		case r.URL.Path == "/api/v1/consolidations" && r.Method == "POST":
			w.WriteHeader(405)
		}
	}))
	defer hs.Close()
	d, _ := New(Options{Target: hs.URL, Timeout: 100 * time.Millisecond})
	emb := make([]float32, 768)
	emb[0] = 1
	recall := func(k int, mode workloads.RecallMode) *workloads.Op {
		return &workloads.Op{Kind: workloads.KindRecall, Space: "default", Embedding: emb, Dim: 768, K: k, Threshold: 0.5, Mode: mode}
	}
	cases := []struct {
		name string
		op   *workloads.Op
		want string
	}{
		{"spreading on Engram", recall(10, workloads.ModeSpreading), "unsupported"},
		{"hybrid on Engram", recall(10, workloads.ModeHybrid), "unsupported"},
		{"spread op on Engram", &workloads.Op{Kind: workloads.KindSpread, Space: "default", Key: 5, Depth: 2, K: 3}, "unsupported"},
		{"overload", recall(503, 0), "overload"},
		{"5xx", recall(500, 0), "5xx"},
		{"4xx", recall(422, 0), "4xx"},
		{"timeout", recall(7, 0), "timeout"},
		{"delete not supported", &workloads.Op{Kind: workloads.KindForget, Space: "default", Key: 5}, "unsupported"},
		{"consolidate not routed", &workloads.Op{Kind: workloads.KindConsolidate, Space: "default"}, "unsupported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Do(context.Background(), tc.op)
			if got := drivers.Classify(err); got != tc.want {
				t.Fatalf("class %q, want %q: %v", got, tc.want, err)
			}
		})
	}
	// refused, and reset by a server that hangs up
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 1))
			c.Close()
		}
	}()
	d2, _ := New(Options{Target: "http://" + addr})
	if err := d2.Do(context.Background(), recall(10, 0)); drivers.Classify(err) != "connection_reset" {
		t.Fatalf("hang-up: %q %v", drivers.Classify(err), err)
	}
	ln.Close()
	if err := d2.Do(context.Background(), recall(10, 0)); drivers.Classify(err) != "connection_refused" {
		t.Fatalf("refused: %q %v", drivers.Classify(err), err)
	}
}

// TestUnreachable: Execute fails within seconds with ErrUnreachable (the
// CLI's exit 3).
func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	sc, _ := workloads.LoadBuiltin("quickstart")
	start := time.Now()
	_, err := drivers.Execute(context.Background(), drivers.Plan{Scenario: sc, Seed: 1, Driver: "engram", DriverConfig: drivers.Config{Target: "http://" + addr}})
	if !errors.Is(err, drivers.ErrUnreachable) || !strings.Contains(err.Error(), "/health/alive") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}

// TestAuth: with a key the driver is let in, without one the probe says why.
func TestAuth(t *testing.T) {
	keys, _ := server.ParseKeys("k", []byte("engram_key_abc_secret tenant_a,default\n"))
	url, _ := startEngramd(t, server.Config{Keys: keys})
	ctx := context.Background()
	d, _ := New(Options{Target: url})
	if err := d.Probe(ctx); err == nil || !strings.Contains(err.Error(), "refused the API key") {
		t.Fatalf("probe without key: %v", err)
	}
	d, _ = New(Options{Target: url, APIKey: "engram_key_abc_secret"})
	if err := d.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	sc, _ := workloads.LoadBuiltin("quickstart")
	ops := opsOf(t, sc, 2)
	if err := d.Do(ctx, &ops[0]); err != nil {
		t.Fatal(err)
	}
	ops[1].Space = "tenant_b"
	if err := d.Do(ctx, &ops[1]); drivers.Classify(err) != "4xx" || !strings.Contains(err.Error(), "403") {
		t.Fatalf("space outside the key's list: %v", err)
	}
}

// TestConformance runs the shared driver checks against engramd.
func TestConformance(t *testing.T) {
	drivertest.Conformance(t, func(tb testing.TB) drivers.Driver {
		st, err := engine.Open(tb.TempDir(), engine.Options{Dim: drivertest.Dim, NoSync: true})
		if err != nil {
			tb.Fatal(err)
		}
		s, err := server.New(server.Config{Store: st})
		if err != nil {
			tb.Fatal(err)
		}
		hs := httptest.NewServer(s)
		tb.Cleanup(func() { hs.Close(); st.Close() })
		d, err := New(Options{Target: hs.URL, Concurrency: 16})
		if err != nil {
			tb.Fatal(err)
		}
		return d
	}, drivertest.Features{Forget: true})
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		cfg  drivers.Config
		want string
	}{
		{drivers.Config{Target: "ftp://x"}, "want http://host:port"},
		{drivers.Config{Options: map[string]string{"recall": "put"}}, `recall="put"`},
		{drivers.Config{Options: map[string]string{"batch": "maybe"}}, `batch="maybe"`},
		{drivers.Config{Options: map[string]string{"timeout": "0s"}}, `timeout="0s"`},
		{drivers.Config{Options: map[string]string{"nope": "1"}}, `option "nope": unknown`},
	} {
		_, err := newFromConfig(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func BenchmarkEncodeStore(b *testing.B) {
	sc, _ := workloads.LoadBuiltin("quickstart")
	g, _ := workloads.NewGenerator(sc, 1)
	var op workloads.Op
	g.FillPreload(1, &op)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMemoryJSON(buf[:0], "p1", op.Key, op.Embedding, op.Confidence)
	}
	b.ReportMetric(float64(len(buf)), "bytes/body")
}

func BenchmarkEncodeStoreReflect(b *testing.B) {
	sc, _ := workloads.LoadBuiltin("quickstart")
	g, _ := workloads.NewGenerator(sc, 1)
	var op workloads.Op
	g.FillPreload(1, &op)
	type mem struct {
		ID         string    `json:"id"`
		Content    string    `json:"content"`
		Embedding  []float32 `json:"embedding"`
		Confidence float32   `json:"confidence"`
	}
	m := mem{"p1", workloads.Content(op.Key), op.Embedding, op.Confidence}
	b.ReportAllocs()
	for b.Loop() {
		json.Marshal(&m)
	}
}

// TestPreloadCountsFailedChunks: a batch is sent in chunks of preloadChunk;
// one failed chunk does not stop the others, and the error says how many
// memories were not stored (not the whole batch).
func TestPreloadCountsFailedChunks(t *testing.T) {
	var calls, stored atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/memories/batch" {
			return
		}
		var body struct{ Memories []json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			return
		}
		if calls.Add(1) == 3 {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":"OVERLOADED","message":"busy"}}`)
			return
		}
		stored.Add(int64(len(body.Memories)))
		w.WriteHeader(201)
		fmt.Fprint(w, `{"stored":1}`)
	}))
	defer hs.Close()
	d, err := New(Options{Target: hs.URL, Batch: "on"})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := workloads.LoadBuiltin("quickstart")
	ops := opsOf(t, sc, 5*preloadChunk)
	err = d.Preload(context.Background(), ops)
	var pe *drivers.PreloadError
	if !errors.As(err, &pe) || pe.Failed != preloadChunk {
		t.Fatalf("Preload error %v, want a PreloadError with %d failed", err, preloadChunk)
	}
	if calls.Load() != 5 || stored.Load() != 4*preloadChunk {
		t.Errorf("%d requests, %d memories stored; want 5 and %d", calls.Load(), stored.Load(), 4*preloadChunk)
	}
}
