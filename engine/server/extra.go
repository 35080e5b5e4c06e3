package server

import (
	"math"
	"net/http"
	"time"
)

// textCandidates scores every memory of the space against a text cue.
func (s *Server) textCandidates(r *http.Request, sp string, p *recallParams) ([]scored, string, error) {
	return nil, "", notImplemented("text recall")
}

// spreadCandidates runs spreading activation (mode=spreading) or similarity
// followed by spreading (mode=hybrid).
func (s *Server) spreadCandidates(r *http.Request, sp string, p *recallParams) ([]scored, string, error) {
	return nil, "", notImplemented("recall mode=" + p.Mode)
}

// handleSearch is GET /api/v1/memories/search?query=&limit=: a text cue with
// threshold 0.7.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("query") == "" {
		return badParam("query", "missing (a text cue is required)")
	}
	if _, err := qInt(q, "limit", 10, 1, maxResultsLimit); err != nil {
		return err
	}
	if _, err := resolveSpace(r, ""); err != nil {
		return err
	}
	return notImplemented("text search")
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	if _, err := resolveSpace(r, ""); err != nil {
		return err
	}
	if err := checkID("id", r.PathValue("id")); err != nil {
		return err
	}
	return notImplemented("delete")
}

// SpaceInfo describes one memory space.
type SpaceInfo struct {
	ID       string `json:"id"`
	Memories int    `json:"memories"`
}

