package recovery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/engine/server"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// TestReadBack runs the read-back against a real engine behind engramd's
// handlers, holding intact, corrupt, missing and unexpected memories, and
// checks every count and the RPO it derives.
func TestReadBack(t *testing.T) {
	st, hs := readBackTarget(t)

	disaster := time.Date(2026, 11, 27, 12, 0, 10, 0, time.UTC)
	ack := func(s float64) int64 { return disaster.Add(-time.Duration(s * 1e9)).UnixNano() } // s seconds before the disaster
	store := func(k workloads.Key, content string, conf float32) {
		err := st.Remember(context.Background(), "default", engine.Memory{ID: k.ID(), Content: content, Confidence: conf, Embedding: []float32{1, float32(k & 0xff), 0.5, 0.25}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []expectation
	// Ten memories acknowledged long before the backup, intact.
	for i := uint64(0); i < 10; i++ {
		k := workloads.OpKey(i)
		store(k, workloads.Content(k), 0.912345)
		want = append(want, expectation{Space: "default", Key: k, Conf: 0.912345, Ack: ack(8 - float64(i)*0.1), Acked: true, BackedUp: true})
	}
	// One intact, acknowledged 2 s before the disaster: the newest survivor.
	k := workloads.OpKey(10)
	store(k, workloads.Content(k), 0.95)
	want = append(want, expectation{Space: "default", Key: k, Conf: 0.95, Ack: ack(2), Acked: true, BackedUp: true})
	// Corrupt: wrong content; and a wrong confidence.
	k = workloads.OpKey(11)
	store(k, "something else", 0.95)
	want = append(want, expectation{Space: "default", Key: k, Conf: 0.95, Ack: ack(5), Acked: true, BackedUp: true})
	k = workloads.OpKey(12)
	store(k, workloads.Content(k), 0.5)
	want = append(want, expectation{Space: "default", Key: k, Conf: 0.95, Ack: ack(5), Acked: true, BackedUp: true})
	// Lost after the backup (the RPO), acknowledged 1.5 s and 0.5 s before the disaster.
	want = append(want, expectation{Space: "default", Key: workloads.OpKey(13), Conf: 0.9, Ack: ack(1.5), Acked: true, MustBeAbsent: true})
	want = append(want, expectation{Space: "default", Key: workloads.OpKey(14), Conf: 0.9, Ack: ack(0.5), Acked: true, MustBeAbsent: true})
	// Lost although the backup held it.
	want = append(want, expectation{Space: "default", Key: workloads.OpKey(15), Conf: 0.9, Ack: ack(6), Acked: true, BackedUp: true})
	// Written after the backup's consistent point, never acknowledged, yet present.
	k = workloads.OpKey(16)
	store(k, workloads.Content(k), 0.9)
	want = append(want, expectation{Space: "default", Key: k, Conf: 0.9, MustBeAbsent: true})
	// Written after the consistent point, failed, absent: as it should be.
	want = append(want, expectation{Space: "default", Key: workloads.OpKey(17), Conf: 0.9, MustBeAbsent: true})

	d := readBackAll(t, hs, disaster, 4, want)
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"acknowledged", d.Acknowledged, 16},
		{"present", d.Present, 11},
		{"lost", d.Lost, 3},
		{"lost backed up", d.LostBackedUp, 1},
		{"corrupt", d.Corrupt, 2},
		{"unexpected", d.Unexpected, 1},
		{"checked absent", d.CheckedAbsent, 4},
		{"read errors", d.ReadErrors, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if d.NewestSurvivorAgeS != 2 || d.OldestLostAgeS != 6 {
		t.Errorf("RPO %gs (want 2), oldest lost %gs (want 6)", d.NewestSurvivorAgeS, d.OldestLostAgeS)
	}
	if len(d.CorruptExamples) != 2 || len(d.UnexpectedExamples) != 1 || d.UnexpectedExamples[0] != "default/m16" {
		t.Errorf("examples: corrupt %v unexpected %v", d.CorruptExamples, d.UnexpectedExamples)
	}
}

// When nothing survived (no backup could be restored), the data-loss
// window reaches back to the oldest acknowledged memory: never an RPO of 0.
func TestReadBackNothingSurvived(t *testing.T) {
	_, hs := readBackTarget(t)
	disaster := time.Date(2026, 11, 27, 12, 0, 10, 0, time.UTC)
	var want []expectation
	for i, age := range []float64{9, 4, 0.5} {
		want = append(want, expectation{Space: "default", Key: workloads.OpKey(uint64(i)), Conf: 0.9, Ack: disaster.Add(-time.Duration(age * 1e9)).UnixNano(), Acked: true})
	}
	d := readBackAll(t, hs, disaster, 2, want)
	if d.Present != 0 || d.Lost != 3 || d.NewestSurvivorAgeS != 9 || d.OldestLostAgeS != 9 {
		t.Errorf("%d present, %d lost, RPO %gs, oldest lost %gs; want 0, 3, 9 s, 9 s", d.Present, d.Lost, d.NewestSurvivorAgeS, d.OldestLostAgeS)
	}
}

// readBackTarget is a real engine of 4 dimensions behind engramd's
// handlers, closed when the test ends.
func readBackTarget(t *testing.T) (*engine.Store, *httptest.Server) {
	t.Helper()
	st, err := engine.Open(t.TempDir(), engine.Options{Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return st, hs
}

// readBackAll runs the read-back of want against hs with workers workers.
func readBackAll(t *testing.T, hs *httptest.Server, disaster time.Time, workers int, want []expectation) reports.DrillData {
	t.Helper()
	var d reports.DrillData
	rb := &readBack{base: hs.URL, client: http.DefaultClient, disaster: disaster.UnixNano(), d: &d}
	err := rb.run(context.Background(), workers, func(yield func(expectation) error) error {
		for _, e := range want {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSpillRoundTrip writes records from many goroutines and reads them back.
func TestSpillRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.spill")
	s, err := newSpill(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 1000; i++ {
				s.add(writeRecord{Key: uint64(g*1000 + i), Space: uint32(g), Acked: i%2 == 0, Conf: 0.5, Began: int64(i), Ack: int64(i + 1)})
			}
			done <- struct{}{}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]writeRecord{}
	if err := readSpill(path, func(r writeRecord) error { seen[r.Key] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4000 {
		t.Fatalf("read %d records, want 4000", len(seen))
	}
	if r := seen[2001]; r.Space != 2 || r.Acked || r.Conf != 0.5 || r.Began != 1 || r.Ack != 2 {
		t.Errorf("record 2001 read back as %+v", r)
	}
}
