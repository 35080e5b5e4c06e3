package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/engram-bench/engram-bench/chaos/check"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// expectation is what the read-back expects of one memory.
type expectation struct {
	Space string
	Key   workloads.Key
	Conf  float32
	// Ack is when the write was acknowledged (Unix ns). Acked says it was,
	// before the disaster: the memory counts in the RPO, lost or present.
	Ack   int64
	Acked bool
	// BackedUp marks a memory acknowledged before the restored backup
	// began: the backup held it, so it must be present.
	BackedUp bool
	// MustBeAbsent marks a write begun after the restored backup's
	// consistent point and before the disaster: it cannot be in the backup.
	MustBeAbsent bool
}

// readBack reads memories back from a server and tallies what it finds into
// a reports.DrillData. Safe for concurrent use by its workers.
type readBack struct {
	base     string
	client   *http.Client
	disaster int64 // Unix ns

	mu  sync.Mutex
	d   *reports.DrillData
	min int64 // oldest lost ack
	max int64 // newest surviving ack
}

// maxExamples bounds each list of example ids.
const maxExamples = 10

// run checks every expectation feed yields with workers concurrent reads.
func (rb *readBack) run(ctx context.Context, workers int, feed func(yield func(expectation) error) error) error {
	g, gctx := errgroup.WithContext(ctx)
	ch := make(chan expectation, 4*workers)
	g.Go(func() error {
		defer close(ch)
		return feed(func(e expectation) error {
			select {
			case ch <- e:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for e := range ch {
				if err := rb.check(gctx, e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	for _, l := range [][]string{rb.d.LostExamples, rb.d.CorruptExamples, rb.d.UnexpectedExamples} {
		sort.Strings(l)
	}
	if rb.d.Lost > 0 {
		rb.d.OldestLostAgeS = float64(rb.disaster-rb.min) / 1e9
	}
	if rb.max > 0 {
		rb.d.NewestSurvivorAt = time.Unix(0, rb.max).UTC()
		rb.d.NewestSurvivorAgeS = float64(rb.disaster-rb.max) / 1e9
	} else if rb.d.Lost > 0 {
		// Nothing survived: the data-loss window reaches back to the
		// oldest acknowledged memory, not 0.
		rb.d.NewestSurvivorAgeS = rb.d.OldestLostAgeS
	}
	return err
}

// memoryBody is the part of GET /api/v1/memories/{id} the check reads.
type memoryBody struct {
	Content    string  `json:"content"`
	Confidence float64 `json:"confidence"`
}

// errCorruptAnswer is a read the server refused because the stored record
// failed its checksum (engramd answers 500 naming a corrupt record).
var errCorruptAnswer = errors.New("the server reports the record corrupt")

// get reads one memory: found, its body, errCorruptAnswer, or an error
// after three attempts.
func (rb *readBack) get(ctx context.Context, space, id string) (bool, memoryBody, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return false, memoryBody{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rb.base+"/api/v1/memories/"+url.PathEscape(id), nil)
		if err != nil {
			return false, memoryBody{}, err
		}
		req.Header.Set("X-Memory-Space", space)
		resp, err := rb.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return false, memoryBody{}, ctx.Err()
			}
			last = err
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case err != nil:
			last = err
		case resp.StatusCode == http.StatusNotFound:
			return false, memoryBody{}, nil
		case resp.StatusCode >= 500 && bytes.Contains(b, []byte("corrupt")):
			return true, memoryBody{}, errCorruptAnswer
		case resp.StatusCode == http.StatusOK:
			var m memoryBody
			if err := json.Unmarshal(b, &m); err != nil {
				return true, memoryBody{}, fmt.Errorf("memory %s/%s: answer is not JSON: %v", space, id, err)
			}
			return true, m, nil
		default:
			last = fmt.Errorf("memory %s/%s: %s", space, id, resp.Status)
		}
	}
	return false, memoryBody{}, last
}

func (rb *readBack) check(ctx context.Context, e expectation) error {
	id := e.Key.ID()
	found, m, err := rb.get(ctx, e.Space, id)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	d := rb.d
	name := e.Space + "/" + id
	add := func(list *[]string) {
		if len(*list) < maxExamples {
			*list = append(*list, name)
		}
	}
	if err != nil && !errors.Is(err, errCorruptAnswer) {
		d.ReadErrors++
		return nil
	}
	if e.Acked {
		d.Acknowledged++
	}
	if e.MustBeAbsent {
		d.CheckedAbsent++
	}
	switch {
	case found && e.MustBeAbsent:
		d.Unexpected++
		add(&d.UnexpectedExamples)
		return nil
	case !found && e.Acked:
		d.Lost++
		add(&d.LostExamples)
		if e.BackedUp {
			d.LostBackedUp++
		}
		if rb.min == 0 || e.Ack < rb.min {
			rb.min = e.Ack
		}
		return nil
	case !found || !e.Acked:
		return nil
	}
	// The content is a pure function of the key (workloads.Content): its
	// checksum is compared as the chaos read-back compares contents; the
	// confidence went out with 4 decimals.
	want := check.Sum([]byte(workloads.Content(e.Key)))
	conf := math.Round(float64(e.Conf)*1e4) / 1e4
	if err != nil || check.Sum([]byte(m.Content)) != want || math.Abs(m.Confidence-conf) > 1e-4 {
		d.Corrupt++
		add(&d.CorruptExamples)
		return nil
	}
	d.Present++
	if e.Ack > rb.max {
		rb.max = e.Ack
	}
	return nil
}
