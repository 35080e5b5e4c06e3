// Package disk injects disk faults under the engine: FS is a pebble vfs.FS
// (engine.Options.FS) that fails operations with I/O errors, delays them,
// or — as a test mode — lies about fsync, switchable while the engine runs.
//
// It belongs to the chaos room and depends only on pebble's vfs and
// errorfs: engramd (--admin, --disk-fault, the hidden
// --unsafe-ack-before-durable) and the embedded driver (--driver-opt
// disk-faults=on) wrap their store's files with it, and Handler/Remote
// switch it over HTTP. No fault patches the engine.
//
// In: a Spec (text form "error ops=sync files=wal prob=0.5",
// "slow latency=5ms ops=sync", "lie flush=5s"; Parse(s.String()) == s).
// Out: errors wrapping ErrInjected (pebble's errorfs.ErrInjected) and
// delays. What pebble does with them is pebble's: a failed WAL write or sync
// is fatal to the store (the engine then answers ErrFailed until reopened),
// read errors surface on the read.
//
// Concurrency: FS is safe for concurrent use; Set and Clear take effect for
// the next operation.
//
// Adding a mode: a Mode constant, its keys in Parse and String (keep the
// round trip), its effect in MaybeError or a file wrapper, a case in
// TestParse and a test on a real store.
package disk
