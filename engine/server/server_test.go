package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

const testDim = 8

func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	st, err := engine.Open(t.TempDir(), engine.Options{Dim: testDim, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func vec(seed int) []float32 {
	v := make([]float32, testDim)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*testDim + i + 1)))
	}
	return v
}

func vecJSON(v []float32) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t testing.TB, hs *httptest.Server, c call) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, hs.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// errorOf checks b is Engram's envelope and returns code and field.
func errorOf(t testing.TB, b []byte) (code, field, msg string) {
	t.Helper()
	m := decode(t, b)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope: %s", b)
	}
	if _, ok := m["documentation"].(map[string]any); !ok {
		t.Fatalf("no documentation in envelope: %s", b)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	msg, _ = e["message"].(string)
	return
}

func TestRoundTrip(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	space := map[string]string{"X-Memory-Space": "tenant_a"}

	// remember, with a client id
	st, _, b := do(t, hs, call{"POST", "/api/v1/memories/remember",
		`{"id":"m1","content":"Paris is the capital of France","embedding":` + vecJSON(vec(1)) + `,"confidence":0.9}`, space})
	if st != 201 {
		t.Fatalf("remember: %d %s", st, b)
	}
	r := decode(t, b)
	if r["memory_id"] != "m1" || r["consolidation_state"] != "Recent" {
		t.Fatalf("remember response: %s", b)
	}
	if sc := r["storage_confidence"].(map[string]any); sc["category"] != "High" || sc["value"].(float64) < 0.89 {
		t.Errorf("storage_confidence: %v", sc)
	}
	// remember without id: the server makes one
	st, _, b = do(t, hs, call{"POST", "/api/v1/memories/remember", `{"content":"second","embedding":` + vecJSON(vec(2)) + `}`, space})
	if st != 201 || !strings.HasPrefix(decode(t, b)["memory_id"].(string), "mem_") {
		t.Fatalf("remember without id: %d %s", st, b)
	}
	// simplified store and episode
	st, _, b = do(t, hs, call{"POST", "/api/v1/memories", `{"content":"simple","confidence":0.8}`, space})
	if st != 201 {
		t.Fatalf("POST /memories: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"POST", "/api/v1/episodes/remember",
		`{"id":"ep1","when":"2025-11-20T09:30:00Z","what":"Met Alice at the cafe","who":["alice"],"importance":0.8,"embedding":` + vecJSON(vec(3)) + `}`, space})
	if st != 201 || decode(t, b)["memory_id"] != "ep1" {
		t.Fatalf("episode: %d %s", st, b)
	}
	// batch
	st, _, b = do(t, hs, call{"POST", "/api/v1/memories/batch",
		`{"memories":[{"id":"b1","content":"one","embedding":` + vecJSON(vec(4)) + `},{"id":"b2","content":"two","embedding":` + vecJSON(vec(5)) + `}]}`, space})
	if st != 201 || decode(t, b)["count"].(float64) != 2 {
		t.Fatalf("batch: %d %s", st, b)
	}

	// get by id, in the right space and in another one
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/m1", "", space})
	if g := decode(t, b); st != 200 || g["content"] != "Paris is the capital of France" || g["confidence"].(float64) < 0.89 {
		t.Fatalf("get: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/m1?space=other_space", "", nil})
	if code, _, _ := errorOf(t, b); st != 404 || code != CodeMemoryNotFound {
		t.Fatalf("get in another space: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/ep1", "", space})
	if st != 200 || decode(t, b)["content"] != "Met Alice at the cafe" {
		t.Fatalf("get episode: %d %s", st, b)
	}

	// recall by embedding: GET with the cue in the URL, and POST with a body
	q := url.Values{"embedding": {vecJSON(vec(1))}, "threshold": {"0.5"}, "max_results": {"3"}, "include_metadata": {"true"}}
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/recall?" + q.Encode(), "", space})
	if st != 200 {
		t.Fatalf("recall GET: %d %s", st, b)
	}
	var rr RecallResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	if len(rr.Memories.Vivid) == 0 || rr.Memories.Vivid[0].ID != "m1" || rr.Memories.Vivid[0].SimilarityScore < 0.999 || rr.Metadata == nil {
		t.Fatalf("recall GET: %s", b)
	}
	if n := len(rr.Memories.Vivid) + len(rr.Memories.Associated); n > 3 {
		t.Errorf("max_results 3: got %d", n)
	}
	st, _, b = do(t, hs, call{"POST", "/api/v1/memories/recall", `{"embedding":` + vecJSON(vec(4)) + `,"threshold":0.9,"max_results":5}`, space})
	if err := json.Unmarshal(b, &rr); st != 200 || err != nil || len(rr.Memories.Vivid) == 0 || rr.Memories.Vivid[0].ID != "b1" {
		t.Fatalf("recall POST: %d %s", st, b)
	}
	for _, m := range append(rr.Memories.Vivid, rr.Memories.Associated...) {
		if m.SimilarityScore < 0.9 {
			t.Errorf("threshold 0.9: got score %v", m.SimilarityScore)
		}
	}

	// spaces, health, system health, metrics, pprof
	st, _, b = do(t, hs, call{"GET", "/api/v1/spaces", "", nil})
	if st != 200 || !strings.Contains(string(b), `"id":"tenant_a"`) {
		t.Fatalf("spaces: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/health", "", nil})
	if st != 200 || decode(t, b)["status"] != "healthy" {
		t.Fatalf("health: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/health/alive", "", nil})
	if st != 200 || len(b) != 0 {
		t.Fatalf("alive: %d %q", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/system/health?space=tenant_a", "", nil})
	if st != 200 || !strings.Contains(string(b), `"memories":6`) {
		t.Fatalf("system health: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/metrics/prometheus", "", nil})
	if st != 200 {
		t.Fatalf("metrics: %d %s", st, b)
	}
	for _, want := range []string{`engramd_http_requests_total{code="201",method="POST",route="POST /api/v1/memories/remember"} 2`,
		`engramd_memories{space="tenant_a"} 6`, "engramd_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics: no %q", want)
		}
	}
	st, _, b = do(t, hs, call{"GET", "/debug/pprof/", "", nil})
	if st != 200 || !strings.Contains(string(b), "goroutine") {
		t.Fatalf("pprof: %d", st)
	}
	// security headers on every answer
	_, h, _ := do(t, hs, call{"GET", "/health", "", nil})
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers: %v", h)
	}
}

