package drivers

import (
	"sort"
	"sync"
	"sync/atomic"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Ledger is the acknowledged-write ledger: it follows writes the target
// acknowledged and asks, each time a later read aims at one, whether it was
// found. It answers "are acknowledged writes really there?" under load —
// against a real Engram it shows the stores that were silently dropped as
// near-duplicates — and "how long from acknowledgement to first successful
// read?".
//
// What is kept, and where: counting every acknowledged write is exact (one
// atomic counter), but following each one would grow without bound. The
// ledger follows a uniform sample instead: a write is tracked when the hash of
// its key is below a threshold; when the table (LedgerCapacity entries, 32
// bytes each: 2 MiB) fills, the threshold halves and entries above it are
// dropped. Every write therefore has the same chance of being followed, and a
// kept entry has been followed since its write, because the threshold only
// falls. Memory is constant in run length; fractions are estimates over the
// sample (Tracked says how large it is). Nothing is spilled to disk.
//
// Concurrency: safe for concurrent use; the hot path takes one of 64 shard
// mutexes and allocates nothing.
type Ledger struct {
	acks      ackRing
	threshold atomic.Uint64 // track keys whose hash < threshold
	acked     atomic.Int64
	early     atomic.Int64
	resize    sync.Mutex
	shards    [ledgerShards]ledgerShard
	perShard  int

	histMu  sync.Mutex
	toFound *hdr.Histogram
}

// LedgerCapacity is the most writes the ledger follows at once.
const LedgerCapacity = 1 << 16

// AckWindow is how many of the most recent ops the ledger remembers exactly
// whether (and when) their write was acknowledged: 16 bytes each, 4 MiB. A
// read aimed at a write older than that is assumed to follow its ack.
const AckWindow = 1 << 18

// ackRing remembers the acknowledgement time of the last AckWindow ops'
// writes: slot j mod AckWindow holds (j+1, ack time) once op j's write was
// acknowledged. Failed writes are never acknowledged.
type ackRing struct {
	mu    [256]sync.Mutex
	slots []ackSlot
}

type ackSlot struct {
	idx uint64 // op index + 1; 0 = empty
	at  int64
}

func (a *ackRing) set(j uint64, at int64) {
	m := &a.mu[j%256]
	m.Lock()
	if s := &a.slots[j%AckWindow]; s.idx < j+1 {
		*s = ackSlot{idx: j + 1, at: at}
	}
	m.Unlock()
}

// before reports whether op j's write was acknowledged at or before t.
func (a *ackRing) before(j uint64, t int64) bool {
	m := &a.mu[j%256]
	m.Lock()
	s := a.slots[j%AckWindow]
	m.Unlock()
	switch {
	case s.idx == j+1:
		return s.at <= t
	case s.idx > j+1:
		return true // overwritten by a newer op: older than the window
	default:
		return false // not acknowledged (yet, or it failed)
	}
}

// opIndex is the index of the op that wrote op key k.
func opIndex(k workloads.Key) uint64 { return uint64(k&^workloads.OpKeyBit) >> 12 }

// AckedBefore reports whether the write of memory k was acknowledged at or
// before t (run clock). Preloaded memories always were.
func (l *Ledger) AckedBefore(k workloads.Key, t int64) bool {
	return k.IsPreload() || l.acks.before(opIndex(k), t)
}

const ledgerShards = 64

type ledgerEntry struct {
	key   workloads.Key
	ack   int64 // run clock, ns
	found int64 // end of the first successful read; 0: none yet
	flags uint32
}

const (
	entryRead        = 1 << iota // read at least once after its ack
	entryFirstMissed             // its first read after the ack missed
)

type ledgerShard struct {
	mu    sync.Mutex
	slots []ledgerEntry // open addressing; key 0 = empty (op keys are never 0)
	n     int
	_     [40]byte
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	l := &Ledger{perShard: LedgerCapacity / ledgerShards, toFound: reports.NewHistogram()}
	l.acks.slots = make([]ackSlot, AckWindow)
	l.threshold.Store(^uint64(0))
	for i := range l.shards {
		l.shards[i].slots = make([]ledgerEntry, 2*l.perShard)
	}
	return l
}

func keyHash(k workloads.Key) uint64 {
	x := uint64(k) * 0x9e3779b97f4a7c15
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>32
}

func (s *ledgerShard) find(k workloads.Key, h uint64) (int, bool) {
	m := len(s.slots) - 1
	for i := int(h>>32) & m; ; i = (i + 1) & m {
		switch s.slots[i].key {
		case k:
			return i, true
		case 0:
			return i, false
		}
	}
}

// Acked records that the write of k was acknowledged at time end (run clock).
func (l *Ledger) Acked(k workloads.Key, end int64) {
	l.acked.Add(1)
	if !k.IsPreload() {
		l.acks.set(opIndex(k), end)
	}
	h := keyHash(k)
	if h >= l.threshold.Load() {
		return
	}
	s := &l.shards[h%ledgerShards]
	s.mu.Lock()
	i, ok := s.find(k, h)
	if !ok {
		if s.n >= l.perShard {
			s.mu.Unlock()
			l.halve()
			l.ackedAgain(k, end, h)
			return
		}
		s.slots[i] = ledgerEntry{key: k, ack: end}
		s.n++
	}
	s.mu.Unlock()
}

// ackedAgain inserts without counting again (after a resize).
func (l *Ledger) ackedAgain(k workloads.Key, end int64, h uint64) {
	if h >= l.threshold.Load() {
		return
	}
	s := &l.shards[h%ledgerShards]
	s.mu.Lock()
	if i, ok := s.find(k, h); !ok && s.n < l.perShard {
		s.slots[i] = ledgerEntry{key: k, ack: end}
		s.n++
	}
	s.mu.Unlock()
}

// halve lowers the threshold and drops the entries above it, in every shard.
func (l *Ledger) halve() {
	l.resize.Lock()
	defer l.resize.Unlock()
	t := l.threshold.Load() / 2
	l.threshold.Store(t)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		old := append([]ledgerEntry(nil), s.slots...)
		clear(s.slots)
		s.n = 0
		for _, e := range old {
			if e.key != 0 {
				if h := keyHash(e.key); h < t {
					j, _ := s.find(e.key, h)
					s.slots[j] = e
					s.n++
				}
			}
		}
		s.mu.Unlock()
	}
}

