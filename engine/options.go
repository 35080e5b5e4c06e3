package engine

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultDim is the embedding dimension of Engram memories.
const DefaultDim = 768

// maxIndexM is the largest IndexOptions.M: the index snapshot stores a
// list's link count in one byte, and layer 0 holds 3M links.
const maxIndexM = 85

// Documented defaults of Options and of the request types. Zero values in an
// Options or a request mean these.
const (
	DefaultHotCapacity      = 10_000             // memories in the hot tier
	DefaultLinkK            = 5                  // auto_link: links per new memory
	DefaultLinkThreshold    = 0.7                // auto_link: minimum cosine similarity (Engram's link_threshold)
	DefaultIndexM           = 16                 // HNSW: links per node on upper layers (3M on layer 0)
	DefaultEfConstruction   = 128                // HNSW: candidate list while inserting
	DefaultEfSearch         = 96                 // HNSW: minimum candidate list while searching
	DefaultSyncInterval     = time.Second        // nosync: how often the WAL is synced anyway
	DefaultMaxResults       = 10                 // recall
	DefaultVividThreshold   = 0.7                // recall: Engram's "vivid" cut for direct matches
	DefaultSpreadHops       = 3                  // spreading activation
	DefaultSpreadDecay      = 0.8                // spreading activation: factor per hop
	DefaultSpreadThreshold  = 0.01               // spreading activation: prune below
	DefaultSpreadMaxVisited = 1000               // spreading activation: node cap
	DefaultSpreadSeeds      = 3                  // recall mode spreading: seeds taken from the cue's matches
	DefaultCompleteK        = 5                  // pattern completion: neighbours used
	DefaultClusterThreshold = 0.8                // consolidation: cosine to join a cluster
	DefaultMinClusterSize   = 3                  // consolidation: episodes per new semantic memory
	DefaultMaxEpisodes      = 1000               // consolidation: episodes scanned per run
	DefaultEpisodicTau      = 24 * time.Hour     // decay: exponential time constant of episodic memories
	DefaultSemanticTau      = 7 * 24 * time.Hour // decay: power-law time scale of semantic memories
	DefaultSemanticBeta     = 0.5                // decay: power-law exponent of semantic memories
	DefaultReinforcement    = 0.5                // decay: stability gained per recall

	DefaultIndexSnapshotEvery    = 10_000      // index inserts in a space between background snapshots
	DefaultIndexSnapshotInterval = time.Minute // longest wait between background snapshots of a busy space
)

// Options configures a Store. The zero value means: 768 dimensions, synced
// writes, the OS file system, pebble's messages discarded, a 10 000-memory
// hot tier, auto-linking on, HNSW M=16, the default forgetting curves and no
// background consolidation.
type Options struct {
	// Dim is the embedding dimension every memory must have. 0 means DefaultDim.
	Dim int
	// NoSync acknowledges writes before they reach stable storage (pebble
	// NoSync). A crash may lose the writes of the last SyncInterval; the next
	// Open reports it in Recovery().
	NoSync bool
	// SyncInterval bounds the loss window of NoSync: the WAL is synced at
	// least this often. 0 means DefaultSyncInterval; negative never syncs.
	SyncInterval time.Duration
	// FS is the file system pebble uses; chaos wraps it to inject disk faults.
	// nil means the OS file system.
	FS vfs.FS
	// Logger receives pebble's messages. nil discards them. Fatalf must not
	// return; the default panics so that a failed WAL sync stops the store
	// (every later call returns ErrFailed) instead of the process.
	Logger pebble.Logger
	// CacheSize is pebble's block cache in bytes. 0 means 64 MiB.
	CacheSize int64
	// Slowdown plants a regression for validating regression gates: every
	// operation burns this fraction of its own duration in extra CPU work
	// (0.25 makes each op about 25% slower). 0, the default, adds nothing.
	Slowdown float64

	// HotCapacity is how many decoded memories the hot tier keeps. 0 means
	// DefaultHotCapacity; negative disables the hot tier.
	HotCapacity int
	// NoAutoLink turns off auto_link for Remember and RememberBatch (the
	// default links each new memory to its LinkK most similar memories with
	// similarity ≥ LinkThreshold). RememberWith decides per call.
	NoAutoLink bool
	// LinkK is how many links auto_link makes at most. 0 means DefaultLinkK.
	LinkK int
	// LinkThreshold is auto_link's minimum cosine similarity. 0 means
	// DefaultLinkThreshold.
	LinkThreshold float32
	// Index tunes the HNSW index.
	Index IndexOptions
	// IndexSnapshotEvery is how many index inserts a space takes before
	// its graph is snapshotted into pebble in the background, so that a
	// restart after a crash, or a restore, reuses a recent index instead of
	// re-indexing every memory (Close and Backup always snapshot). 0 means
	// DefaultIndexSnapshotEvery; negative disables the background
	// snapshots. A snapshot writes about 8 bytes per link (~400 bytes per
	// memory at the default M) into pebble and replaces the previous one.
	IndexSnapshotEvery int
	// IndexSnapshotInterval is the longest the background loop waits
	// between two snapshots of a space that keeps taking
	// IndexSnapshotEvery inserts. It snapshots sooner when the last
	// snapshot of the space was cheap: 20 times its duration later, but at
	// least a second apart, so snapshots cost about 5% of one core while
	// writes go on. 0 means DefaultIndexSnapshotInterval.
	IndexSnapshotInterval time.Duration
	// Decay sets the forgetting curves.
	Decay DecayOptions
	// ConsolidationInterval runs a consolidation of every space at this
	// interval in the background. 0 means no background consolidation.
	ConsolidationInterval time.Duration
	// Consolidation sets the defaults of every consolidation run.
	Consolidation ConsolidateOptions
	// Clock returns the current time; nil means time.Now. Tests set it to
	// move decay forward.
	Clock func() time.Time
}

