// Package workloads decides what engram-bench sends and when each op is due.
//
// It is the "workloads" room: scenarios (TOML, Engram's loadtest format accepted
// as is, plus our extensions: phases, op kinds and their parameters, key and
// tenant skew, drifting and planted data), the op model, the deterministic
// Generator (op i is a pure function of the seed and i), embedding and key
// distributions, arrival processes (constant, poisson, periodic_burst, ramp,
// step, sine, bursty, trace, and the closed_loop alternative), the Schedule
// that strings phases together, traces (record, scan, replay), and the
// built-in scenarios (Engram's seven, YCSB A–F, quickstart) embedded in the
// binary.
//
// What flows in: a scenario file or a built-in name, and a seed. What flows out:
// [Op] values filled by [Generator.Fill] (or [Replay.Fill] for a trace) and
// intended start offsets from an [Arrival] (a [Schedule], a [Replay]). Nothing
// here knows about drivers, goroutines or the wall clock.
//
// Concurrency: a [Generator], a [Schedule], every [Arrival] and a [Replay] are
// safe for concurrent use; a [Sequence], a [TraceReader] and a [TraceWriter]
// belong to one goroutine at a time.
//
// Adding a new arrival process:
//  1. write a type with Due(i) and Rate() (or a rateShape for a time-varying
//     rate: inv(x) and mean()) and a table test pinning its shape;
//  2. register it with RegisterArrival in an init function (name, help, keys,
//     builder, scale), adding its keys to ArrivalSpec and allArrivalKeys;
//  3. document its keys in docs/scenarios.md.
//
// Adding a new op kind: add it at the end of the Kind constants (indices are
// histogram slots), give it a weight key in OperationsSpec.Weights, fill it in
// Generator.Fill, teach the trace decoder its required fields, and tell the
// drivers (unknown kinds come back as ErrUnsupported).
package workloads
