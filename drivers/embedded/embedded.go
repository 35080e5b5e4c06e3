// Package embedded drives the engine in-process: no network, no
// serialisation, so what it measures is the engine itself.
//
// Options (--driver-opt): slowdown=F plants a regression of F (0.25 = every
// op about 25% slower) to validate regression gates; disk-faults=on opens
// the engine on chaos's switchable disk wrapper (DiskFS), so chaos drills
// can make its disk slow or failing while it runs. The engine's data lives
// in Config.DataDir; NoSync switches it to acknowledging before fsync.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

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
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return nil, fmt.Errorf("embedded driver: %w", err)
			}
			opts := engine.Options{Dim: cfg.Dim, NoSync: cfg.NoSync}
			if v, ok := cfg.Options["slowdown"]; ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0 || f > 100 {
					return nil, fmt.Errorf("embedded driver option slowdown=%q: want a fraction >= 0 (0.25 = 25%% slower)", v)
				}
				opts.Slowdown = f
			}
			var fs *disk.FS
			switch v := cfg.Options["disk-faults"]; v {
			case "", "off":
			case "on":
				fs = disk.New(nil)
				opts.FS = fs
			default:
				return nil, fmt.Errorf("embedded driver option disk-faults=%q: want on or off", v)
			}
			st, err := engine.Open(cfg.DataDir, opts)
			if err != nil {
				return nil, fmt.Errorf("embedded driver: %w", err)
			}
			d := New(st)
			d.fs = fs
			return d, nil
		},
	})
}

// New returns a driver over st. Close closes st.
func New(st *engine.Store) *Driver { return &Driver{store: st} }

// DiskFS returns the disk-fault wrapper under the engine (disk-faults=on),
// or nil.
func (d *Driver) DiskFS() *disk.FS { return d.fs }

// Store returns the engine the driver runs against.
func (d *Driver) Store() *engine.Store { return d.store }

// Close closes the engine.
func (d *Driver) Close() error { return d.store.Close() }

func memoryOf(op *workloads.Op, k workloads.Key, vec []float32) engine.Memory {
	return engine.Memory{ID: k.ID(), Content: workloads.Content(k), Embedding: vec, Confidence: op.Confidence}
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
	case workloads.KindRecall, workloads.KindSearch:
		res, err := d.store.Search(ctx, op.Space, op.Embedding, op.K)
		if err != nil {
			return classify(err)
		}
		if op.HasTarget {
			op.BeginScore()
			for rank, m := range res {
				if op.Kind == workloads.KindRecall && m.Score < op.Threshold {
					break
				}
				op.ScoreResult(rank, m.ID)
			}
		}
		return nil
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

// Preload implements drivers.Preloader: one atomic batch per call.
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
	}
	return err
}
