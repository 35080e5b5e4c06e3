package engine

import "sync/atomic"

// Edges are stored in pairs (from→to and to→from in one batch) and every
// writer but one commits them under the space's graphMu, so pebble's order
// of edge writes is the order in which memory applies them. The exception is
// RememberWith(AutoLink): it commits its links (synced) before it takes
// graphMu, so it does not hold up every other writer of the space for a
// disk sync. A writer that touched the same memories in between — a Delete
// of a target (whose range delete also removes the stored half of the new
// pair that memory does not know of yet), an Associate, the indexer's or
// another remember's links — may then have reached pebble before or after
// it, while memory applies them in graphMu's order. To tell, every edge
// write bumps the generation of each memory id it touches (striped), after
// its commit and before memory applies it; the remember compares the
// generations of its ids before its commit with those under graphMu. If
// anybody else bumped one, it rewrites its pairs under graphMu, so pebble's
// last word on each pair is the one memory holds.

// edgeGenStripes is the number of edge generation counters per store (ids
// share them by hash: a collision costs an unneeded rewrite, never a miss).
const edgeGenStripes = 4096

// edgeGens are the generation counters of a store.
type edgeGens [edgeGenStripes]atomic.Uint64

func edgeGenOf(space, id string) uint32 { return hashID(space, id) % edgeGenStripes }

// touch bumps the generation of every id of space. Edge writers call it
// after their commit, before they apply the edges to memory.
func (g *edgeGens) touch(space string, ids ...string) {
	for _, id := range ids {
		g[edgeGenOf(space, id)].Add(1)
	}
}

// edgeWatch follows the generations of a set of ids across an edge write
// made outside graphMu.
type edgeWatch struct {
	g       *edgeGens
	stripes []uint32
	want    []uint64
	clean   bool
}

// watch starts following ids of space: call it before the commit.
func (g *edgeGens) watch(space string, ids []string) *edgeWatch {
	w := &edgeWatch{g: g, clean: true}
	seen := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		st := edgeGenOf(space, id)
		if seen[st] {
			continue
		}
		seen[st] = true
		w.stripes = append(w.stripes, st)
		w.want = append(w.want, g[st].Load())
	}
	return w
}

// committed bumps the watched generations once the write is committed
// (before graphMu is taken); it notes whether anybody else bumped one since
// watch.
func (w *edgeWatch) committed() {
	for i, st := range w.stripes {
		v := w.g[st].Add(1)
		w.clean = w.clean && v == w.want[i]+1
		w.want[i] = v
	}
}

// raced reports, under graphMu, whether another edge write touched a
// watched id between watch and now: its commit may then have reached pebble
// after this one although memory applied it before.
func (w *edgeWatch) raced() bool {
	if !w.clean {
		return true
	}
	for i, st := range w.stripes {
		if w.g[st].Load() != w.want[i] {
			return true
		}
	}
	return false
}
