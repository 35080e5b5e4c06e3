package drivers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// memDriver is an exact in-memory target for tests of what the harness
// measures (quality, the ledger): a map per space and brute-force search.
// drop_every=N acknowledges every N-th store (by key hash) without keeping
// it, as Engram's near-duplicate filter does; delay=D makes every op take D.
var debugMem = false

type memDriver struct {
	mu        sync.RWMutex
	spaces    map[string]map[workloads.Key][]float32
	dropEvery uint64
	delay     time.Duration
}

func init() {
	Register(Meta{Name: "memory", Help: "test double: exact in-memory store", New: func(_ context.Context, cfg Config) (Driver, error) {
		d := &memDriver{spaces: map[string]map[workloads.Key][]float32{}}
		if v, ok := cfg.Options["drop_every"]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, err
			}
			d.dropEvery = n
		}
		if v, ok := cfg.Options["delay"]; ok {
			dl, err := time.ParseDuration(v)
			if err != nil {
				return nil, err
			}
			d.delay = dl
		}
		return d, nil
	}})
}

func (d *memDriver) put(space string, k workloads.Key, v []float32) {
	if d.dropEvery > 0 && !k.IsPreload() && (uint64(k)*0x9e3779b97f4a7c15>>40)%d.dropEvery == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.spaces[space]
	if m == nil {
		m = map[workloads.Key][]float32{}
		d.spaces[space] = m
	}
	m[k] = append([]float32(nil), v...)
}

func (d *memDriver) Preload(_ context.Context, ops []workloads.Op) error {
	for i := range ops {
		d.put(ops[i].Space, ops[i].Key, ops[i].Embedding)
	}
	return nil
}

func (d *memDriver) Do(_ context.Context, op *workloads.Op) error {
	time.Sleep(d.delay)
	switch op.Kind {
	case workloads.KindStore, workloads.KindUpdate:
		d.put(op.Space, op.Key, op.Embedding)
	case workloads.KindStoreBatch:
		for n := 0; n < op.Count; n++ {
			d.put(op.Space, workloads.MemberKey(op.Index, n), op.Vector(n))
		}
	case workloads.KindRecallByID, workloads.KindReadModify, workloads.KindSpread:
		d.mu.RLock()
		_, ok := d.spaces[op.Space][op.Key]
		d.mu.RUnlock()
		if !ok {
			return WithClass("not_found", fmt.Errorf("%s: not found", op.Key.ID()))
		}
		op.Scored, op.Hit = true, true
		if op.Kind == workloads.KindReadModify {
			d.put(op.Space, op.Key, op.Embedding)
		}
	case workloads.KindRecall, workloads.KindSearch:
		type hit struct {
			k   workloads.Key
			cos float64
		}
		d.mu.RLock()
		var hits []hit
		for k, v := range d.spaces[op.Space] {
			hits = append(hits, hit{k, workloads.Cosine(op.Embedding, v)})
		}
		d.mu.RUnlock()
		sort.Slice(hits, func(a, b int) bool { return hits[a].cos > hits[b].cos })
		if op.HasTarget {
			op.BeginScore()
			for r := 0; r < op.K && r < len(hits); r++ {
				op.ScoreResult(r, hits[r].k.ID())
			}
			if debugMem && op.Found < op.ExpectedFound() {
				var ids []string
				for r := 0; r < op.K && r < len(hits); r++ {
					ids = append(ids, fmt.Sprintf("%s:%.4f", hits[r].k.ID(), hits[r].cos))
				}
				fmt.Printf("MISS op %d %s target %s expect %s+%d found %d: %v\n", op.Index, op.Space, op.Target.ID(), op.ExpectFrom.ID(), op.ExpectN, op.Found, ids)
			}
		}
	}
	return nil
}
