package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Error codes of Engram's envelope (ENGRAM_API.md §4), plus the few this
// server adds for conditions Engram answers in plain text.
const (
	CodeInvalidInput       = "INVALID_MEMORY_INPUT"
	CodeBadRequest         = "BAD_REQUEST"
	CodeValidation         = "MEMORY_VALIDATION_ERROR" // 422: missing or wrongly typed field
	CodeUnauthorized       = "UNAUTHORIZED"
	CodeForbidden          = "FORBIDDEN"
	CodeMemoryNotFound     = "MEMORY_NOT_FOUND"
	CodeConsolidationNF    = "CONSOLIDATION_NOT_FOUND"
	CodeResourceNotFound   = "RESOURCE_NOT_FOUND"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge    = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia   = "UNSUPPORTED_MEDIA_TYPE"
	CodeSystemError        = "MEMORY_SYSTEM_ERROR"
	CodeNotImplemented     = "NOT_IMPLEMENTED"
	CodeOverloaded         = "SERVER_OVERLOADED"
	CodeServiceUnavailable = "MEMORY_CLUSTER_UNAVAILABLE"
	// CodeClientClosed goes with status 499 (nginx's "client closed
	// request"): the client went away before the answer. Nobody reads it;
	// the metrics and the access log do.
	CodeClientClosed = "CLIENT_CLOSED_REQUEST"
)

// APIError is an error answered with Engram's envelope: an HTTP status, a
// code, a message and, for input errors, the offending field.
type APIError struct {
	Status  int
	Code    string
	Field   string // request field at fault ("embedding", "X-Memory-Space"); "" if none
	Message string
	// RetryAfter, when > 0, is sent as the Retry-After header (seconds).
	RetryAfter int
	// Context, when set, is the envelope's educational_context: what the
	// route is about, for a route whose errors the status's default (about
	// memories) does not fit, such as the backup routes.
	Context string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// badField is a 400 INVALID_MEMORY_INPUT naming field.
func badField(field, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidInput, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// badParam is a 400 BAD_REQUEST naming a query parameter.
func badParam(field, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// unprocessable is a 422 MEMORY_VALIDATION_ERROR naming field.
func unprocessable(field, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

type envelope struct {
	Error struct {
		Code               string `json:"code"`
		Message            string `json:"message"`
		Field              string `json:"field,omitempty"`
		EducationalContext string `json:"educational_context"`
		CognitiveGuidance  string `json:"cognitive_guidance"`
	} `json:"error"`
	Documentation struct {
		APIGuide       string `json:"api_guide"`
		MemoryConcepts string `json:"memory_concepts"`
		Examples       string `json:"examples"`
	} `json:"documentation"`
}

// writeError answers e in Engram's error envelope.
func writeError(w http.ResponseWriter, e *APIError) {
	var env envelope
	env.Error.Code = e.Code
	env.Error.Message = e.Message
	env.Error.Field = e.Field
	env.Error.EducationalContext = context4(e)
	env.Error.CognitiveGuidance = guidance(e)
	env.Documentation.APIGuide = "/docs/api"
	env.Documentation.MemoryConcepts = "/docs/memory-systems"
	env.Documentation.Examples = "/docs/examples"
	b, _ := json.Marshal(&env)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	w.Write(append(b, '\n'))
}

func context4(e *APIError) string {
	switch {
	case e.Context != "":
		return e.Context
	case e.Status == http.StatusServiceUnavailable:
		return "The server is at its in-flight request limit; it sheds load instead of queueing without bound."
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return "Every route but /health/alive requires an API key when authentication is on."
	case e.Status == http.StatusNotFound:
		return "Memories are addressed by id within one memory space."
	case e.Status == http.StatusNotImplemented:
		return "This server does not offer the route in its current configuration."
	case e.Status >= 500:
		return "The memory system failed internally; the request may be retried."
	case e.Code == CodeInvalidInput || e.Code == CodeValidation:
		return "Memories need non-empty content and, when given, an embedding of the configured dimension."
	default:
		return "The request does not match the API: the message and field say what to change."
	}
}

func guidance(e *APIError) string {
	switch {
	case e.Status == http.StatusServiceUnavailable:
		return "Retry after the number of seconds in Retry-After, or lower the request rate."
	case e.Status == http.StatusUnauthorized:
		return "Send Authorization: Bearer engram_key_<id>_<secret>."
	case e.Status == http.StatusForbidden:
		return "Use a key whose access list includes this memory space."
	case e.RetryAfter > 0:
		return "Retry after the number of seconds in Retry-After."
	case e.Field != "":
		return "Correct the field '" + e.Field + "' and send the request again."
	default:
		return "Check the request against the API reference."
	}
}
