package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// Confidence is Engram's confidence object.
type Confidence struct {
	Value     float64 `json:"value"`
	Category  string  `json:"category"`
	Reasoning string  `json:"reasoning"`
}

func confidence(v float64, reasoning string) Confidence {
	c := "Low"
	switch {
	case v > 0.7:
		c = "High"
	case v > 0.4:
		c = "Medium"
	}
	return Confidence{Value: v, Category: c, Reasoning: reasoning}
}

// RememberResponse is the answer to a stored memory or episode (201).
type RememberResponse struct {
	MemoryID           string            `json:"memory_id"`
	StorageConfidence  Confidence        `json:"storage_confidence"`
	ConsolidationState string            `json:"consolidation_state"`
	ObservedAt         time.Time         `json:"observed_at"`
	StoredAt           time.Time         `json:"stored_at"`
	Links              map[string]string `json:"links"`
	AutoLinks          []AutoLink        `json:"auto_links"`
	SystemMessage      string            `json:"system_message"`
}

type rememberRequest struct {
	Content             *string        `json:"content"`
	Embedding           embeddingField `json:"embedding"`
	ID                  string         `json:"id"`
	Confidence          *float64       `json:"confidence"`
	ConfidenceReasoning string         `json:"confidence_reasoning"`
	Timestamp           *string        `json:"timestamp"`
	MemoryType          string         `json:"memory_type"`
	Tags                []string       `json:"tags"`
	AutoLink            bool           `json:"auto_link"`
	LinkThreshold       *float64       `json:"link_threshold"`
	MemorySpaceID       string         `json:"memory_space_id"`
}

// DefaultConfidence is a memory's confidence when the request gives none.
const DefaultConfidence = 0.7

func newID(prefix string) string {
	return prefix + strconv.FormatUint(rand.Uint64()|1<<63, 16)[1:]
}

// memory validates a remember request into an engine memory (index is the
// batch position for messages, -1 for a single memory).
func (s *Server) memory(req *rememberRequest, prefix string) (engine.Memory, string, error) {
	if req.Content == nil {
		return engine.Memory{}, "", unprocessable(prefix+"content", "missing (a non-empty string is required)")
	}
	if *req.Content == "" {
		return engine.Memory{}, "", badField(prefix+"content", "must not be empty")
	}
	if len(*req.Content) > engine.MaxContentBytes {
		return engine.Memory{}, "", badField(prefix+"content", "%d bytes, at most %d allowed", len(*req.Content), engine.MaxContentBytes)
	}
	m := engine.Memory{ID: req.ID, Content: *req.Content}
	if m.ID == "" {
		m.ID = newID("mem_")
	} else if err := checkID(prefix+"id", m.ID); err != nil {
		return m, "", err
	}
	conf, err := checkUnit(prefix+"confidence", req.Confidence, DefaultConfidence)
	if err != nil {
		return m, "", err
	}
	m.Confidence = float32(conf)
	if _, err := checkUnit(prefix+"link_threshold", req.LinkThreshold, 0.7); err != nil {
		return m, "", err
	}
	if req.Embedding.set && req.Embedding.v != nil {
		if err := checkEmbedding(prefix+"embedding", req.Embedding.v, s.store.Dim()); err != nil {
			return m, "", err
		}
		m.Embedding = req.Embedding.v
	} else {
		m.Embedding = constVector(s.store.Dim(), 0.5)
	}
	if req.Timestamp != nil {
		t, err := parseTime(prefix+"timestamp", *req.Timestamp)
		if err != nil {
			return m, "", err
		}
		m.CreatedAt = t
	} else {
		m.CreatedAt = time.Now()
	}
	reason := req.ConfidenceReasoning
	if reason == "" {
		reason = "Default confidence for user-provided memory"
	}
	return m, reason, nil
}

