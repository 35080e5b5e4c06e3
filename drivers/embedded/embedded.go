package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/workloads"
)

// Driver runs ops against an engine.Store it owns.
type Driver struct {
	store *engine.Store
	fs    *disk.FS
}

var (
	_ drivers.Driver    = (*Driver)(nil)
	_ drivers.Preloader = (*Driver)(nil)
)

func init() {
	drivers.Register(drivers.Meta{
		Name:      "embedded",
		Help:      "the engine in-process on pebble (data in --data-dir)",
		InProcess: true,
		New: func(_ context.Context, cfg drivers.Config) (drivers.Driver, error) {
			if cfg.DataDir == "" {
				return nil, errors.New("embedded driver: a data directory is required")
			}
			opts, err := Options(cfg)
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return nil, fmt.Errorf("embedded driver: %w", err)
			}
			st, err := engine.Open(cfg.DataDir, opts)
			if err != nil {
				return nil, fmt.Errorf("embedded driver: %w", err)
			}
			d := New(st)
			d.fs, _ = opts.FS.(*disk.FS)
			return d, nil
		},
	})
}

// Options turns a driver configuration into engine options. Unknown option
// keys and bad values are errors naming the key and value.
func Options(cfg drivers.Config) (engine.Options, error) {
	opts := engine.Options{Dim: cfg.Dim, NoSync: cfg.NoSync}
	keys := make([]string, 0, len(cfg.Options))
	for k := range cfg.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg.Options[k]
		bad := func(want string) error {
			return fmt.Errorf("embedded driver option %s=%q: want %s", k, v, want)
		}
		switch k {
		case "slowdown":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 100) {
				return opts, bad("a fraction >= 0 (0.25 = 25% slower)")
			}
			opts.Slowdown = f
		case "autolink":
			switch strings.ToLower(v) {
			case "on", "true", "1":
				opts.NoAutoLink = false
			case "off", "false", "0":
				opts.NoAutoLink = true
			default:
				return opts, bad("on or off")
			}
		case "hot_capacity":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100_000_000 {
				return opts, bad("a number of memories >= 0 (0 disables the hot tier)")
			}
			opts.HotCapacity = n
			if n == 0 {
				opts.HotCapacity = -1
			}
		case "ef_search", "ef_construction", "index_m":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return opts, bad("a positive integer")
			}
			ix := &opts.Index
			switch k {
			case "ef_search":
				ix.EfSearch = n
			case "ef_construction":
				ix.EfConstruction = n
			default:
				ix.M = n
			}
		case "disk-faults":
			switch strings.ToLower(v) {
			case "on", "true", "1":
				opts.FS = disk.New(nil)
			case "off", "false", "0":
				opts.FS = nil
			default:
				return opts, bad("on or off")
			}
		case "consolidation_interval":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return opts, bad("a duration such as 10s")
			}
			opts.ConsolidationInterval = d
		default:
			return opts, fmt.Errorf("embedded driver option %q: unknown (have slowdown, autolink, hot_capacity, ef_search, ef_construction, index_m, consolidation_interval, disk-faults)", k)
		}
	}
	// The index options depend on each other (ef_construction >= index_m).
	var ve *engine.ValidationError
	if err := opts.Index.Validate(); errors.As(err, &ve) {
		k := map[string]string{"index.m": "index_m", "index.ef_construction": "ef_construction", "index.ef_search": "ef_search"}[ve.Field]
		return opts, fmt.Errorf("embedded driver option %s=%s: %s", k, ve.Value, ve.Reason)
	} else if err != nil {
		return opts, fmt.Errorf("embedded driver options: %w", err)
	}
	return opts, nil
}

// New returns a driver over st. Close closes st.
func New(st *engine.Store) *Driver { return &Driver{store: st} }

// DiskFS returns the disk-fault wrapper under the engine (disk-faults=on),
// or nil.
func (d *Driver) DiskFS() *disk.FS { return d.fs }

// Health returns nil while the engine answers, else why it does not (its
// storage failed, it was closed): the in-process counterpart of engramd's
// GET /health, which chaos drills poll after each fault.
func (d *Driver) Health() error {
	_, err := d.store.Stats()
	return err
}

// BoundedMemory is the engine's memory that does not grow with the data
// (engine.Store.BoundedMemory); the harness's memory-overhead hypothesis
// (H4) needs raw data above it to judge the engine.
func (d *Driver) BoundedMemory() int64 { return d.store.BoundedMemory() }

// Store returns the engine the driver runs against.
func (d *Driver) Store() *engine.Store { return d.store }

// Close closes the engine.
func (d *Driver) Close() error { return d.store.Close() }

func memoryOf(op *workloads.Op, k workloads.Key, vec []float32) engine.Memory {
	return engine.Memory{ID: k.ID(), Content: workloads.Content(k), Embedding: vec, Confidence: op.Confidence}
}

