// Package workloads decides what engram-bench sends and when each op is due.
//
// It is the "workloads" room: scenarios (TOML, Engram's loadtest format accepted
// as is, plus our extensions), the op model, the deterministic Generator (op i is
// a pure function of the seed and i), embedding distributions and arrival
// processes, and the built-in scenarios embedded in the binary.
//
// What flows in: a scenario file or a built-in name, and a seed. What flows out:
// [Op] values filled by [Generator.Fill] and intended start offsets from an
// [Arrival]. Nothing here knows about drivers, goroutines or the wall clock.
//
// Concurrency: a [Generator] and every [Arrival] are safe for concurrent use;
// a [Sequence] belongs to one goroutine at a time.
//
// Adding a new arrival process:
//  1. write a type with Due(i) and Rate() and a table test pinning its shape;
//  2. register it with RegisterArrival in an init function (name, help, builder);
//  3. document its keys in docs/scenarios.md.
package workloads
