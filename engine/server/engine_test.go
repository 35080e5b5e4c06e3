package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// near returns a vector close to vec(seed): a member of its cluster.
func near(seed, j int) []float32 {
	v := vec(seed)
	v[j%testDim] += 0.02
	return v
}

// TestEngineEndpoints round-trips the endpoints backed by the engine's
// cognitive operations: text recall and search, spreading and hybrid recall,
// auto links, delete, spaces, consolidation and pattern completion.
func TestEngineEndpoints(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	sp := map[string]string{"X-Memory-Space": "cog"}
	remember := func(id, content string, v []float32, extra string) map[string]any {
		t.Helper()
		st, _, b := do(t, hs, call{"POST", "/api/v1/memories/remember", fmt.Sprintf(`{"id":%q,"content":%q,"embedding":%s,"confidence":0.9%s}`, id, content, vecJSON(v), extra), sp})
		if st != 201 {
			t.Fatalf("remember %s: %d %s", id, st, b)
		}
		return decode(t, b)
	}
	for j := 0; j < 4; j++ {
		remember(fmt.Sprintf("a%d", j), fmt.Sprintf("the cat sat on mat %d", j), near(1, j), "")
		remember(fmt.Sprintf("b%d", j), fmt.Sprintf("a dog ran in park %d", j), near(7, j), "")
	}
	// auto_link links to the similar memories and says so
	r := remember("a9", "the cat again", near(1, 5), `,"auto_link":true,"link_threshold":0.9`)
	links, _ := r["auto_links"].([]any)
	if len(links) == 0 || !strings.HasPrefix(links[0].(map[string]any)["target_memory_id"].(string), "a") {
		t.Fatalf("auto_links: %v", r["auto_links"])
	}

	// text recall and search
	st, _, b := do(t, hs, call{"GET", "/api/v1/memories/recall?query=" + url.QueryEscape("cat sat") + "&threshold=0.5", "", sp})
	var rr RecallResponse
	if err := json.Unmarshal(b, &rr); st != 200 || err != nil || len(rr.Memories.Vivid) == 0 || !strings.HasPrefix(rr.Memories.Vivid[0].ID, "a") {
		t.Fatalf("text recall: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/search?query=dog&limit=3", "", sp})
	var sr SearchResponse
	if err := json.Unmarshal(b, &sr); st != 200 || err != nil || sr.Total != 3 || !strings.HasPrefix(sr.Memories[0].ID, "b") {
		t.Fatalf("search: %d %s", st, b)
	}

	// spreading and hybrid recall reach linked memories; seed_id starts from one
	for _, mode := range []string{"spreading", "hybrid"} {
		q := url.Values{"embedding": {vecJSON(near(1, 5))}, "mode": {mode}, "threshold": {"0.1"}, "max_results": {"10"}}
		st, _, b = do(t, hs, call{"GET", "/api/v1/memories/recall?" + q.Encode(), "", sp})
		if err := json.Unmarshal(b, &rr); st != 200 || err != nil || len(rr.Memories.Vivid)+len(rr.Memories.Associated) == 0 || rr.QueryAnalysis.SearchStrategy == "Similarity" {
			t.Fatalf("recall mode=%s: %d %s", mode, st, b)
		}
	}
	st, _, b = do(t, hs, call{"POST", "/api/v1/memories/recall", `{"seed_id":"a9","mode":"spreading","max_hops":2,"threshold":0.1}`, sp})
	if err := json.Unmarshal(b, &rr); st != 200 || err != nil || len(rr.Memories.Associated) == 0 {
		t.Fatalf("seed_id: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/memories/recall?seed_id=nope&mode=spreading", "", sp})
	if code, _, _ := errorOf(t, b); st != 404 || code != CodeMemoryNotFound {
		t.Fatalf("missing seed: %d %s", st, b)
	}

	// consolidation: run it, list beliefs, fetch one, miss one
	st, _, b = do(t, hs, call{"POST", "/api/v1/consolidations", "", sp})
	var cr ConsolidateResponse
	if err := json.Unmarshal(b, &cr); st != 200 || err != nil || cr.ClustersFormed < 1 || len(cr.Beliefs) == 0 || cr.Stats.TotalReplays < 1 {
		t.Fatalf("consolidate: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/consolidations?max_episodes=10", "", sp})
	var cl ConsolidationsResponse
	if err := json.Unmarshal(b, &cl); st != 200 || err != nil || len(cl.Beliefs) == 0 || len(cl.Beliefs[0].Citations) == 0 || cl.Beliefs[0].Citations[0].ContentPreview == "" {
		t.Fatalf("consolidations: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/consolidations/" + url.PathEscape(cr.Beliefs[0]), "", sp})
	if err := json.Unmarshal(b, &cl); st != 200 || err != nil || len(cl.Beliefs) != 1 || cl.Beliefs[0].ID != cr.Beliefs[0] {
		t.Fatalf("consolidation by id: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/consolidations/nope", "", sp})
	if code, _, _ := errorOf(t, b); st != 404 || code != CodeConsolidationNF {
		t.Fatalf("unknown belief: %d %s", st, b)
	}

	// pattern completion from half an embedding
	half := vecJSON(near(7, 1))
	parts := strings.Split(strings.Trim(half, "[]"), ",")
	for i := testDim / 2; i < testDim; i++ {
		parts[i] = "null"
	}
	st, _, b = do(t, hs, call{"POST", "/api/v1/complete", `{"partial_episode":{"known_fields":{},"partial_embedding":[` + strings.Join(parts, ",") + `],"cue_strength":0.7},"config":{"num_hypotheses":3}}`, sp})
	var comp CompleteResponse
	if err := json.Unmarshal(b, &comp); st != 200 || err != nil || len(comp.CompletedEpisode.Embedding) != testDim || len(comp.SourceAttribution) == 0 || !strings.HasPrefix(comp.SourceAttribution[0].MemoryID, "b") {
		t.Fatalf("complete: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"POST", "/api/v1/complete", `{"partial_episode":{"partial_embedding":[` + strings.Join(parts, ",") + `]}}`, map[string]string{"X-Memory-Space": "empty_space"}})
	if st != 422 {
		t.Fatalf("complete in an empty space: %d %s", st, b)
	}

	// delete, then the memory is gone
	st, _, b = do(t, hs, call{"DELETE", "/api/v1/memories/b3", "", sp})
	if st != 200 || decode(t, b)["status"] != "deleted" {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st, _, _ = do(t, hs, call{"GET", "/api/v1/memories/b3", "", sp}); st != 404 {
		t.Fatalf("deleted memory still there: %d", st)
	}
	if st, _, _ = do(t, hs, call{"DELETE", "/api/v1/memories/b3", "", sp}); st != 404 {
		t.Fatalf("second delete: %d", st)
	}

	// spaces: create an empty one, list it
	st, _, b = do(t, hs, call{"POST", "/api/v1/spaces", `{"id":"tenant_new"}`, nil})
	if st != 201 || decode(t, b)["id"] != "tenant_new" {
		t.Fatalf("create space: %d %s", st, b)
	}
	st, _, b = do(t, hs, call{"GET", "/api/v1/spaces", "", nil})
	if st != 200 || !strings.Contains(string(b), `"id":"tenant_new"`) || !strings.Contains(string(b), `"id":"cog"`) {
		t.Fatalf("spaces: %d %s", st, b)
	}

	// system health and engine metrics
	st, _, b = do(t, hs, call{"GET", "/api/v1/system/health", "", nil})
	if st != 200 || !strings.Contains(string(b), `"space":"cog"`) || !strings.Contains(string(b), "hot_tier") {
		t.Fatalf("system health: %d %s", st, b)
	}
	_, _, b = do(t, hs, call{"GET", "/metrics/prometheus", "", nil})
	for _, want := range []string{"engramd_hot_tier_hit_ratio", `engramd_index_nodes{space="cog"}`, "engram_consolidation_runs_total 1", "engramd_pebble_wal_bytes_written_total", `engramd_beliefs{space="cog"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics: no %q", want)
		}
	}
	// b3, deleted above, still holds its slot until a restart.
	if want := `engramd_memories_retired{space="cog"} 1` + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("metrics: no %q in\n%s", want, b)
	}
}