// IndexOptions tunes the HNSW approximate nearest-neighbour index. Zero
// fields mean the defaults.
type IndexOptions struct {
	// M is the number of links per node on the upper layers; layer 0 keeps
	// 3M (more than the usual 2M: on clustered data, nodes at the edge of a
	// cluster otherwise lose their last in-links as the cluster grows).
	// At most 85, so that a layer-0 list (3M links) fits the index
	// snapshot's one-byte link count.
	M int
	// EfConstruction is the candidate list size while inserting.
	EfConstruction int
	// EfSearch is the minimum candidate list size while searching (a search
	// for k results uses max(2k, EfSearch)).
	EfSearch int
}

// Validate checks the index options as Open would, zero values standing for
// the defaults; the error is a *ValidationError naming the field
// (index.m, index.ef_construction, index.ef_search).
func (ix IndexOptions) Validate() error { return ix.fill() }

func (ix *IndexOptions) fill() error {
	if ix.M == 0 {
		ix.M = DefaultIndexM
	}
	if ix.M < 2 || ix.M > maxIndexM {
		return invalid("index.m", fmt.Sprint(ix.M), "must be in [2, %d]", maxIndexM)
	}
	if ix.EfConstruction == 0 {
		ix.EfConstruction = DefaultEfConstruction
	}
	if ix.EfConstruction < ix.M || ix.EfConstruction > 10_000 {
		return invalid("index.ef_construction", fmt.Sprint(ix.EfConstruction), "must be in [M = %d, 10000]", ix.M)
	}
	if ix.EfSearch == 0 {
		ix.EfSearch = DefaultEfSearch
	}
	if ix.EfSearch < 1 || ix.EfSearch > 10_000 {
		return invalid("index.ef_search", fmt.Sprint(ix.EfSearch), "must be in [1, 10000]")
	}
	return nil
}

func (o *Options) fill() error {
	if o.Dim == 0 {
		o.Dim = DefaultDim
	}
	if o.Dim < 1 || o.Dim > 65536 {
		return invalid("dim", fmt.Sprint(o.Dim), "must be in [1, 65536]")
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Logger == nil {
		o.Logger = quietLogger{}
	}
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	if o.Slowdown < 0 {
		return invalid("slowdown", fmt.Sprint(o.Slowdown), "must be >= 0")
	}
	if o.HotCapacity == 0 {
		o.HotCapacity = DefaultHotCapacity
	}
	if o.LinkK == 0 {
		o.LinkK = DefaultLinkK
	}
	if o.LinkK < 0 || o.LinkK > 1000 {
		return invalid("link_k", fmt.Sprint(o.LinkK), "must be in [1, 1000]")
	}
	if o.LinkThreshold == 0 {
		o.LinkThreshold = DefaultLinkThreshold
	}
	if !(o.LinkThreshold >= -1 && o.LinkThreshold <= 1) {
		return invalid("link_threshold", fmt.Sprint(o.LinkThreshold), "must be in [-1, 1]")
	}
	if err := o.Index.fill(); err != nil {
		return err
	}
	if o.IndexSnapshotEvery == 0 {
		o.IndexSnapshotEvery = DefaultIndexSnapshotEvery
	}
	if o.IndexSnapshotInterval == 0 {
		o.IndexSnapshotInterval = DefaultIndexSnapshotInterval
	}
	if o.IndexSnapshotInterval < 0 {
		return invalid("index_snapshot_interval", o.IndexSnapshotInterval.String(), "must be >= 0 (0 means %v)", DefaultIndexSnapshotInterval)
	}
	if err := o.Decay.fill(); err != nil {
		return err
	}
	if o.ConsolidationInterval < 0 {
		return invalid("consolidation_interval", o.ConsolidationInterval.String(), "must be >= 0")
	}
	if err := o.Consolidation.fill(ConsolidateOptions{}); err != nil {
		return err
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return nil
}

// quietLogger discards pebble's messages; Fatalf panics (see Options.Logger).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Errorf("pebble fatal: "+format, args...))
}