// modes maps the workload's recall modes onto the engine's.
var modes = [...]engine.RecallMode{
	workloads.ModeSimilarity: engine.ModeSimilarity,
	workloads.ModeSpreading:  engine.ModeSpreading,
	workloads.ModeHybrid:     engine.ModeHybrid,
}

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, op *workloads.Op) error {
	switch op.Kind {
	case workloads.KindStore:
		return classify(d.store.Remember(ctx, op.Space, memoryOf(op, op.Key, op.Embedding)))
	case workloads.KindStoreBatch:
		ms := make([]engine.Memory, op.Count)
		for n := range ms {
			ms[n] = memoryOf(op, workloads.MemberKey(op.Index, n), op.Vector(n))
		}
		return classify(d.store.RememberBatch(ctx, op.Space, ms))
	case workloads.KindRecallByID:
		m, err := d.store.Get(ctx, op.Space, op.Key.ID())
		if err != nil {
			return classify(err)
		}
		op.Scored, op.Hit = true, m.Content == workloads.Content(op.Key)
		if !op.Hit {
			return drivers.WithClass("wrong_content", fmt.Errorf("memory %s: content differs from what was stored", op.Key.ID()))
		}
		return nil
	case workloads.KindRecall:
		if int(op.Mode) >= len(modes) {
			return drivers.WithClass("invalid", fmt.Errorf("recall mode %s", op.Mode))
		}
		// No embeddings in the results, as Engram's recall answers have none:
		// the same work an HTTP recall asks of engramd.
		res, err := d.store.Recall(ctx, op.Space, engine.RecallRequest{
			Embedding: op.Embedding, Mode: modes[op.Mode], Threshold: op.Threshold, MaxResults: op.K, NoEmbeddings: true,
		})
		if err != nil {
			return classify(err)
		}
		if op.HasTarget {
			op.BeginScore()
			rank := 0
			// The engine has already cut results below the threshold.
			for _, rs := range [2][]engine.Recalled{res.Vivid, res.Associated} {
				for _, r := range rs {
					op.ScoreResult(rank, r.ID)
					rank++
				}
			}
		}
		return nil
	case workloads.KindSearch:
		res, err := d.store.Nearest(ctx, op.Space, op.Embedding, op.K)
		if err != nil {
			return classify(err)
		}
		if op.HasTarget {
			op.BeginScore()
			for rank, m := range res {
				op.ScoreResult(rank, m.ID)
			}
		}
		return nil
	case workloads.KindComplete:
		c, err := d.store.Complete(ctx, op.Space, engine.CompleteRequest{Partial: op.Embedding})
		if err != nil {
			return classify(err)
		}
		if op.HasTarget {
			op.BeginScore()
			for rank, m := range c.Matches[:min(len(c.Matches), max(op.K, 1))] {
				op.ScoreResult(rank, m.ID)
			}
		}
		return nil
	case workloads.KindSpread:
		threshold := op.Threshold
		if threshold <= 0 {
			threshold = engine.DefaultSpreadThreshold
		}
		_, err := d.store.Spread(ctx, op.Space, engine.SpreadRequest{
			Seeds: []string{op.Key.ID()}, MaxHops: max(op.Depth, 1), Threshold: min(threshold, 1), MaxResults: op.K,
		})
		return classify(err)
	case workloads.KindConsolidate:
		_, err := d.store.Consolidate(ctx, op.Space, engine.ConsolidateOptions{})
		return classify(err)
	case workloads.KindForget:
		return classify(d.store.Delete(ctx, op.Space, op.Key.ID()))
	case workloads.KindUpdate:
		return classify(d.store.Remember(ctx, op.Space, memoryOf(op, op.Key, op.Embedding)))
	case workloads.KindReadModify:
		m, err := d.store.Get(ctx, op.Space, op.Key.ID())
		if err != nil {
			return classify(err)
		}
		op.Scored, op.Hit = true, m.Content == workloads.Content(op.Key)
		return classify(d.store.Remember(ctx, op.Space, memoryOf(op, op.Key, op.Embedding)))
	default:
		return fmt.Errorf("%s: %w", op.Kind, drivers.ErrUnsupported)
	}
}

// Preload implements drivers.Preloader: one atomic batch per call, indexed
// before it returns.
func (d *Driver) Preload(ctx context.Context, ops []workloads.Op) error {
	if len(ops) == 0 {
		return nil
	}
	ms := make([]engine.Memory, len(ops))
	for n := range ops {
		ms[n] = memoryOf(&ops[n], ops[n].Key, ops[n].Embedding)
	}
	return classify(d.store.RememberBatch(ctx, ops[0].Space, ms))
}

func classify(err error) error {
	var ve *engine.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrNotFound):
		return drivers.WithClass("not_found", err)
	case errors.As(err, &ve):
		return drivers.WithClass("invalid", err)
	case errors.Is(err, engine.ErrCorrupt):
		return drivers.WithClass("corrupt", err)
	case errors.Is(err, engine.ErrFailed):
		return drivers.WithClass("storage_failed", err)
	}
	return err
}
