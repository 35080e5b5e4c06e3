package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

func engineValidSpace(sp string) bool { return engine.ValidSpaceID(sp) }

// decodeBody reads a JSON body into v. Every failure is a 4xx naming what
// is wrong: 415 without a JSON content type, 413 past the body limit, 400
// for malformed JSON, 422 for a field of the wrong type.
func decodeBody(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return &APIError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia, Field: "Content-Type", Message: "Content-Type: missing; send application/json"}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &APIError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia, Field: "Content-Type", Message: fmt.Sprintf("Content-Type: %q is not application/json", clip(ct))}
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer putBody(buf)
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, maxPooledBody)))
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return bodyReadError(err)
	}
	if buf.Len() == 0 {
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "body", Message: "body: empty; want a JSON object"}
	}
	return decodeJSON(buf.Bytes(), v)
}

// bodyPool holds the buffers request bodies are read into. A remember or
// recall body is about 8 KB of JSON (a 768-d vector), and io.ReadAll,
// doubling from 512 bytes, allocated about 30 KB per request: 23% of
// engramd's allocations under mixed_balanced (2026-11-28). Decoding copies
// whatever it keeps (strings, vectors), so a buffer is reused as soon as
// decodeBody returns.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds what a pooled buffer grows to ahead of reading (a
// client's Content-Length is a claim) and which buffers go back to the
// pool: a rare large batch does not pin its memory.
const maxPooledBody = 1 << 20

func putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		bodyPool.Put(b)
	}
}

func bodyReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Field: "body", Message: fmt.Sprintf("body: larger than the limit of %d bytes", mbe.Limit)}
	}
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "body", Message: "body: " + err.Error()}
}

// decodeJSON unmarshals body into v, turning decoding errors into 4xx. The
// hot request types decode in one pass (fastDecode); whatever that path
// declines, encoding/json decides, so answers and errors are the same.
func decodeJSON(body []byte, v any) error {
	if f, ok := v.(fastObject); ok {
		if fastDecode(body, f) {
			return nil
		}
		f.reset()
	}
	return decodeJSONStd(body, v)
}

// decodeJSONStd is decodeJSON with encoding/json only.
func decodeJSONStd(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "body", Message: fmt.Sprintf("body: malformed JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return unprocessable(field, "want %s, got JSON %s", te.Type, te.Value)
	}
	// A field's own decoder failed (an embedding that is not an array of
	// numbers); encoding/json does not say which field, the error does.
	var fe *fieldError
	if errors.As(err, &fe) {
		return badField(fe.field, "%v", fe.err)
	}
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "body", Message: "body: " + err.Error()}
}

// fieldError names the field whose custom decoder failed.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }

// embeddingField is a vector that reports its field name on error.
type embeddingField struct {
	v   vector
	set bool
}

func (e *embeddingField) UnmarshalJSON(b []byte) error {
	e.set = true
	if err := e.v.UnmarshalJSON(b); err != nil {
		return &fieldError{"embedding", err}
	}
	return nil
}

// partialField is a partial vector that reports its field name on error.
type partialField struct {
	v   partialVector
	set bool
}

func (e *partialField) UnmarshalJSON(b []byte) error {
	e.set = true
	if err := e.v.UnmarshalJSON(b); err != nil {
		return &fieldError{"partial_episode.partial_embedding", err}
	}
	return nil
}

// resolveSpace picks the request's memory space as Engram does: header
// X-Memory-Space, then query parameter space, then the body's
// memory_space_id, then "default"; and checks it against the caller's key.
func resolveSpace(r *http.Request, body string) (string, error) {
	sp, field := r.Header.Get("X-Memory-Space"), "X-Memory-Space"
	if sp == "" {
		if q := r.URL.Query(); q.Has("space") {
			sp, field = q.Get("space"), "space"
		}
	}
	if sp == "" && body != "" {
		sp, field = body, "memory_space_id"
	}
	sp = strings.TrimSpace(sp)
	if sp == "" {
		sp = DefaultSpace
	}
	if !engine.ValidSpaceID(sp) {
		return "", badField(field, "%q must be 3-64 characters from [a-z0-9_-]", clip(sp))
	}
	if k := keyOf(r.Context()); !k.Allows(sp) {
		return "", &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Field: field, Message: fmt.Sprintf("%s: key %s may not use memory space %q", field, k.ID, sp)}
	}
	return sp, nil
}

// checkEmbedding validates a client's vector for a store of dimension dim.
func checkEmbedding(field string, v []float32, dim int) error {
	if len(v) != dim {
		return badField(field, "has %d values, want exactly %d", len(v), dim)
	}
	var sum float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return badField(field, "element %d is not finite", i)
		}
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return badField(field, "must not be the zero vector")
	}
	return nil
}

// checkUnit validates a float field in [0, 1].
func checkUnit(field string, v *float64, def float64) (float64, error) {
	if v == nil {
		return def, nil
	}
	if !(*v >= 0 && *v <= 1) {
		return 0, badField(field, "%v must be in [0, 1]", *v)
	}
	return *v, nil
}

// parseTime parses an RFC 3339 timestamp field.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badField(field, "%q is not an RFC 3339 timestamp", clip(s))
	}
	return t, nil
}

// checkID validates a client-chosen memory id.
func checkID(field, id string) error {
	if len(id) > 256 {
		return badField(field, "longer than 256 bytes")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#' {
			return badField(field, "%q contains a control character, '/', '?' or '#'", clip(id))
		}
	}
	return nil
}

// query helpers: each returns an APIError naming the parameter.

func qFloat(q url.Values, name string, def float64) (float64, error) {
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseFloat(q.Get(name), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, badParam(name, "%q is not a number", clip(q.Get(name)))
	}
	return v, nil
}

func qInt(q url.Values, name string, def, lo, hi int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.Atoi(q.Get(name))
	if err != nil {
		return 0, badParam(name, "%q is not an integer", clip(q.Get(name)))
	}
	if v < lo || v > hi {
		return 0, badParam(name, "%d must be in [%d, %d]", v, lo, hi)
	}
	return v, nil
}

func qBool(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, badParam(name, "%q is not true or false", clip(q.Get(name)))
	}
	return v, nil
}

// engineError turns an engine error into an API error: validation errors
// are 400s naming the field, a missing memory 404, a closed store 503.
func engineError(err error) error {
	var ve *engine.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		return badField(ve.Field, "%s", strings.TrimPrefix(ve.Error(), "invalid "+ve.Field+" "))
	case errors.Is(err, engine.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Code: CodeMemoryNotFound, Message: err.Error()}
	case errors.Is(err, engine.ErrClosed):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeServiceUnavailable, RetryAfter: 1, Message: "the store is shutting down"}
	}
	return err
}
