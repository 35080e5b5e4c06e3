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
	var resp RecallResponse
	resp.Memories.Vivid, resp.Memories.Associated, resp.Memories.Reconstructed = []RecallResult{}, []RecallResult{}, []RecallResult{}
	now := time.Now().UTC()
	intent := "Embedding-based recall request"
	searched, hopsDone := 0, 0
	if p.SeedID != "" {
		intent = "Spreading activation from a memory"
		if err := s.spreadFromSeed(r, sp, &p, &resp, now); err != nil {
			return err
		}
	} else {
		req := engine.RecallRequest{Embedding: p.Embedding, Query: p.Query, Mode: mode(p.Mode), Threshold: float32(p.Threshold), MaxHops: p.MaxHops, NoEmbeddings: true}
		if p.Query != "" {
			req.Embedding = nil // Engram: when both are sent, query wins
			req.MaxResults = min(p.MaxResults, maxTextCands)
			intent = "Text-based recall request"
		} else {
			req.MaxResults = min(p.MaxResults, maxEmbeddingCands)
		}
		res, err := s.store.Recall(r.Context(), sp, req)
		if err != nil {
			return engineError(err)
		}
		searched, hopsDone = res.Searched, res.Hops
		for _, m := range res.Vivid {
			resp.Memories.Vivid = append(resp.Memories.Vivid, recalled(&m, now))
		}
		for _, m := range res.Associated {
			resp.Memories.Associated = append(resp.Memories.Associated, recalled(&m, now))
		}
	}
	elapsed := time.Since(start)
	resp.RecallConfidence = confidence(0.8, "Recall confidence of the memory system")
	resp.QueryAnalysis = QueryAnalysis{UnderstoodIntent: intent, SearchStrategy: strategy(p.Mode), CognitiveLoad: "Low", Suggestions: []string{}}
	if p.Metadata {
		if searched == 0 {
			searched = s.store.Count(sp)
		}
		resp.Metadata = &RecallMetadata{TotalMemoriesSearched: searched, ActivationSpreadHops: hopsDone, ProcessingTimeMs: float64(elapsed.Microseconds()) / 1000, MemorySystemLoad: "Normal"}
	}
	resp.SystemMessage = fmt.Sprintf("Recall completed in %dms.", elapsed.Milliseconds())
	return writeJSON(w, http.StatusOK, &resp)
}

func mode(m string) engine.RecallMode {
	switch m {
	case "spreading":
		return engine.ModeSpreading
	case "hybrid":
		return engine.ModeHybrid
	}
	return engine.ModeSimilarity
}

// recalled renders one engine recall result.
func recalled(m *engine.Recalled, now time.Time) RecallResult {
	path := "Similarity"
	if m.Hops > 0 {
		path = fmt.Sprintf("Spreading activation (%d hops via %s)", m.Hops, strings.Join(m.Path, " > "))
	}
	last := m.LastAccess
	if last.IsZero() {
		last = now
	}
	score := clamp01(float64(m.Score))
	return RecallResult{
		ID: m.ID, Content: m.Content, Confidence: confidence(score, "Recalled from memory store with confidence score"),
		ActivationLevel: clamp01(float64(max(m.Activation, m.Score))), SimilarityScore: clamp01(float64(m.Similarity)), RetrievalPath: path,
		ObservedAt: m.CreatedAt.UTC(), LastAccess: last.UTC(), Tags: []string{}, MemoryType: memoryType(m.Type),
		RelevanceExplanation: fmt.Sprintf("Retrieved with %.2f confidence", score),
	}
}

func memoryType(t engine.MemoryType) string {
	if t == engine.Semantic {
		return "Semantic"
	}
	return "Episodic"
}

// spreadFromSeed answers recall?seed_id= (an engramd extension): spreading
// activation from one stored memory; what it reaches is "associated".
func (s *Server) spreadFromSeed(r *http.Request, sp string, p *recallParams, resp *RecallResponse, now time.Time) error {
	th := float32(p.Threshold)
	if th <= 0 {
		th = engine.DefaultSpreadThreshold
	}
	res, err := s.store.Spread(r.Context(), sp, engine.SpreadRequest{Seeds: []string{p.SeedID}, MaxHops: p.MaxHops, Threshold: th, MaxResults: p.MaxResults + 1})
	if err != nil {
		return engineError(err)
	}
	for _, a := range res.Activated {
		if a.Hops == 0 {
			continue // the seed itself
		}
		m, err := s.store.Get(r.Context(), sp, a.ID)
		if err != nil {
			if isNotFound(engineError(err)) {
				continue
			}
			return engineError(err)
		}
		rc := engine.Recalled{Memory: m, Score: a.Activation, Activation: a.Activation, Hops: a.Hops, Path: a.Path}
		resp.Memories.Associated = append(resp.Memories.Associated, recalled(&rc, now))
		if len(resp.Memories.Associated) >= p.MaxResults {
			break
		}
	}
	return nil
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

func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return math.Min(v, 1)
}
