package server

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

// recallParams is a parsed recall request, from a GET query or a POST body.
type recallParams struct {
	Query      string
	Embedding  []float32
	Threshold  float64
	MaxResults int
	Mode       string
	Metadata   bool
	Trace      bool
	// SeedID starts spreading activation from a stored memory instead of a
	// cue (an engramd extension: seed_id).
	SeedID string
	// MaxHops bounds spreading activation (extension: max_hops, default 3).
	MaxHops int
}

// Recall limits, as in Engram: candidates are capped at 100 for embedding
// cues and 75 for text cues.
const (
	DefaultThreshold  = 0.5
	DefaultMaxResults = 10
	maxEmbeddingCands = 100
	maxTextCands      = 75
	maxResultsLimit   = 1000
	defaultMaxHops    = 3
	maxHopsLimit      = 16
	vividThreshold    = 0.7
)

type recallBody struct {
	Query           *string        `json:"query"`
	Embedding       embeddingField `json:"embedding"`
	Threshold       *float64       `json:"threshold"`
	MaxResults      *int           `json:"max_results"`
	Mode            string         `json:"mode"`
	IncludeMetadata bool           `json:"include_metadata"`
	TraceActivation bool           `json:"trace_activation"`
	SeedID          string         `json:"seed_id"`
	MaxHops         *int           `json:"max_hops"`
	MemorySpaceID   string         `json:"memory_space_id"`
}

// parseRecall reads a recall request: query parameters for GET (Engram's
// form), a JSON body for POST (an extension, so 768-d cues need not travel
// in a URL).
func (s *Server) parseRecall(r *http.Request) (recallParams, string, error) {
	p := recallParams{Threshold: DefaultThreshold, MaxResults: DefaultMaxResults, MaxHops: defaultMaxHops}
	var bodySpace string
	if r.Method == http.MethodPost {
		var b recallBody
		if err := decodeBody(r, &b); err != nil {
			return p, "", err
		}
		if b.Query != nil {
			p.Query = *b.Query
		}
		p.Embedding = b.Embedding.v
		if b.Threshold != nil {
			p.Threshold = *b.Threshold
		}
		if b.MaxResults != nil {
			p.MaxResults = *b.MaxResults
		}
		if b.MaxHops != nil {
			p.MaxHops = *b.MaxHops
		}
		p.Mode, p.Metadata, p.Trace, p.SeedID = b.Mode, b.IncludeMetadata, b.TraceActivation, b.SeedID
		bodySpace = b.MemorySpaceID
		if p.MaxResults < 1 || p.MaxResults > maxResultsLimit {
			return p, "", badField("max_results", "%d must be in [1, %d]", p.MaxResults, maxResultsLimit)
		}
		if p.MaxHops < 1 || p.MaxHops > maxHopsLimit {
			return p, "", badField("max_hops", "%d must be in [1, %d]", p.MaxHops, maxHopsLimit)
		}
	} else {
		q := r.URL.Query()
		p.Query = q.Get("query")
		if q.Has("embedding") {
			v, err := parseVector([]byte(q.Get("embedding")), nil, false)
			if err != nil {
				return p, "", badParam("embedding", "%v (want a JSON array of %d numbers)", err, s.store.Dim())
			}
			p.Embedding = v
		}
		var err error
		if p.Threshold, err = qFloat(q, "threshold", DefaultThreshold); err != nil {
			return p, "", err
		}
		if p.MaxResults, err = qInt(q, "max_results", DefaultMaxResults, 1, maxResultsLimit); err != nil {
			return p, "", err
		}
		if p.MaxHops, err = qInt(q, "max_hops", defaultMaxHops, 1, maxHopsLimit); err != nil {
			return p, "", err
		}
		if p.Metadata, err = qBool(q, "include_metadata"); err != nil {
			return p, "", err
		}
		if p.Trace, err = qBool(q, "trace_activation"); err != nil {
			return p, "", err
		}
		p.Mode, p.SeedID = q.Get("mode"), q.Get("seed_id")
	}
	if !(p.Threshold >= 0 && p.Threshold <= 1) {
		return p, "", badField("threshold", "%v must be in [0, 1]", p.Threshold)
	}
	switch p.Mode {
	case "":
		p.Mode = "similarity"
	case "similarity", "spreading", "hybrid":
	default:
		return p, "", badField("mode", "%q: want similarity, spreading or hybrid", clip(p.Mode))
	}
	if p.Query == "" && p.Embedding == nil && p.SeedID == "" {
		return p, "", badField("query", "a cue is required: query (text) or embedding (%d numbers)", s.store.Dim())
	}
	if p.Query == "" && p.Embedding != nil {
		if err := checkEmbedding("embedding", p.Embedding, s.store.Dim()); err != nil {
			return p, "", err
		}
	}
	if p.SeedID != "" {
		if err := checkID("seed_id", p.SeedID); err != nil {
			return p, "", err
		}
		if p.Mode == "similarity" {
			return p, "", badField("seed_id", "needs mode=spreading or mode=hybrid")
		}
	}
	return p, bodySpace, nil
}