// Read records a read aimed at k that started at start and ended at end;
// found says whether k was in its results.
func (l *Ledger) Read(k workloads.Key, start, end int64, found bool) {
	if k.IsPreload() {
		return
	}
	if !l.acks.before(opIndex(k), start) {
		l.early.Add(1) // not acknowledged (yet) when the read started
		return
	}
	h := keyHash(k)
	if h >= l.threshold.Load() {
		return
	}
	s := &l.shards[h%ledgerShards]
	s.mu.Lock()
	i, ok := s.find(k, h)
	if !ok || s.slots[i].ack > start {
		s.mu.Unlock()
		return
	}
	e := &s.slots[i]
	first := e.flags&entryRead == 0
	e.flags |= entryRead
	if !found && first {
		e.flags |= entryFirstMissed
	}
	var lag int64 = -1
	if found && e.found == 0 {
		e.found = end
		lag = end - e.ack
	}
	s.mu.Unlock()
	if lag >= 0 {
		l.histMu.Lock()
		l.toFound.RecordValue(max(lag, 1))
		l.histMu.Unlock()
	}
}

// Observe feeds the ledger from one finished op: acknowledged stores and
// reads that aimed at a memory. It runs before the op is recorded, and
// adjusts the sample of a read aimed at a write that was not acknowledged
// when the read started: such a read cannot be expected to find it, so it is
// not scored, and its "not found" is no error. It returns whether it did.
func (l *Ledger) Observe(op *workloads.Op, s *reports.Sample) (unacked bool) {
	switch op.Kind {
	case workloads.KindStore:
		if s.Err == "" {
			l.Acked(op.Key, s.End)
		}
		return false
	case workloads.KindStoreBatch:
		if s.Err == "" {
			for n := 0; n < op.Count; n++ {
				l.Acked(workloads.MemberKey(op.Index, n), s.End)
			}
		}
		return false
	}
	target := op.Key
	if isCue(op.Kind) {
		if !op.HasTarget {
			return false
		}
		target = op.Target
	}
	if target.IsPreload() || l.AckedBefore(target, s.Start) {
		l.read(op, s)
		return false
	}
	switch op.Kind {
	case workloads.KindRecallByID, workloads.KindReadModify, workloads.KindSpread, workloads.KindUpdate, workloads.KindForget,
		workloads.KindRecall, workloads.KindSearch, workloads.KindComplete:
		l.early.Add(1)
		s.Scored, s.Hit = false, false
		if s.Err == "not_found" {
			s.Err = ""
		}
		return true
	}
	return false
}

// read passes a read of an acknowledged write to Read.
func (l *Ledger) read(op *workloads.Op, s *reports.Sample) {
	switch op.Kind {
	case workloads.KindRecallByID, workloads.KindReadModify:
		switch {
		case s.Err == "":
			l.Read(op.Key, s.Start, s.End, !op.Scored || op.Hit)
		case s.Err == "not_found":
			l.Read(op.Key, s.Start, s.End, false)
		}
	case workloads.KindRecall, workloads.KindSearch, workloads.KindComplete:
		if s.Err == "" && op.HasTarget && op.Scored {
			l.Read(op.Target, s.Start, s.End, op.Hit)
		}
	}
}

// Stats summarises the ledger.
func (l *Ledger) Stats() *reports.LedgerStats {
	st := &reports.LedgerStats{Acknowledged: l.acked.Load(), ReadsBeforeAck: l.early.Load()}
	st.SampleRate = float64(l.threshold.Load()) / float64(^uint64(0))
	var missing []string
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for _, e := range s.slots {
			if e.key == 0 {
				continue
			}
			st.Tracked++
			if e.flags&entryRead == 0 {
				continue
			}
			st.Checked++
			if e.flags&entryFirstMissed != 0 {
				st.FirstReadMissed++
			}
			if e.found != 0 {
				st.Found++
			} else {
				st.NeverFound++
				missing = append(missing, e.key.ID())
			}
		}
		s.mu.Unlock()
	}
	if st.Checked > 0 {
		f := float64(st.Found) / float64(st.Checked)
		st.FoundShare = &f
	}
	sort.Strings(missing)
	if len(missing) > 10 {
		missing = missing[:10]
	}
	st.MissingExamples = missing
	l.histMu.Lock()
	st.AckToFoundNs = reports.PercentilesOf(l.toFound)
	st.AckToFoundHDR = reports.EncodeHistogram(l.toFound)
	l.histMu.Unlock()
	return st
}