func (s *Server) handleSpaces(w http.ResponseWriter, r *http.Request) error {
	k := keyOf(r.Context())
	out := struct {
		Spaces []SpaceInfo `json:"spaces"`
		Total  int         `json:"total"`
	}{Spaces: []SpaceInfo{}}
	for _, sp := range s.store.Spaces() {
		if k.Allows(sp) {
			out.Spaces = append(out.Spaces, SpaceInfo{ID: sp, Memories: s.store.Count(sp)})
		}
	}
	out.Total = len(out.Spaces)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateSpace(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID *string `json:"id"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.ID == nil {
		return unprocessable("id", "missing (a space id is required)")
	}
	if !engineValidSpace(*req.ID) {
		return badField("id", "%q must be 3-64 characters from [a-z0-9_-]", clip(*req.ID))
	}
	if k := keyOf(r.Context()); !k.Allows(*req.ID) {
		return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Field: "id", Message: "id: key " + k.ID + " may not use memory space " + *req.ID}
	}
	return notImplemented("creating an empty space")
}

func (s *Server) consolidationParams(r *http.Request) (string, int, int, error) {
	sp, err := resolveSpace(r, "")
	if err != nil {
		return "", 0, 0, err
	}
	q := r.URL.Query()
	eps, err := qInt(q, "max_episodes", 256, 1, 1_000_000)
	if err != nil {
		return "", 0, 0, err
	}
	pats, err := qInt(q, "max_patterns", 0, 0, 1_000_000)
	if err != nil {
		return "", 0, 0, err
	}
	return sp, eps, pats, nil
}

func (s *Server) handleConsolidations(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := s.consolidationParams(r); err != nil {
		return err
	}
	return notImplemented("consolidation")
}

func (s *Server) handleConsolidate(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := s.consolidationParams(r); err != nil {
		return err
	}
	return notImplemented("consolidation")
}

func (s *Server) handleConsolidation(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := s.consolidationParams(r); err != nil {
		return err
	}
	if err := checkID("id", r.PathValue("id")); err != nil {
		return err
	}
	return notImplemented("consolidation")
}

type completeRequest struct {
	PartialEpisode *struct {
		KnownFields      map[string]string `json:"known_fields"`
		PartialEmbedding partialField      `json:"partial_embedding"`
		CueStrength      *float64          `json:"cue_strength"`
	} `json:"partial_episode"`
	Config *struct {
		CA1Threshold  *float64 `json:"ca1_threshold"`
		NumHypotheses *int     `json:"num_hypotheses"`
		MaxIterations *int     `json:"max_iterations"`
	} `json:"config"`
	MemorySpaceID string `json:"memory_space_id"`
}

// MinKnownDims is how many known dimensions a completion cue needs (Engram's rule).
const MinKnownDims = 256

// completion is a validated pattern-completion request.
type completion struct {
	space      string
	partial    []float32 // NaN = unknown
	cue        float64
	ca1        float64
	hypotheses int
	iterations int
}

func (s *Server) parseComplete(r *http.Request) (completion, error) {
	var req completeRequest
	if err := decodeBody(r, &req); err != nil {
		return completion{}, err
	}
	sp, err := resolveSpace(r, req.MemorySpaceID)
	if err != nil {
		return completion{}, err
	}
	c := completion{space: sp, cue: 0.7, ca1: 0.7, hypotheses: 3, iterations: 7}
	pe := req.PartialEpisode
	if pe == nil {
		return c, unprocessable("partial_episode", "missing")
	}
	if !pe.PartialEmbedding.set || pe.PartialEmbedding.v == nil {
		return c, unprocessable("partial_episode.partial_embedding", "missing (want %d numbers or nulls)", s.store.Dim())
	}
	v := []float32(pe.PartialEmbedding.v)
	if len(v) != s.store.Dim() {
		return c, unprocessable("partial_episode.partial_embedding", "has %d values, want exactly %d", len(v), s.store.Dim())
	}
	known := 0
	var sum float64
	for _, x := range v {
		if !math.IsNaN(float64(x)) {
			known++
			sum += float64(x) * float64(x)
		}
	}
	need := min(MinKnownDims, s.store.Dim())
	if known < need {
		return c, unprocessable("partial_episode.partial_embedding", "%d known dimensions, at least %d needed", known, need)
	}
	if sum == 0 {
		return c, unprocessable("partial_episode.partial_embedding", "the known dimensions are all zero")
	}
	c.partial = v
	if c.cue, err = checkUnit("partial_episode.cue_strength", pe.CueStrength, 0.7); err != nil {
		return c, err
	}
	if cfg := req.Config; cfg != nil {
		if c.ca1, err = checkUnit("config.ca1_threshold", cfg.CA1Threshold, 0.7); err != nil {
			return c, err
		}
		if cfg.NumHypotheses != nil {
			if *cfg.NumHypotheses < 1 || *cfg.NumHypotheses > 100 {
				return c, unprocessable("config.num_hypotheses", "%d must be in [1, 100]", *cfg.NumHypotheses)
			}
			c.hypotheses = *cfg.NumHypotheses
		}
		if cfg.MaxIterations != nil {
			if *cfg.MaxIterations < 1 || *cfg.MaxIterations > 100 {
				return c, unprocessable("config.max_iterations", "%d must be in [1, 100]", *cfg.MaxIterations)
			}
			c.iterations = *cfg.MaxIterations
		}
	}
	return c, nil
}

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.parseComplete(r); err != nil {
		return err
	}
	return notImplemented("pattern completion")
}

// SystemHealth answers GET /api/v1/system/health.
type SystemHealth struct {
	Status    string        `json:"status"`
	Timestamp time.Time     `json:"timestamp"`
	Checks    []HealthCheck `json:"checks"`
	Spaces    []SpaceHealth `json:"spaces"`
	Cluster   any           `json:"cluster"`
}

// HealthCheck is one check of the system health.
type HealthCheck struct {
	Name           string  `json:"name"`
	Type           string  `json:"type"`
	Status         string  `json:"status"`
	Message        string  `json:"message"`
	LatencySeconds float64 `json:"latency_seconds"`
}

// SpaceHealth is one space's line of the system health.
type SpaceHealth struct {
	Space             string  `json:"space"`
	Memories          int     `json:"memories"`
	Pressure          float64 `json:"pressure"`
	WALLagMs          float64 `json:"wal_lag_ms"`
	ConsolidationRate float64 `json:"consolidation_rate"`
}

func (s *Server) handleSystemHealth(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var only string
	if q.Has("space") {
		only = q.Get("space")
		if !engineValidSpace(only) {
			return unprocessable("space", "%q must be 3-64 characters from [a-z0-9_-]", clip(only))
		}
	}
	t0 := time.Now()
	spaces := s.store.Spaces()
	lat := time.Since(t0).Seconds()
	out := SystemHealth{Status: "healthy", Timestamp: time.Now().UTC(), Spaces: []SpaceHealth{},
		Checks: []HealthCheck{{Name: "storage", Type: "storage", Status: "healthy", Message: "pebble store open", LatencySeconds: lat}}}
	k := keyOf(r.Context())
	for _, sp := range spaces {
		if (only == "" || sp == only) && k.Allows(sp) {
			out.Spaces = append(out.Spaces, SpaceHealth{Space: sp, Memories: s.store.Count(sp)})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