// RecallResult is one recalled memory.
type RecallResult struct {
	ID                   string     `json:"id"`
	Content              string     `json:"content"`
	Confidence           Confidence `json:"confidence"`
	ActivationLevel      float64    `json:"activation_level"`
	SimilarityScore      float64    `json:"similarity_score"`
	RetrievalPath        string     `json:"retrieval_path"`
	ObservedAt           time.Time  `json:"observed_at"`
	LastAccess           time.Time  `json:"last_access"`
	Tags                 []string   `json:"tags"`
	MemoryType           string     `json:"memory_type"`
	RelevanceExplanation string     `json:"relevance_explanation"`
}

// RecallResponse answers a recall.
type RecallResponse struct {
	Memories struct {
		Vivid         []RecallResult `json:"vivid"`
		Associated    []RecallResult `json:"associated"`
		Reconstructed []RecallResult `json:"reconstructed"`
	} `json:"memories"`
	RecallConfidence Confidence      `json:"recall_confidence"`
	QueryAnalysis    QueryAnalysis   `json:"query_analysis"`
	Metadata         *RecallMetadata `json:"metadata"`
	SystemMessage    string          `json:"system_message"`
}

// QueryAnalysis describes how a recall was understood.
type QueryAnalysis struct {
	UnderstoodIntent string   `json:"understood_intent"`
	SearchStrategy   string   `json:"search_strategy"`
	CognitiveLoad    string   `json:"cognitive_load"`
	Suggestions      []string `json:"suggestions"`
}

// RecallMetadata is returned with include_metadata=true.
type RecallMetadata struct {
	TotalMemoriesSearched int     `json:"total_memories_searched"`
	ActivationSpreadHops  int     `json:"activation_spread_hops"`
	ProcessingTimeMs      float64 `json:"processing_time_ms"`
	MemorySystemLoad      string  `json:"memory_system_load"`
}

// scored is one candidate of a recall before its memory is read.
type scored struct {
	id    string
	score float64
	path  string
}

