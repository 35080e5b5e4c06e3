package engine

import (
	"hash/maphash"
	"sync"
)

// hotTier is the hot tier: a bounded cache of decoded memories in front of
// pebble (the warm tier), sharded so that readers on different cores rarely
// share a lock. Each shard is an LRU list. A memory enters by promotion (a
// read that missed) and leaves by demotion (evicted as least recently used)
// or invalidation (replaced or deleted).
type hotTier struct {
	shards []hotShard
	seed   maphash.Seed
}

type hotKey struct{ space, id string }

type hotEntry struct {
	key        hotKey
	m          Memory // without read-time fields
	seq        uint64
	prev, next *hotEntry
}

type hotShard struct {
	mu    sync.Mutex
	items map[hotKey]*hotEntry
	head  hotEntry // sentinel: head.next is the most recently used
	cap   int

	hits, misses, promotions, demotions int64
	_                                   [64]byte // keep shards on separate cache lines
}

const hotShards = 32

func newHotTier(capacity int) *hotTier {
	t := &hotTier{seed: maphash.MakeSeed()}
	if capacity <= 0 {
		return t
	}
	n := max(1, min(hotShards, capacity/256)) // small tiers: one exact LRU
	t.shards = make([]hotShard, n)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.items = map[hotKey]*hotEntry{}
		sh.head.next, sh.head.prev = &sh.head, &sh.head
		sh.cap = capacity / n
		if i < capacity%n {
			sh.cap++
		}
	}
	return t
}

func (t *hotTier) shard(space, id string) *hotShard {
	if len(t.shards) == 0 {
		return nil
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(space)
	h.WriteByte(0)
	h.WriteString(id)
	return &t.shards[h.Sum64()%uint64(len(t.shards))]
}

func (sh *hotShard) unlink(e *hotEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (sh *hotShard) pushFront(e *hotEntry) {
	e.next, e.prev = sh.head.next, &sh.head
	sh.head.next.prev = e
	sh.head.next = e
}

// get returns the cached memory and the sequence number of its record. The
// returned Embedding is shared with the cache.
func (t *hotTier) get(space, id string) (Memory, uint64, bool) {
	sh := t.shard(space, id)
	if sh == nil {
		return Memory{}, 0, false
	}
	sh.mu.Lock()
	e, ok := sh.items[hotKey{space, id}]
	if !ok {
		sh.misses++
		sh.mu.Unlock()
		return Memory{}, 0, false
	}
	sh.hits++
	sh.unlink(e)
	sh.pushFront(e)
	m, seq := e.m, e.seq
	sh.mu.Unlock()
	return m, seq, true
}

// promote caches m (read from pebble with record sequence seq) if current
// still says it is the live version: checked under the shard lock, so a
// concurrent replace or delete, which invalidates after changing the live
// version, can never leave a stale entry behind.
func (t *hotTier) promote(space, id string, m Memory, seq uint64, current func() bool) {
	sh := t.shard(space, id)
	if sh == nil {
		return
	}
	m.LastAccess, m.RecallCount, m.DecayedConfidence = timeZero, 0, 0
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := hotKey{space, id}
	if _, ok := sh.items[k]; ok || !current() {
		return
	}
	e := &hotEntry{key: k, m: m, seq: seq}
	sh.items[k] = e
	sh.pushFront(e)
	sh.promotions++
	for len(sh.items) > sh.cap {
		last := sh.head.prev
		sh.unlink(last)
		delete(sh.items, last.key)
		sh.demotions++
	}
}

// invalidate drops a cached memory.
func (t *hotTier) invalidate(space, id string) {
	sh := t.shard(space, id)
	if sh == nil {
		return
	}
	sh.mu.Lock()
	if e, ok := sh.items[hotKey{space, id}]; ok {
		sh.unlink(e)
		delete(sh.items, e.key)
	}
	sh.mu.Unlock()
}

// TierStats counts the traffic of the hot tier.
type TierStats struct {
	Capacity   int   // memories the tier can hold; 0 when disabled
	Entries    int   // memories it holds
	Hits       int64 // reads served by the tier
	Misses     int64 // reads that went to pebble (the warm tier)
	Promotions int64 // memories moved into the tier after a miss
	Demotions  int64 // memories evicted to make room
}

// HitRatio is Hits / (Hits + Misses), or 0 before any read.
func (t TierStats) HitRatio() float64 {
	if n := t.Hits + t.Misses; n > 0 {
		return float64(t.Hits) / float64(n)
	}
	return 0
}

func (t *hotTier) stats() TierStats {
	var st TierStats
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		st.Capacity += sh.cap
		st.Entries += len(sh.items)
		st.Hits += sh.hits
		st.Misses += sh.misses
		st.Promotions += sh.promotions
		st.Demotions += sh.demotions
		sh.mu.Unlock()
	}
	return st
}

// idsOf returns the ids the hot tier holds for a space.
func (t *hotTier) idsOf(space string) []string {
	var out []string
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k := range sh.items {
			if k.space == space {
				out = append(out, k.id)
			}
		}
		sh.mu.Unlock()
	}
	return out
}
