package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandlers sends arbitrary requests through the whole handler stack: no
// panic, never a 500 (a client's mistake is a 4xx), and every error answer
// is Engram's envelope.
func FuzzHandlers(f *testing.F) {
	emb := vecJSON(vec(1))
	seeds := []struct{ method, target, space, ctype, body string }{
		{"POST", "/api/v1/memories/remember", "default", "application/json", `{"id":"a","content":"x","embedding":` + emb + `}`},
		{"POST", "/api/v1/memories/remember", "", "application/json", `{"content":"x","confidence":0.5,"timestamp":"2025-01-01T00:00:00Z"}`},
		{"POST", "/api/v1/memories", "abc", "application/json", `{"content":"x"}`},
		{"POST", "/api/v1/memories/batch", "abc", "application/json", `{"memories":[{"content":"x"}]}`},
		{"POST", "/api/v1/episodes/remember", "abc", "application/json", `{"when":"2025-01-01T00:00:00Z","what":"x","embedding":` + emb + `}`},
		{"GET", "/api/v1/memories/recall?embedding=" + emb + "&threshold=0.1", "default", "", ""},
		{"GET", "/api/v1/memories/recall?query=x&mode=hybrid&seed_id=a", "default", "", ""},
		{"POST", "/api/v1/memories/recall", "default", "application/json", `{"embedding":` + emb + `,"max_results":3}`},
		{"POST", "/api/v1/memories/recall", "default", "application/json", `{"Embedding":` + emb + `,"max_results":3,"max_results":1e2}`},
		{"POST", "/api/v1/memories/batch", "abc", "application/json", `{"memories":[{"content":"a\u00e9","embedding":` + emb + `},null],"x":[{}]}`},
		{"GET", "/api/v1/memories/search?query=x&limit=2", "default", "", ""},
		{"GET", "/api/v1/memories/a", "default", "", ""},
		{"DELETE", "/api/v1/memories/a", "default", "", ""},
		{"GET", "/api/v1/spaces", "", "", ""},
		{"POST", "/api/v1/spaces", "", "application/json", `{"id":"tenant"}`},
		{"GET", "/api/v1/consolidations?max_episodes=3", "", "", ""},
		{"POST", "/api/v1/consolidations", "", "", ""},
		{"GET", "/api/v1/consolidations/b1", "", "", ""},
		{"POST", "/api/v1/complete", "", "application/json", `{"partial_episode":{"partial_embedding":[1,null,1,1,1,1,1,1]},"config":{"num_hypotheses":2}}`},
		{"GET", "/api/v1/system/health?space=default", "", "", ""},
		{"GET", "/health", "", "", ""},
		{"PUT", "/api/v1/memories/remember", "", "text/plain", "\x00\xff"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.space, s.ctype, s.body)
	}
	st, hs := newTestServer(f, Config{MaxBodyBytes: 1 << 20})
	hs.Close()
	f.Fuzz(func(t *testing.T, method, target, space, ctype, body string) {
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/debug/") {
			return // pprof's profile and trace block for seconds by design
		}
		req, err := http.NewRequest(method, "http://engramd"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RequestURI = target
		if space != "" {
			req.Header.Set("X-Memory-Space", space)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		st.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (space %q, %q): %d %s", method, target, space, body, w.Code, w.Body.Bytes())
		}
		if w.Code >= 400 {
			var env envelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
				t.Fatalf("%s %s: %d answer is not the envelope: %s", method, target, w.Code, w.Body.Bytes())
			}
		}
	})
}

// FuzzParseKeys: the key-file parser never panics, and what it accepts
// authenticates its own keys.
func FuzzParseKeys(f *testing.F) {
	f.Add("engram_key_abc_def\n")
	f.Add("# c\nengram_key_a1_b2 tenant_a,tenant_b\nengram_key_x_y *\n")
	f.Add("engram_key__\n")
	f.Fuzz(func(t *testing.T, data string) {
		ks, err := ParseKeys("keys.txt", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keys.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !ks.Enabled() {
			t.Fatal("accepted a file without keys")
		}
		for _, line := range strings.Split(data, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			if _, e := ks.authenticate("Bearer " + f[0]); e != nil {
				t.Fatalf("key %q rejected: %v", f[0], e)
			}
		}
	})
}
