package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/workloads"
)

const everyKind = `
name = "every kind"
[duration]
total_seconds = 10
[arrival]
pattern = "constant"
rate = 100.0
[operations]
store_weight = 10.0
recall_weight = 10.0
embedding_search_weight = 10.0
pattern_completion_weight = 10.0
recall_by_id_weight = 10.0
spreading_activation_weight = 10.0
consolidation_weight = 1.0
forget_weight = 2.0
store_batch_weight = 2.0
update_weight = 3.0
read_modify_write_weight = 3.0
recall_mode = "%s"
batch_size = 20
[data]
num_nodes = 600
preload = 600
embedding_dim = 64
memory_spaces = 2
embedding_distribution = { type = "clustered", num_clusters = 6, std_dev = 0.1 }
`

// Every op kind of a workload runs against the engine: no op fails except
// forgets of memories already forgotten, and every scored op of a kind the
// engine answers exactly (by id, search, recall, completion) hits.
func TestEveryOpKind(t *testing.T) {
	for _, mode := range []string{"similarity", "spreading", "hybrid"} {
		t.Run("mode="+mode, func(t *testing.T) {
			sc, err := workloads.Parse("every.toml", []byte(fmt.Sprintf(everyKind, mode)))
			if err != nil {
				t.Fatal(err)
			}
			gen, err := workloads.NewGenerator(sc, 42)
			if err != nil {
				t.Fatal(err)
			}
			d, err := drivers.New(context.Background(), "embedded", drivers.Config{DataDir: t.TempDir(), Dim: 64, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer drivers.Close(d)
			ctx := context.Background()
			byspace := map[string][]workloads.Op{}
			for j := uint64(0); j < gen.PreloadCount(); j++ {
				var op workloads.Op
				gen.FillPreload(j, &op)
				op.Embedding = append([]float32(nil), op.Embedding...)
				byspace[op.Space] = append(byspace[op.Space], op)
			}
			for _, ops := range byspace {
				if err := d.(drivers.Preloader).Preload(ctx, ops); err != nil {
					t.Fatal(err)
				}
			}
			type tally struct{ n, scored, hit, notFound, found, expected int }
			counts := map[workloads.Kind]*tally{}
			var op workloads.Op
			for i := uint64(0); i < 1500; i++ {
				gen.Fill(i, &op)
				err := d.Do(ctx, &op)
				c := counts[op.Kind]
				if c == nil {
					c = &tally{}
					counts[op.Kind] = c
				}
				c.n++
				var ce *drivers.ClassError
				switch {
				case err == nil:
				case errors.As(err, &ce) && ce.Cls == "not_found" && (op.Kind == workloads.KindForget || op.Kind == workloads.KindRecallByID || op.Kind == workloads.KindSpread):
					// An op aimed at a memory an earlier forget removed.
					c.notFound++
				default:
					t.Fatalf("op %d (%s): %v", i, op.Kind, err)
				}
				if op.Scored {
					c.scored++
					if op.Hit {
						c.hit++
					}
					if op.Kind == workloads.KindRecall || op.Kind == workloads.KindSearch || op.Kind == workloads.KindComplete {
						c.found += op.Found
						c.expected += op.ExpectedFound()
					}
				}
			}
			for k := workloads.Kind(0); k < workloads.NumKinds; k++ {
				c := counts[k]
				if c == nil || c.n == 0 {
					t.Errorf("no %s op ran", k)
					continue
				}
				// Forgets aim at the scenario's forgettable stores (1 in 8),
				// so some find theirs already gone; every other kind mostly
				// finds its memory.
				if k == workloads.KindForget && c.notFound == c.n || k != workloads.KindForget && c.notFound > c.n/2 {
					t.Errorf("%s: %d of %d not found", k, c.notFound, c.n)
				}
				switch k {
				case workloads.KindRecallByID, workloads.KindRecall, workloads.KindSearch, workloads.KindComplete:
					if c.scored == 0 || c.hit < c.scored*9/10 {
						t.Errorf("%s: %d hits of %d scored ops", k, c.hit, c.scored)
					}
					// recall@10 counts Found: a scored cue must count what it found.
					if k != workloads.KindRecallByID && c.found < c.expected*9/10 {
						t.Errorf("%s: recall@10 found %d of %d expected", k, c.found, c.expected)
					}
				}
			}
			st, _ := d.(*Driver).Store().Stats()
			if st.Consolidation.Runs == 0 || st.Memories < 600 {
				t.Errorf("stats after the run: %+v", st)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opts map[string]string
		err  string
		chk  func(engine.Options) bool
	}{
		{"defaults", nil, "", func(o engine.Options) bool { return !o.NoAutoLink && o.HotCapacity == 0 }},
		{"autolink off", map[string]string{"autolink": "off"}, "", func(o engine.Options) bool { return o.NoAutoLink }},
		{"hot tier off", map[string]string{"hot_capacity": "0"}, "", func(o engine.Options) bool { return o.HotCapacity < 0 }},
		{"ef search", map[string]string{"ef_search": "200"}, "", func(o engine.Options) bool { return o.Index.EfSearch == 200 }},
		{"index build", map[string]string{"index_m": "24", "ef_construction": "256"}, "", func(o engine.Options) bool { return o.Index.M == 24 && o.Index.EfConstruction == 256 }},
		{"bad ef search", map[string]string{"ef_search": "20000"}, `embedded driver option ef_search=20000: must be in [1, 10000]`, nil},
		{"bad index m", map[string]string{"index_m": "x"}, `embedded driver option index_m="x": want a positive integer`, nil},
		{"ef construction below m", map[string]string{"index_m": "64", "ef_construction": "32"}, `embedded driver option ef_construction=32: must be in [M = 64, 10000]`, nil},
		{"consolidation", map[string]string{"consolidation_interval": "5s"}, "", func(o engine.Options) bool { return o.ConsolidationInterval.Seconds() == 5 }},
		{"bad disk faults", map[string]string{"disk-faults": "maybe"}, `embedded driver option disk-faults="maybe": want on or off`, nil},
		{"bad slowdown", map[string]string{"slowdown": "-1"}, `embedded driver option slowdown="-1": want a fraction >= 0 (0.25 = 25% slower)`, nil},
		{"bad autolink", map[string]string{"autolink": "maybe"}, `embedded driver option autolink="maybe": want on or off`, nil},
		{"unknown key", map[string]string{"turbo": "1"}, `embedded driver option "turbo": unknown (have slowdown, autolink, hot_capacity, ef_search, ef_construction, index_m, consolidation_interval, disk-faults)`, nil},
		{"disk faults on", map[string]string{"disk-faults": "on"}, "", func(o engine.Options) bool { _, ok := o.FS.(*disk.FS); return ok }},
		{"disk faults off", map[string]string{"disk-faults": "off"}, "", func(o engine.Options) bool { return o.FS == nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Options(drivers.Config{Options: c.opts})
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err = %v, want %s", err, c.err)
				}
				return
			}
			if err != nil || !c.chk(o) {
				t.Fatalf("options %+v, %v", o, err)
			}
		})
	}
}