// TestBadRequests: every client mistake is a 4xx envelope naming the field.
func TestBadRequests(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxBodyBytes: 64 << 10})
	emb := vecJSON(vec(1))
	cases := []struct {
		name   string
		c      call
		status int
		code   string
		field  string
	}{
		{"malformed JSON", call{"POST", "/api/v1/memories/remember", `{"content":`, nil}, 400, CodeBadRequest, "body"},
		{"empty body", call{"POST", "/api/v1/memories/remember", ``, map[string]string{"Content-Type": "application/json"}}, 400, CodeBadRequest, "body"},
		{"missing content", call{"POST", "/api/v1/memories/remember", `{"embedding":` + emb + `}`, nil}, 422, CodeValidation, "content"},
		{"empty content", call{"POST", "/api/v1/memories/remember", `{"content":""}`, nil}, 400, CodeInvalidInput, "content"},
		{"content of wrong type", call{"POST", "/api/v1/memories/remember", `{"content":5}`, nil}, 422, CodeValidation, "content"},
		{"embedding too short", call{"POST", "/api/v1/memories/remember", `{"content":"x","embedding":[0.1,0.2]}`, nil}, 400, CodeInvalidInput, "embedding"},
		{"embedding not numbers", call{"POST", "/api/v1/memories/remember", `{"content":"x","embedding":["a"]}`, nil}, 400, CodeInvalidInput, "embedding"},
		{"embedding not an array", call{"POST", "/api/v1/memories/remember", `{"content":"x","embedding":{}}`, nil}, 400, CodeInvalidInput, "embedding"},
		{"embedding zero", call{"POST", "/api/v1/memories/remember", `{"content":"x","embedding":[0,0,0,0,0,0,0,0]}`, nil}, 400, CodeInvalidInput, "embedding"},
		{"embedding overflow", call{"POST", "/api/v1/memories/remember", `{"content":"x","embedding":[1e39,0,0,0,0,0,0,0]}`, nil}, 400, CodeInvalidInput, "embedding"},
		{"confidence out of range", call{"POST", "/api/v1/memories/remember", `{"content":"x","confidence":1.5}`, nil}, 400, CodeInvalidInput, "confidence"},
		{"bad timestamp", call{"POST", "/api/v1/memories/remember", `{"content":"x","timestamp":"yesterday"}`, nil}, 400, CodeInvalidInput, "timestamp"},
		{"bad id", call{"POST", "/api/v1/memories/remember", `{"content":"x","id":"a/b"}`, nil}, 400, CodeInvalidInput, "id"},
		{"bad space header", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"X-Memory-Space": "No Spaces!"}}, 400, CodeInvalidInput, "X-Memory-Space"},
		{"bad body space", call{"POST", "/api/v1/memories/remember", `{"content":"x","memory_space_id":"ab"}`, nil}, 400, CodeInvalidInput, "memory_space_id"},
		{"bad space param", call{"GET", "/api/v1/memories/x?space=A", "", nil}, 400, CodeInvalidInput, "space"},
		{"no content type", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"Content-Type": ""}}, 415, CodeUnsupportedMedia, "Content-Type"},
		{"form content type", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, CodeUnsupportedMedia, "Content-Type"},
		{"huge body", call{"POST", "/api/v1/memories/remember", `{"content":"` + strings.Repeat("x", 100<<10) + `"}`, nil}, 413, CodePayloadTooLarge, "body"},
		{"episode without when", call{"POST", "/api/v1/episodes/remember", `{"what":"x"}`, nil}, 422, CodeValidation, "when"},
		{"episode bad when", call{"POST", "/api/v1/episodes/remember", `{"when":"noon","what":"x"}`, nil}, 400, CodeInvalidInput, "when"},
		{"episode empty what", call{"POST", "/api/v1/episodes/remember", `{"when":"2025-11-20T09:30:00Z","what":""}`, nil}, 400, CodeInvalidInput, "what"},
		{"batch empty", call{"POST", "/api/v1/memories/batch", `{"memories":[]}`, nil}, 422, CodeValidation, "memories"},
		{"batch bad member", call{"POST", "/api/v1/memories/batch", `{"memories":[{"content":"a"},{"content":""}]}`, nil}, 400, CodeInvalidInput, "memories[1].content"},
		{"recall without cue", call{"GET", "/api/v1/memories/recall", "", nil}, 400, CodeInvalidInput, "query"},
		{"recall bad embedding", call{"GET", "/api/v1/memories/recall?embedding=%5B1%2C", "", nil}, 400, CodeBadRequest, "embedding"},
		{"recall wrong length", call{"GET", "/api/v1/memories/recall?embedding=%5B1%2C2%5D", "", nil}, 400, CodeInvalidInput, "embedding"},
		{"recall bad threshold", call{"GET", "/api/v1/memories/recall?query=x&threshold=abc", "", nil}, 400, CodeBadRequest, "threshold"},
		{"recall threshold range", call{"GET", "/api/v1/memories/recall?query=x&threshold=2", "", nil}, 400, CodeInvalidInput, "threshold"},
		{"recall bad max_results", call{"GET", "/api/v1/memories/recall?query=x&max_results=0", "", nil}, 400, CodeBadRequest, "max_results"},
		{"recall bad mode", call{"GET", "/api/v1/memories/recall?query=x&mode=psychic", "", nil}, 400, CodeInvalidInput, "mode"},
		{"recall POST bad max_results", call{"POST", "/api/v1/memories/recall", `{"query":"x","max_results":-1}`, nil}, 400, CodeInvalidInput, "max_results"},
		{"search without query", call{"GET", "/api/v1/memories/search", "", nil}, 400, CodeBadRequest, "query"},
		{"search bad limit", call{"GET", "/api/v1/memories/search?query=x&limit=x", "", nil}, 400, CodeBadRequest, "limit"},
		{"get missing", call{"GET", "/api/v1/memories/nope", "", nil}, 404, CodeMemoryNotFound, ""},
		{"create space bad id", call{"POST", "/api/v1/spaces", `{"id":"X"}`, nil}, 400, CodeInvalidInput, "id"},
		{"create space no id", call{"POST", "/api/v1/spaces", `{}`, nil}, 422, CodeValidation, "id"},
		{"consolidations bad param", call{"GET", "/api/v1/consolidations?max_episodes=-4", "", nil}, 400, CodeBadRequest, "max_episodes"},
		{"complete no episode", call{"POST", "/api/v1/complete", `{}`, nil}, 422, CodeValidation, "partial_episode"},
		{"complete too few dims", call{"POST", "/api/v1/complete", `{"partial_episode":{"partial_embedding":[1,null,null,null,null,null,null,null]}}`, nil}, 422, CodeValidation, "partial_episode.partial_embedding"},
		{"complete bad element", call{"POST", "/api/v1/complete", `{"partial_episode":{"partial_embedding":[true]}}`, nil}, 400, CodeInvalidInput, "partial_episode.partial_embedding"},
		{"system health bad space", call{"GET", "/api/v1/system/health?space=!!", "", nil}, 422, CodeValidation, "space"},
		{"unknown route", call{"GET", "/api/v2/nothing", "", nil}, 404, CodeResourceNotFound, ""},
		{"wrong method", call{"PUT", "/api/v1/memories/remember", `{"content":"x"}`, nil}, 405, CodeMethodNotAllowed, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := do(t, hs, tc.c)
			code, field, msg := errorOf(t, b)
			if st != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("got %d %s field %q, want %d %s field %q: %s", st, code, field, tc.status, tc.code, tc.field, b)
			}
			if tc.field != "" && !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name the field %q", msg, tc.field)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	keys, err := ParseKeys("keys.txt", []byte("# test keys\nengram_key_abc_s3cret   # every space\nengram_key_lim_other tenant_a,tenant_b #two\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, hs := newTestServer(t, Config{Keys: keys})
	good := "Bearer engram_key_abc_s3cret"
	cases := []struct {
		name   string
		c      call
		status int
	}{
		{"alive needs no key", call{"GET", "/health/alive", "", nil}, 200},
		{"health needs a key", call{"GET", "/health", "", nil}, 401},
		{"metrics needs a key", call{"GET", "/metrics/prometheus", "", nil}, 401},
		{"wrong scheme", call{"GET", "/health", "", map[string]string{"Authorization": "Basic abc"}}, 401},
		{"malformed key", call{"GET", "/health", "", map[string]string{"Authorization": "Bearer engram_key_x"}}, 401},
		{"wrong secret", call{"GET", "/health", "", map[string]string{"Authorization": "Bearer engram_key_abc_wrong"}}, 401},
		{"unknown id", call{"GET", "/health", "", map[string]string{"Authorization": "Bearer engram_key_zzz_s3cret"}}, 401},
		{"valid key", call{"GET", "/health", "", map[string]string{"Authorization": good}}, 200},
		{"valid key stores", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"Authorization": good}}, 201},
		{"limited key in its space", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"Authorization": "Bearer engram_key_lim_other", "X-Memory-Space": "tenant_a", "X-Memory-Space-Id": "tenant_a"}}, 201},
		{"limited key elsewhere", call{"POST", "/api/v1/memories/remember", `{"content":"x"}`, map[string]string{"Authorization": "Bearer engram_key_lim_other", "X-Memory-Space": "tenant_c"}}, 403},
		{"limited key default space", call{"GET", "/api/v1/memories/x", "", map[string]string{"Authorization": "Bearer engram_key_lim_other"}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := do(t, hs, tc.c)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, b)
			}
			if st >= 400 {
				code, _, _ := errorOf(t, b)
				if want := map[int]string{401: CodeUnauthorized, 403: CodeForbidden}[st]; code != want {
					t.Errorf("code %s, want %s", code, want)
				}
			}
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"empty", "# nothing\n", "keys.txt: no keys"},
		{"no prefix", "abc_def\n", "keys.txt:1: key must start with"},
		{"no secret", "engram_key_abc\n", "keys.txt:1: key must be"},
		{"non alnum", "engram_key_a-b_c\n", "keys.txt:1: key must be"},
		{"duplicate", "engram_key_a_b\nengram_key_a_c\n", `keys.txt:2: key id "a" appears twice`},
		{"bad space", "engram_key_a_b UPPER\n", `keys.txt:1: space "UPPER"`},
		{"too many fields", "engram_key_a_b x y\n", "keys.txt:1: want"},
		{"too many before a comment", "engram_key_a_b x y # z\n", "keys.txt:1: want"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys("keys.txt", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOverload: past MaxInflight the server answers 503 with Retry-After at
// once, and health still answers.
func TestOverload(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxInflight: 1})
	// Hold one request in flight: its body arrives only when we say so.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", hs.URL+"/api/v1/memories/remember", pr)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan int, 1)
	go func() {
		resp, err := hs.Client().Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte(`{"content":`))
	deadline := time.Now().Add(10 * time.Second)
	for s.Inflight() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached the handler")
		}
		time.Sleep(time.Millisecond)
	}
	st, h, b := do(t, hs, call{"GET", "/api/v1/memories/x", "", nil})
	if code, _, _ := errorOf(t, b); st != 503 || code != CodeOverloaded || h.Get("Retry-After") != "1" {
		t.Fatalf("overload: %d %v %s", st, h, b)
	}
	if st, _, _ := do(t, hs, call{"GET", "/health/alive", "", nil}); st != 200 {
		t.Errorf("alive under overload: %d", st)
	}
	pw.Write([]byte(`"held"}`))
	pw.Close()
	if st := <-done; st != 201 {
		t.Fatalf("held request: %d", st)
	}
	_, _, b = do(t, hs, call{"GET", "/metrics/prometheus", "", nil})
	if !strings.Contains(string(b), "engramd_http_requests_shed_total 1") {
		t.Errorf("shed counter missing")
	}
}

