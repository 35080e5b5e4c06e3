package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// memTarget is a Reader over a map: what a target holds.
type memTarget map[string][]byte

func (m memTarget) Read(_ context.Context, space, id string) ([]byte, bool, error) {
	c, ok := m[space+"/"+id]
	return c, ok, nil
}

func writeSpill(t *testing.T, ws []Write) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spill")
	s, err := CreateSpill(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		s.Add(w)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func store(o Outcome, space, id, content string) Write {
	return Write{Action: Store, Outcome: o, Space: space, ID: id, Sum: Sum([]byte(content))}
}

func TestSpillRoundTrip(t *testing.T) {
	ws := []Write{
		store(Acked, "default", "m1", "a"),
		store(Unknown, "space_1", "m2", "b"),
		{Action: Delete, Outcome: Rejected, Space: "default", ID: "m1"},
		store(Rejected, "default", "p0", "c"),
	}
	p := writeSpill(t, ws)
	var got []Write
	trunc, err := ReadSpill(p, func(w Write) error { got = append(got, w); return nil })
	if err != nil || trunc || !reflect.DeepEqual(got, ws) {
		t.Fatalf("read %+v trunc %v err %v, want %+v", got, trunc, err, ws)
	}
	// A record cut short at the end is a truncated spill, not an error.
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-3], 0o644)
	got = nil
	trunc, err = ReadSpill(p, func(w Write) error { got = append(got, w); return nil })
	if err != nil || !trunc || len(got) != 3 {
		t.Fatalf("truncated: %d writes, trunc %v, err %v", len(got), trunc, err)
	}
	// Garbage is a clear error.
	os.WriteFile(p, append([]byte(spillHeader), 'X', 1, 2), 0o644)
	if _, err := ReadSpill(p, func(Write) error { return nil }); !errors.Is(err, ErrBadSpill) {
		t.Fatalf("garbage: %v", err)
	}
	os.WriteFile(p, []byte("hello"), 0o644)
	if _, err := ReadSpill(p, func(Write) error { return nil }); !errors.Is(err, ErrBadSpill) {
		t.Fatalf("no header: %v", err)
	}
}

func FuzzReadSpill(f *testing.F) {
	f.Add([]byte(spillHeader + "S\x07defaultW\x11\x00\x02m1abcd"))
	f.Add([]byte(spillHeader + "W\x11\x05\x02m1abcd"))
	f.Add([]byte(spillHeader + "S\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "s")
		os.WriteFile(p, b, 0o644)
		ReadSpill(p, func(w Write) error {
			if w.Action != Store && w.Action != Delete || w.Outcome < Acked || w.Outcome > Unknown {
				t.Fatalf("invalid write %+v accepted", w)
			}
			return nil
		})
	})
}

// The checker's verdicts, each case in words.
func TestCheckVerdicts(t *testing.T) {
	ws := []Write{
		store(Acked, "default", "intact", "x"),
		store(Acked, "default", "lost", "x"),
		store(Acked, "default", "corrupt", "x"),
		store(Unknown, "default", "maybe-there", "x"),
		store(Unknown, "default", "maybe-gone", "x"),
		store(Unknown, "default", "maybe-corrupt", "x"),
		store(Rejected, "default", "refused-yet-there", "x"),
		store(Rejected, "default", "refused-gone", "x"),
		store(Rejected, "default", "refused-then-acked", "x"),
		store(Acked, "default", "refused-then-acked", "x"),
		store(Acked, "default", "deleted", "x"),
		{Action: Delete, Outcome: Acked, Space: "default", ID: "deleted"},
		store(Acked, "other", "intact", "y"),
	}
	target := memTarget{
		"default/intact": []byte("x"), "default/corrupt": []byte("X"),
		"default/maybe-there": []byte("x"), "default/maybe-corrupt": []byte("?"),
		"default/refused-yet-there": []byte("x"), "default/refused-then-acked": []byte("x"),
		"other/intact": []byte("y"),
	}
	p := writeSpill(t, ws)
	for _, part := range []int{0, 2} {
		t.Run(fmt.Sprintf("partition size %d", part), func(t *testing.T) {
			st, err := Check(context.Background(), p, target, Config{PartitionSize: part, Concurrency: 3})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"writes": 13, "acknowledged": 5, "intact": 3, "lost": 1, "corrupted": 2, "unexpected": 1, "indeterminate": 3, "indeterminate_present": 1, "deleted": 1}
			got := map[string]int64{"writes": st.Writes, "acknowledged": st.Acknowledged, "intact": st.Intact, "lost": st.Lost, "corrupted": st.Corrupted, "unexpected": st.Unexpected, "indeterminate": st.Indeterminate, "indeterminate_present": st.IndeterminatePresent, "deleted": st.Deleted}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
			if st.OK() || !reflect.DeepEqual(st.LostExamples, []string{"default/lost"}) || !reflect.DeepEqual(st.UnexpectedExamples, []string{"default/refused-yet-there"}) {
				t.Errorf("ok %v lost %v unexpected %v", st.OK(), st.LostExamples, st.UnexpectedExamples)
			}
		})
	}
}

// fakeDriver acknowledges or fails ops by their index.
type fakeDriver struct{ fail map[uint64]error }

func (f fakeDriver) Do(_ context.Context, op *workloads.Op) error { return f.fail[op.Index] }

// The recorder puts every write in the spill with its outcome, reads not at all.
func TestRecorder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "spill")
	sp, _ := CreateSpill(p)
	r, err := Record(fakeDriver{fail: map[uint64]error{
		1: drivers.WithClass("timeout", errors.New("t")),
		2: drivers.WithClass("4xx", errors.New("bad")),
		3: drivers.WithClass("connection_reset", errors.New("r")),
	}}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ops := []workloads.Op{
		{Index: 0, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(0)},
		{Index: 1, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(1)},
		{Index: 2, Kind: workloads.KindStore, Space: "default", Key: workloads.OpKey(2)},
		{Index: 3, Kind: workloads.KindStoreBatch, Space: "default", Count: 2},
		{Index: 4, Kind: workloads.KindRecall, Space: "default"},
		{Index: 5, Kind: workloads.KindForget, Space: "default", Key: workloads.OpKey(0)},
	}
	for i := range ops {
		r.Do(ctx, &ops[i])
	}
	r.Preload(ctx, []workloads.Op{{Kind: workloads.KindStore, Space: "default", Key: workloads.PreloadKey(7)}})
	sp.Close()
	var got []string
	ReadSpill(p, func(w Write) error {
		got = append(got, fmt.Sprintf("%d %s %s/%s %v", w.Action, w.Outcome, w.Space, w.ID, w.Action == Delete || w.Sum == Sum([]byte(workloads.Content(mustKey(w.ID))))))
		return nil
	})
	want := []string{"1 acked default/m0 true", "1 unknown default/m1 true", "1 rejected default/m2 true",
		"1 unknown default/m3.0 true", "1 unknown default/m3.1 true", "2 acked default/m0 true", "1 acked default/p7 true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spill:\n%q\nwant\n%q", got, want)
	}
	if c := sp.Counts(); c.Writes != 7 || c.Acked != 3 || c.Rejected != 1 || c.Unknown != 3 {
		t.Errorf("counts %+v", c)
	}
}

func mustKey(id string) workloads.Key {
	k, err := workloads.ParseKey(id)
	if err != nil {
		panic(err)
	}
	return k
}

var _ = bytes.Equal
