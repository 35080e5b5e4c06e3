package drivers

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/engram-bench/engram-bench/workloads"
)

// flakyPreloader fails every failEvery-th Preload call (all of them when
// failEvery is 1).
type flakyPreloader struct {
	calls     atomic.Int64
	failEvery int64
	partial   int // when > 0, a failing call stored all but this many (a *PreloadError)
}

func (d *flakyPreloader) Do(context.Context, *workloads.Op) error { return nil }

func (d *flakyPreloader) Preload(_ context.Context, ops []workloads.Op) error {
	if d.calls.Add(1)%d.failEvery == 0 {
		err := errors.New("status 504: batch timed out")
		if d.partial > 0 {
			return &PreloadError{Failed: d.partial, Err: err}
		}
		return err
	}
	return nil
}

// A preload that loses some batches goes on, counts what failed and keeps
// the first failure's cause; one that stores nothing fails the run.
func TestPreloadKeepsFirstFailure(t *testing.T) {
	const n = 10 * preloadBatch
	iterate := func(ctx context.Context, yield func(*workloads.Op) error) error {
		for i := uint64(0); i < n; i++ {
			op := workloads.Op{Kind: workloads.KindStore, Key: workloads.PreloadKey(i), Space: "default"}
			if err := yield(&op); err != nil {
				return err
			}
		}
		return nil
	}
	cases := []struct {
		name      string
		failEvery int64
		partial   int
		wantErr   bool
	}{
		{name: "some batches fail", failEvery: 3},
		{name: "every batch fails", failEvery: 1, wantErr: true},
		// A batch sent in several requests, one of which failed: only its
		// memories count as lost.
		{name: "part of some batches fails", failEvery: 3, partial: 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &flakyPreloader{failEvery: c.failEvery, partial: c.partial}
			out, err := runPreload(context.Background(), d, iterate, n, 8, nil, 0)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error: %v", err, c.wantErr)
			}
			calls := d.calls.Load()
			perFailure := int64(preloadBatch)
			if c.partial > 0 {
				perFailure = int64(c.partial)
			}
			wantFailed := calls / c.failEvery * perFailure
			if out.failed != wantFailed || out.done+out.failed != n {
				t.Errorf("done %d, failed %d of %d (%d calls), want %d failed", out.done, out.failed, n, calls, wantFailed)
			}
			if out.first == nil || !strings.Contains(out.first.Error(), "batch timed out") {
				t.Errorf("first failure = %v, want the batch's error", out.first)
			}
		})
	}
}