func (s *Server) handleRecall(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	p, bodySpace, err := s.parseRecall(r)
	if err != nil {
		return err
	}
	sp, err := resolveSpace(r, bodySpace)
	if err != nil {
		return err
	}
	cands, intent, err := s.recallCandidates(r, sp, &p)
	if err != nil {
		return err
	}
	var resp RecallResponse
	resp.Memories.Vivid, resp.Memories.Associated, resp.Memories.Reconstructed = []RecallResult{}, []RecallResult{}, []RecallResult{}
	for _, c := range cands {
		if c.score < p.Threshold {
			continue
		}
		m, err := s.store.Get(r.Context(), sp, c.id)
		if err != nil {
			if ae := engineError(err); isNotFound(ae) {
				continue // deleted since the search saw it
			}
			return engineError(err)
		}
		res := RecallResult{
			ID: c.id, Content: m.Content, Confidence: confidence(c.score, "Recalled from memory store with confidence score"),
			ActivationLevel: c.score, SimilarityScore: c.score, RetrievalPath: c.path,
			ObservedAt: m.CreatedAt.UTC(), LastAccess: time.Now().UTC(), Tags: []string{}, MemoryType: "Episodic",
			RelevanceExplanation: fmt.Sprintf("Retrieved with %.2f confidence", c.score),
		}
		if c.score > vividThreshold {
			resp.Memories.Vivid = append(resp.Memories.Vivid, res)
		} else {
			resp.Memories.Associated = append(resp.Memories.Associated, res)
		}
		if len(resp.Memories.Vivid)+len(resp.Memories.Associated) >= p.MaxResults {
			break
		}
	}
	elapsed := time.Since(start)
	resp.RecallConfidence = confidence(0.8, "Recall confidence of the memory system")
	resp.QueryAnalysis = QueryAnalysis{UnderstoodIntent: intent, SearchStrategy: strategy(p.Mode), CognitiveLoad: "Low", Suggestions: []string{}}
	if p.Metadata {
		resp.Metadata = &RecallMetadata{TotalMemoriesSearched: s.store.Count(sp), ActivationSpreadHops: hops(&p), ProcessingTimeMs: float64(elapsed.Microseconds()) / 1000, MemorySystemLoad: "Normal"}
	}
	resp.SystemMessage = fmt.Sprintf("Recall completed in %dms.", elapsed.Milliseconds())
	return writeJSON(w, http.StatusOK, &resp)
}

func hops(p *recallParams) int {
	if p.Mode == "similarity" {
		return 0
	}
	return p.MaxHops
}

func strategy(mode string) string {
	switch mode {
	case "spreading":
		return "Spreading activation"
	case "hybrid":
		return "Hybrid"
	}
	return "Similarity"
}

func isNotFound(err error) bool {
	ae, ok := err.(*APIError)
	return ok && ae.Status == http.StatusNotFound
}

// recallCandidates runs the recall in the engine and returns candidates,
// best first.
func (s *Server) recallCandidates(r *http.Request, sp string, p *recallParams) ([]scored, string, error) {
	if p.Query != "" {
		return s.textCandidates(r, sp, p)
	}
	if p.Mode != "similarity" {
		return s.spreadCandidates(r, sp, p)
	}
	k := min(p.MaxResults, maxEmbeddingCands)
	ms, err := s.store.Search(r.Context(), sp, p.Embedding, k)
	if err != nil {
		return nil, "", engineError(err)
	}
	out := make([]scored, 0, len(ms))
	for _, m := range ms {
		out = append(out, scored{id: m.ID, score: clamp01(float64(m.Score)), path: "Similarity"})
	}
	return out, "Embedding-based recall request", nil
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return math.Min(v, 1)
}

// textScore is Engram's text cue score: case-insensitive substring 1.0,
// reverse substring 0.8, otherwise the Jaccard index of the word sets.
func textScore(query, content string) float64 {
	q, c := strings.ToLower(query), strings.ToLower(content)
	switch {
	case strings.Contains(c, q):
		return 1
	case strings.Contains(q, c):
		return 0.8
	}
	qw, cw := map[string]bool{}, map[string]bool{}
	for _, w := range strings.Fields(q) {
		qw[w] = true
	}
	for _, w := range strings.Fields(c) {
		cw[w] = true
	}
	inter := 0
	for w := range qw {
		if cw[w] {
			inter++
		}
	}
	union := len(qw) + len(cw) - inter
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// notImplemented is the answer for a valid request the engine cannot serve yet.
func notImplemented(what string) error {
	return &APIError{Status: http.StatusNotImplemented, Code: CodeNotImplemented, Message: what + " is not supported by this engine build"}
}

var _ = engine.ErrNotFound