func constVector(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// AutoLink is a link auto_link made to an existing memory.
type AutoLink struct {
	TargetMemoryID  string  `json:"target_memory_id"`
	SimilarityScore float64 `json:"similarity_score"`
	LinkReason      string  `json:"link_reason"`
}

// storageConfidence is Engram's: confidence × (1 − 0.5 × fill), where fill
// is the space's memories over its 100,000-memory capacity, capped at 1.
func storageConfidence(conf float64, memories int) float64 {
	fill := min(float64(memories)/100_000, 1)
	return conf * (1 - 0.5*fill)
}

func (s *Server) rememberResponse(sp string, m engine.Memory, reason, kind string) RememberResponse {
	return RememberResponse{
		MemoryID:           m.ID,
		StorageConfidence:  confidence(storageConfidence(float64(m.Confidence), s.store.Count(sp)), reason),
		ConsolidationState: "Recent",
		ObservedAt:         m.CreatedAt.UTC(),
		StoredAt:           time.Now().UTC(),
		Links:              map[string]string{"consolidation": "/api/v1/consolidations"},
		AutoLinks:          []AutoLink{},
		SystemMessage:      fmt.Sprintf("%s '%s' successfully encoded with %.2f activation in space '%s'.", kind, m.ID, m.Confidence, sp),
	}
}

func (s *Server) handleRemember(w http.ResponseWriter, r *http.Request) error {
	var req rememberRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sp, err := resolveSpace(r, req.MemorySpaceID)
	if err != nil {
		return err
	}
	m, reason, err := s.memory(&req, "")
	if err != nil {
		return err
	}
	if !req.AutoLink {
		if err := s.store.Remember(r.Context(), sp, m); err != nil {
			return engineError(err)
		}
		return writeJSON(w, http.StatusCreated, s.rememberResponse(sp, m, reason, "Memory"))
	}
	o := engine.RememberOptions{AutoLink: true}
	if req.LinkThreshold != nil {
		o.LinkThreshold = float32(*req.LinkThreshold)
	}
	done, err := s.store.RememberWith(r.Context(), sp, m, o)
	if err != nil {
		return engineError(err)
	}
	resp := s.rememberResponse(sp, m, reason, "Memory")
	for _, l := range done.Links {
		resp.AutoLinks = append(resp.AutoLinks, AutoLink{TargetMemoryID: l.ID, SimilarityScore: float64(l.Score), LinkReason: fmt.Sprintf("cosine similarity %.2f", l.Score)})
	}
	return writeJSON(w, http.StatusCreated, resp)
}

// handleRememberSimple is POST /api/v1/memories: content and confidence only,
// space from the header only, as Engram does.
func (s *Server) handleRememberSimple(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Content    *string  `json:"content"`
		Confidence *float64 `json:"confidence"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sp, err := resolveSpace(r, "")
	if err != nil {
		return err
	}
	m, reason, err := s.memory(&rememberRequest{Content: req.Content, Confidence: req.Confidence}, "")
	if err != nil {
		return err
	}
	if err := s.store.Remember(r.Context(), sp, m); err != nil {
		return engineError(err)
	}
	return writeJSON(w, http.StatusCreated, s.rememberResponse(sp, m, reason, "Memory"))
}

// BatchResponse answers POST /api/v1/memories/batch (an engramd extension).
type BatchResponse struct {
	MemoryIDs []string `json:"memory_ids"`
	Count     int      `json:"count"`
}

// MaxBatch is the most memories one batch request may store.
const MaxBatch = 4096

// batchRequest is the body of POST /api/v1/memories/batch.
type batchRequest struct {
	Memories      []rememberRequest `json:"memories"`
	MemorySpaceID string            `json:"memory_space_id"`
}

// handleRememberBatch stores several memories in one atomic, durable write:
// {"memories":[{remember fields}...], "memory_space_id": "..."}.
func (s *Server) handleRememberBatch(w http.ResponseWriter, r *http.Request) error {
	var req batchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sp, err := resolveSpace(r, req.MemorySpaceID)
	if err != nil {
		return err
	}
	if len(req.Memories) == 0 {
		return unprocessable("memories", "missing or empty (want 1-%d memories)", MaxBatch)
	}
	if len(req.Memories) > MaxBatch {
		return badField("memories", "%d memories, at most %d per batch", len(req.Memories), MaxBatch)
	}
	ms := make([]engine.Memory, len(req.Memories))
	ids := make([]string, len(ms))
	for i := range req.Memories {
		if ms[i], _, err = s.memory(&req.Memories[i], fmt.Sprintf("memories[%d].", i)); err != nil {
			return err
		}
		ids[i] = ms[i].ID
	}
	if err := s.store.RememberBatch(r.Context(), sp, ms); err != nil {
		return engineError(err)
	}
	return writeJSON(w, http.StatusCreated, BatchResponse{MemoryIDs: ids, Count: len(ids)})
}

type episodeRequest struct {
	When             *string        `json:"when"`
	What             *string        `json:"what"`
	ID               string         `json:"id"`
	Embedding        embeddingField `json:"embedding"`
	Importance       *float64       `json:"importance"`
	WhereLocation    string         `json:"where_location"`
	Who              []string       `json:"who"`
	Why              string         `json:"why"`
	How              string         `json:"how"`
	EmotionalValence *float64       `json:"emotional_valence"`
	AutoLink         bool           `json:"auto_link"`
	MemorySpaceID    string         `json:"memory_space_id"`
}

func (s *Server) handleEpisode(w http.ResponseWriter, r *http.Request) error {
	var req episodeRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	sp, err := resolveSpace(r, req.MemorySpaceID)
	if err != nil {
		return err
	}
	if req.When == nil {
		return unprocessable("when", "missing (an RFC 3339 timestamp is required)")
	}
	when, err := parseTime("when", *req.When)
	if err != nil {
		return err
	}
	if req.What == nil {
		return unprocessable("what", "missing (a non-empty string is required)")
	}
	if req.EmotionalValence != nil && !(*req.EmotionalValence >= -1 && *req.EmotionalValence <= 1) {
		return badField("emotional_valence", "%v must be in [-1, 1]", *req.EmotionalValence)
	}
	imp, err := checkUnit("importance", req.Importance, 0.5)
	if err != nil {
		return err
	}
	id := req.ID
	if id == "" {
		id = newID("ep_")
	}
	ts := when.Format(time.RFC3339Nano)
	mr := rememberRequest{Content: req.What, ID: id, Confidence: &imp, Timestamp: &ts, Embedding: req.Embedding}
	if !req.Embedding.set || req.Embedding.v == nil {
		mr.Embedding = embeddingField{v: constVector(s.store.Dim(), 0.6), set: true}
	}
	m, _, err := s.memory(&mr, "")
	if err != nil {
		if ae, ok := err.(*APIError); ok && ae.Field == "content" {
			ae.Field, ae.Message = "what", "what"+ae.Message[len("content"):]
		}
		return err
	}
	if err := s.store.Remember(r.Context(), sp, m); err != nil {
		return engineError(err)
	}
	return writeJSON(w, http.StatusCreated, s.rememberResponse(sp, m, "Episode importance", "Episode"))
}

// MemoryResponse answers GET /api/v1/memories/{id}.
type MemoryResponse struct {
	ID         string    `json:"id"`
	Content    string    `json:"content"`
	Confidence float64   `json:"confidence"`
	Timestamp  time.Time `json:"timestamp"`
	MemoryType string    `json:"memory_type"`
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	sp, err := resolveSpace(r, "")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID("id", id); err != nil {
		return err
	}
	m, err := s.store.Get(r.Context(), sp, id)
	if err != nil {
		return engineError(err)
	}
	return writeJSON(w, http.StatusOK, MemoryResponse{ID: id, Content: m.Content, Confidence: float64(m.Confidence), Timestamp: m.CreatedAt.UTC(), MemoryType: m.Type.String()})
}

// handleNotFound answers requests no route takes: 405 with Allow when the
// path exists for other methods, else 404.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &APIError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, clip(r.URL.Path), strings.Join(allow, ", "))}
	}
	return &APIError{Status: http.StatusNotFound, Code: CodeResourceNotFound, Message: fmt.Sprintf("no route for %s %s", r.Method, clip(r.URL.Path))}
}

// HealthResponse answers GET /health.
type HealthResponse struct {
	Status    string    `json:"status"`
	Service   string    `json:"service"`
	Version   string    `json:"version"`
	Timestamp time.Time `json:"timestamp"`
	// Message says why the server is unhealthy (engramd extension).
	Message string `json:"message,omitempty"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	// A store whose storage failed (a failed WAL sync) answers every call
	// with ErrFailed until it is reopened: then the server is unhealthy.
	if _, err := s.store.Space(DefaultSpace); errors.Is(err, engine.ErrFailed) || errors.Is(err, engine.ErrClosed) {
		return writeJSON(w, http.StatusServiceUnavailable, HealthResponse{Status: "unhealthy", Service: "engramd", Version: s.cfg.Version, Timestamp: time.Now().UTC(), Message: err.Error()})
	}
	return writeJSON(w, http.StatusOK, HealthResponse{Status: "healthy", Service: "engramd", Version: s.cfg.Version, Timestamp: time.Now().UTC()})
}
