package engine

import (
	"fmt"
	"time"
)

// MemoryType tells episodic memories (what happened, stored by Remember)
// from semantic ones (what was learned, formed by consolidation).
type MemoryType uint8

// Memory types. The zero value is Episodic.
const (
	Episodic MemoryType = iota
	Semantic
)

// String returns "episodic" or "semantic".
func (t MemoryType) String() string {
	switch t {
	case Episodic:
		return "episodic"
	case Semantic:
		return "semantic"
	}
	return fmt.Sprintf("memory_type(%d)", uint8(t))
}

// Memory is one stored memory.
type Memory struct {
	ID         string
	Content    string
	Embedding  []float32 // unit length once stored
	Confidence float32   // encoding confidence in [0, 1], as stored
	CreatedAt  time.Time // observation time; zero means "now" on Remember

	// The fields below are set by reads and ignored by Remember.

	// Type is Episodic for remembered memories, Semantic for memories
	// formed by consolidation.
	Type MemoryType
	// LastAccess is when a recall last returned the memory; CreatedAt if
	// never.
	LastAccess time.Time
	// RecallCount is how many recalls returned the memory.
	RecallCount int
	// DecayedConfidence is Confidence after forgetting, computed at read time:
	// Confidence × retention(time since LastAccess) with the memory type's
	// curve (see DecayOptions).
	DecayedConfidence float32
}

// Match is one search result.
type Match struct {
	ID    string
	Score float32 // cosine similarity
}

// EdgeKind tells how an edge came to be.
type EdgeKind uint8

// Edge kinds.
const (
	EdgeAuto     EdgeKind = iota // auto_link: weight = cosine similarity at link time
	EdgeExplicit                 // Associate
	EdgeMember                   // consolidation: an episode and the semantic memory it supports
)

// String returns "auto", "explicit" or "member".
func (k EdgeKind) String() string {
	switch k {
	case EdgeAuto:
		return "auto"
	case EdgeExplicit:
		return "explicit"
	case EdgeMember:
		return "member"
	}
	return fmt.Sprintf("edge_kind(%d)", uint8(k))
}

// Edge is a weighted link from one memory to another. Edges are symmetric:
// every edge a→b has its twin b→a with the same weight and kind.
type Edge struct {
	To     string
	Weight float32 // in (0, 1]
	Kind   EdgeKind
}

// RememberOptions controls one RememberWith call.
type RememberOptions struct {
	// AutoLink links the new memory to its LinkK most similar memories whose
	// similarity is at least LinkThreshold, before the call returns (weight =
	// similarity). It replaces an auto link of Options for this call.
	AutoLink bool
	// LinkThreshold is the minimum similarity; 0 means Options.LinkThreshold.
	LinkThreshold float32
	// LinkK is how many links at most; 0 means Options.LinkK.
	LinkK int
}

// Remembered is what RememberWith did.
type Remembered struct {
	// Links are the auto links made, best first.
	Links []Match
	// Replaced is true when a memory with the same id existed: its content,
	// embedding and confidence were replaced; its edges and access history
	// were kept.
	Replaced bool
}

// SpaceInfo describes one memory space.
type SpaceInfo struct {
	ID        string
	CreatedAt time.Time
	Memories  int // live memories, episodic and semantic
	Episodic  int
	Semantic  int
	Edges     int // directed edges (each link counts twice)
	Beliefs   int // consolidated beliefs
	// Retired counts the deleted or replaced memories whose slots (vector,
	// quantised vector, index node, metadata: about 5–7 KB each at 768
	// dimensions) the space holds until the next Open: a slot is never
	// reused while the store is open, so memory grows with every delete
	// and replacement (a consolidation that strengthens a belief replaces
	// it), not only with the live memories.
	Retired int
	// Index describes the space's HNSW index.
	Index IndexStats
	// Consolidation counts the space's consolidation runs since Open.
	Consolidation ConsolidationTotals
}

// IndexStats describes an HNSW index.
type IndexStats struct {
	Nodes   int   // memories in the graph
	Deleted int   // deleted or replaced nodes still held until the next Open
	Pending int   // memories waiting to be indexed (found by exact scan meanwhile)
	Levels  int   // layers of the graph
	Bytes   int64 // memory held by vectors and links
	// Relinked counts the nodes the connectivity pass found unreachable
	// from the entry point and linked back since Open (connect.go): a
	// few per ten thousand concurrent inserts is expected.
	Relinked int64
}
