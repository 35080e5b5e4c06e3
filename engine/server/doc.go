// Package server serves the engine over HTTP with Engram's REST API: the
// same paths, fields, status codes, error envelope, memory-space headers and
// bearer keys as Engram (see ENGRAM_API.md in the shared docs), so that a
// driver written for Engram runs unchanged against engramd.
//
// It is part of the "engine" room (the system under test) and imports
// nothing from the harness. In: HTTP requests. Out: JSON answers, Prometheus
// metrics at /metrics/prometheus, profiles at /debug/pprof/.
//
// Promises:
//   - A client's mistake is never a 500: malformed JSON, a wrong field type,
//     a wrong embedding length, a bad space id, a missing field or an
//     oversized body each get a 4xx in Engram's envelope naming the field
//     (FuzzHandlers checks this). A 500 means a storage failure or our bug.
//   - A 2xx answer to a remember means the memory is durable (unless the
//     store runs with NoSync).
//   - Past Config.MaxInflight concurrent requests the server answers 503
//     with Retry-After at once; it never queues without bound. Health,
//     metrics and pprof routes are exempt so probes still answer.
//
// Extensions over Engram (documented in docs/engramd.md): POST on
// /api/v1/memories/recall with a JSON body, POST /api/v1/memories/batch,
// POST /api/v1/consolidations (run one now), recall parameters seed_id and
// max_hops, and a "field" member in the error envelope.
//
// Concurrency: a Server is safe for concurrent use.
//
// Adding an endpoint: write a handlerFunc that returns an *APIError for every
// client mistake (badField, badParam, unprocessable), register it in routes
// with its method, cover it in the round-trip test and add a seed to
// FuzzHandlers.
package server
