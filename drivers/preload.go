package drivers

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// preloadOutcome is what a preload stored (done) and did not (failed), and
// the first failure's error.
type preloadOutcome struct {
	done, failed int64
	first        error
}

// preloadBatch is how many memories one preload call stores.
const preloadBatch = 500

// runPreload stores the memories iterate yields (the generator's preload or
// a trace's preload section) before measuring: one producer groups them by
// memory space into batches of preloadBatch, and workers store each batch
// through Preloader when the driver has it, else one op at a time. Nothing
// here is timed into the results; progress is reported every progressEvery
// (default, and at most, once a second; at least every 10 ms).
//
// It returns what was stored and what failed, and an error when the preload
// as a whole failed: the source broke, or nothing could be stored.
func runPreload(ctx context.Context, d Driver, iterate func(context.Context, func(*workloads.Op) error) error, total int64, concurrency int, progress func(done, total int64), progressEvery time.Duration) (preloadOutcome, error) {
	batcher, _ := d.(Preloader)
	workers := runtime.GOMAXPROCS(0) * 2
	if batcher == nil {
		workers = max(workers, min(concurrency, 256))
	}
	var done, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fail := func(n int64, err error) {
		failed.Add(n)
		errOnce.Do(func() { firstErr = err })
	}

	stopProgress := make(chan struct{})
	var progWG sync.WaitGroup
	if progress != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			every := time.Second
			if progressEvery > 0 {
				every = max(min(progressEvery, time.Second), 10*time.Millisecond)
			}
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					progress(done.Load(), total)
				}
			}
		}()
	}

	batches := make(chan []workloads.Op, 2*workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain
				}
				if batcher != nil {
					err := batcher.Preload(ctx, b)
					var pe *PreloadError
					switch {
					case err == nil:
						done.Add(int64(len(b)))
					case errors.As(err, &pe) && pe.Failed >= 0 && pe.Failed <= len(b):
						// Some of the batch was stored.
						fail(int64(pe.Failed), pe.Err)
						done.Add(int64(len(b) - pe.Failed))
					default:
						fail(int64(len(b)), err)
					}
					continue
				}
				for i := range b {
					if err := d.Do(ctx, &b[i]); err != nil {
						fail(1, err)
					} else {
						done.Add(1)
					}
				}
			}
		}()
	}

	pending := map[string][]workloads.Op{}
	iterErr := iterate(ctx, func(op *workloads.Op) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := pending[op.Space]
		if b == nil {
			b = make([]workloads.Op, 0, preloadBatch)
		}
		c := *op
		c.Embedding = append([]float32(nil), op.Embedding...)
		b = append(b, c)
		if len(b) >= preloadBatch {
			batches <- b
			b = nil
		}
		pending[op.Space] = b
		return nil
	})
	for _, b := range pending {
		if len(b) > 0 {
			batches <- b
		}
	}
	close(batches)
	wg.Wait()
	close(stopProgress)
	progWG.Wait()
	if progress != nil {
		progress(done.Load(), total)
	}
	out := preloadOutcome{done: done.Load(), failed: failed.Load(), first: firstErr}
	if iterErr != nil && ctx.Err() == nil {
		return out, fmt.Errorf("preload: %w", iterErr)
	}
	if out.failed > 0 && out.done == 0 {
		return out, fmt.Errorf("preload failed: %w", firstErr)
	}
	return out, nil
}
