package check_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/chaos/check"
	"github.com/engram-bench/engram-bench/drivers/engram"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/workloads"
)

// storeUntilKilled stores memories from 8 writers through a recording
// engram driver, SIGKILLs engramd after killAfter acknowledged writes,
// lets the writers see the dead server for a moment, and returns the spill.
func storeUntilKilled(t *testing.T, e *systems.Engramd, killAfter int64) string {
	t.Helper()
	spill, err := check.CreateSpill(filepath.Join(t.TempDir(), "writes.spill"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := engram.New(engram.Options{Target: e.URL(), Concurrency: 8, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := check.Record(d, spill)
	if err != nil {
		t.Fatal(err)
	}
	var next, acked atomic.Int64
	var killed atomic.Bool
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails := 0
			for fails < 20 && ctx.Err() == nil {
				i := uint64(next.Add(1) - 1)
				rng := rand.New(rand.NewPCG(i, 1))
				vec := make([]float32, 8)
				for j := range vec {
					vec[j] = float32(rng.NormFloat64())
				}
				op := workloads.Op{Index: i, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(i), Embedding: vec, Dim: 8, Confidence: 0.9}
				if err := r.Do(ctx, &op); err != nil {
					fails++
					continue
				}
				if acked.Add(1) == killAfter && killed.CompareAndSwap(false, true) {
					if err := e.Kill(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := spill.Close(); err != nil {
		t.Fatal(err)
	}
	if !killed.Load() {
		t.Fatalf("only %d writes acknowledged before the writers gave up", acked.Load())
	}
	return spill.Path()
}

// kill -9 mid-load: with sync, every acknowledged write is read back after
// the restart; with the test mode that acknowledges before durability, the
// read-back must find the loss.
func TestReadBackAfterKill(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantLost bool
	}{
		{name: "sync: kill -9 loses nothing acknowledged"},
		{name: "acknowledging before durable is caught", args: []string{"--unsafe-ack-before-durable", "1m"}, wantLost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{bin}, DataDir: filepath.Join(dir, "data"), Dim: 8, Args: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Stop(ctx, 5*time.Second)
			spill := storeUntilKilled(t, e, 400)
			if _, err := e.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := check.ReadBack(ctx, spill, check.Config{Target: e.URL(), CountExtras: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", *st)
			if st.Acknowledged < 400 || st.ReadErrors != 0 || st.Corrupted != 0 || st.Unexpected != 0 {
				t.Errorf("check %+v", *st)
			}
			if tc.wantLost {
				if st.Lost == 0 || st.OK() {
					t.Errorf("the unsafe mode lost nothing the check saw: %+v", *st)
				}
				if len(st.LostExamples) == 0 {
					t.Error("no examples of lost writes")
				}
			} else if st.Lost != 0 || !st.OK() || st.Intact != st.Acknowledged {
				t.Errorf("lost %d of %d acknowledged writes after kill -9 in sync mode: %v", st.Lost, st.Acknowledged, st.LostExamples)
			}
		})
	}
}

func TestReadBackRefusesRemoteTargets(t *testing.T) {
	_, err := check.ReadBack(context.Background(), "x", check.Config{Target: "http://10.0.0.1:7432"})
	if err == nil {
		t.Fatal("a non-loopback target was accepted")
	}
}

// A memory nobody sent — written behind the spill's back — is unexpected.
func TestReadBackCountsExtras(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	ctx := context.Background()
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{bin}, DataDir: filepath.Join(t.TempDir(), "data"), Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(ctx, 5*time.Second)
	spill, _ := check.CreateSpill(filepath.Join(t.TempDir(), "s"))
	d, _ := engram.New(engram.Options{Target: e.URL(), Concurrency: 2})
	defer d.Close()
	r, _ := check.Record(d, spill)
	vec := func(x float32) []float32 { return []float32{x, 1, 0, 0, 0, 0, 0, 1} }
	for i := uint64(0); i < 3; i++ {
		op := workloads.Op{Index: i, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(i), Embedding: vec(float32(i)), Dim: 8, Confidence: 0.9}
		if err := r.Do(ctx, &op); err != nil {
			t.Fatal(err)
		}
	}
	// Stored without the recorder: the target holds one memory more than was sent.
	op := workloads.Op{Index: 9, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(9), Embedding: vec(9), Dim: 8, Confidence: 0.9}
	if err := d.Do(ctx, &op); err != nil {
		t.Fatal(err)
	}
	spill.Close()
	st, err := check.ReadBack(ctx, spill.Path(), check.Config{Target: e.URL(), CountExtras: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Intact != 3 || st.Extra != 1 || st.Unexpected != 1 || st.OK() {
		t.Errorf("check %+v", *st)
	}
}
