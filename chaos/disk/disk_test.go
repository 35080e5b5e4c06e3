package disk

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/engram-bench/engram-bench/engine"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ name, in, want, err string }{
		{name: "error defaults: sync and write of every file, always", in: "error", want: "error ops=sync,write files=all prob=1 seed=1"},
		{name: "error on WAL syncs, one in ten", in: "error ops=sync files=wal prob=0.1 seed=7", want: "error ops=sync files=wal prob=0.1 seed=7"},
		{name: "ops=all expands and sorts", in: "error ops=all", want: "error ops=read,sync,write files=all prob=1 seed=1"},
		{name: "slow needs a latency", in: "slow", err: "latency=DURATION is required"},
		{name: "slow syncs", in: "slow latency=5ms ops=sync", want: "slow latency=5ms ops=sync files=all seed=1"},
		{name: "lie", in: "lie flush=2s", want: "lie flush=2s"},
		{name: "unknown mode", in: "melt", err: "unknown mode"},
		{name: "key of another mode", in: "lie prob=0.5", err: `unknown key "prob"`},
		{name: "bad probability", in: "error prob=2", err: "prob=2"},
		{name: "bad op", in: "error ops=sing", err: `unknown op "sing"`},
		{name: "no value", in: "error ops", err: "want key=value"},
		{name: "twice", in: "error prob=1 prob=1", err: "given twice"},
		{name: "empty", in: "  ", err: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || s.String() != tc.want {
				t.Fatalf("%q → %q, %v; want %q", tc.in, s, err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"error", "error ops=sync files=wal prob=0.5 seed=3", "slow latency=1ms", "lie flush=1s", "error ops=all files=sst"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		again, err := Parse(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("%q → %q → %+v, %v", in, s, again, err)
		}
	})
}

func TestFSInjects(t *testing.T) {
	fs := New(vfs.NewMem())
	fs.MkdirAll("/d", 0o755)
	write := func(name string) error {
		f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write([]byte("x")); err != nil {
			return err
		}
		return f.Sync()
	}
	if err := write("/d/000001.log"); err != nil {
		t.Fatalf("no fault: %v", err)
	}
	s, _ := Parse("error ops=sync files=wal")
	fs.Set(s)
	if err := write("/d/000002.log"); !errors.Is(err, ErrInjected) {
		t.Errorf("WAL sync: %v, want ErrInjected", err)
	}
	if err := write("/d/000003.sst"); err != nil {
		t.Errorf("an sstable is not hit by files=wal: %v", err)
	}
	if fs.Injected() != 1 {
		t.Errorf("injected %d", fs.Injected())
	}
	fs.Clear()
	if err := write("/d/000004.log"); err != nil {
		t.Errorf("healed: %v", err)
	}
	s, _ = Parse("slow latency=20ms ops=sync seed=2")
	fs.Set(s)
	t0 := time.Now()
	for i := 0; i < 5; i++ {
		write("/d/x.sst")
	}
	if fs.Delayed() != 5 || time.Since(t0) < 5*time.Millisecond {
		t.Errorf("slow: %d delayed in %s", fs.Delayed(), time.Since(t0))
	}
}

// The engine on the wrapper: a failed WAL sync fails the write and marks
// the store failed — the process lives on — and healing does not revive it
// (it must be reopened).
func TestEngineOnFailingDisk(t *testing.T) {
	fs := New(nil)
	dir := t.TempDir()
	st, err := engine.Open(filepath.Join(dir, "db"), engine.Options{Dim: 4, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	m := engine.Memory{ID: "a", Content: "a", Embedding: []float32{1, 0, 0, 0}, Confidence: 0.9}
	if err := st.Remember(ctx, "default", m); err != nil {
		t.Fatal(err)
	}
	s, _ := Parse("error ops=sync,write files=wal")
	fs.Set(s)
	m.ID = "b"
	err = st.Remember(ctx, "default", m)
	if !errors.Is(err, engine.ErrFailed) {
		t.Fatalf("remember on a failing WAL: %v, want ErrFailed", err)
	}
	fs.Clear()
	if _, err := st.Space("default"); !errors.Is(err, engine.ErrFailed) {
		t.Errorf("after heal: %v, want the store still failed", err)
	}
}

func TestHandler(t *testing.T) {
	fs := New(vfs.NewMem())
	srv := httptest.NewServer(Handler(fs))
	defer srv.Close()
	do := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if c, b := do("GET", ""); c != 200 || b != "none" {
		t.Errorf("GET: %d %q", c, b)
	}
	if c, b := do("PUT", "slow latency=1ms"); c != 200 || b != "slow latency=1ms ops=sync,write files=all seed=1" {
		t.Errorf("PUT: %d %q", c, b)
	}
	if c, _ := do("GET", ""); c != 200 {
		t.Errorf("GET")
	}
	if c, b := do("PUT", "slow"); c != 400 || !strings.Contains(b, "latency") {
		t.Errorf("bad PUT: %d %q", c, b)
	}
	if c, _ := do("PUT", "lie flush=1s"); c != 400 {
		t.Errorf("lie at run time: %d", c)
	}
	if c, b := do("DELETE", ""); c != 200 || b != "none" {
		t.Errorf("DELETE: %d %q", c, b)
	}
	if _, ok := fs.Active(); ok {
		t.Error("still active after DELETE")
	}
	if c, _ := do("PATCH", ""); c != 405 {
		t.Errorf("PATCH: %d", c)
	}
}