func TestParseVector(t *testing.T) {
	cases := []struct {
		in    string
		nulls bool
		want  []float32
		err   bool
	}{
		{"[1, 2.5,-3e-2]", false, []float32{1, 2.5, -0.03}, false},
		{" [ ] ", false, []float32{}, false},
		{"null", false, nil, false},
		{"[1,null]", true, []float32{1, float32(math.NaN())}, false},
		{"[1,null]", false, nil, true},
		{"[1,]", false, nil, true},
		{"[1 2]", false, nil, true},
		{"[1e40]", false, nil, true},
		{"[1]x", false, nil, true},
		{"{}", false, nil, true},
		{"[", false, nil, true},
	}
	for _, tc := range cases {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, err := parseVector([]byte(tc.in), nil, tc.nulls)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if tc.err {
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkParseVector(b *testing.B) {
	v := make([]float32, 768)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)))
	}
	js, _ := json.Marshal(v)
	var dst []float32
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		dst, _ = parseVector(js, dst[:0], false)
	}
	_ = bytes.MinRead
}

// A request its client gave up on is answered 499 CLIENT_CLOSED_REQUEST,
// not as the client's mistake (400) or a server failure (500, logged).
func TestClientClosedRequest(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	rctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(rctx, "GET", "/api/v1/memories/recall", nil)
	w := httptest.NewRecorder()
	s.fail(w, r, fmt.Errorf("recall: %w", context.Canceled))
	var env struct {
		Error struct{ Code string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s: %v", w.Body, err)
	}
	if w.Code != 499 || env.Error.Code != CodeClientClosed {
		t.Errorf("answered %d %s, want 499 %s", w.Code, env.Error.Code, CodeClientClosed)
	}
}
