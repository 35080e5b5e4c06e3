// Package engine is the system under test: a cognitive memory store on
// cockroachdb/pebble that engram-bench drives in-process (the embedded driver)
// or over HTTP (engramd).
//
// A [Store] holds memories (content, a unit-length embedding, a confidence)
// in named memory spaces that never see each other. Writes are durable when
// they return (pebble Sync, shared by concurrent writers through pebble's
// group commit) unless Options.NoSync is set. Every stored record carries a
// CRC32C checksum that is verified whenever it is read: a corrupt record is an
// error, never data.
//
// # Pebble key layout (format version 1)
//
//	"!format"                           → format version (uvarint)
//	'm' 0x00 <space> 0x00 <memory id>   → memory record (see record.go)
//
// Space ids are 3–64 characters from [a-z0-9_-] (Engram's rule), so the 0x00
// separators cannot occur inside them; memory ids may not contain 0x00.
//
// Concurrency: a Store is safe for concurrent use. Reads of different spaces
// never contend; reads of one space share a read lock.
//
// The engine imports nothing from the harness.
package engine
