package reports

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// synth builds a CPU-like profile from stacks (innermost frame first; a
// frame "a+b" is one location with b inlined into a: b is the innermost).
func synth(stacks map[string]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	fns := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f, ok := fns[name]; ok {
			return f
		}
		f := &profile.Function{ID: uint64(len(fns) + 1), Name: name}
		fns[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	locs := map[string]*profile.Location{}
	for stack, v := range stacks {
		var ls []*profile.Location
		for _, frame := range strings.Split(stack, ";") {
			loc, ok := locs[frame]
			if !ok {
				loc = &profile.Location{ID: uint64(len(locs) + 1), Address: uint64(0x1000 + len(locs))}
				names := strings.Split(frame, "+")
				for i := len(names) - 1; i >= 0; i-- { // Line[0] is the innermost
					loc.Line = append(loc.Line, profile.Line{Function: fn(names[i])})
				}
				locs[frame] = loc
				p.Location = append(p.Location, loc)
			}
			ls = append(ls, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: ls, Value: []int64{v / 10_000_000, v}})
	}
	return p
}

func find(fs []ProfileFunc, name string) (ProfileFunc, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return ProfileFunc{}, false
}

func TestTops(t *testing.T) {
	ms := int64(time.Millisecond)
	p := synth(map[string]int64{
		"dot;search;main":     60 * ms,
		"dot;search;search;x": 20 * ms, // recursion counts once in cum
		"write+enc;main":      15 * ms, // enc inlined into write: enc is the innermost frame
		"main":                5 * ms,
	})
	idx, err := SampleIndex(p, "")
	if err != nil || p.SampleType[idx].Type != "cpu" {
		t.Fatalf("sample index %d %v", idx, err)
	}
	flat, cum, total := Tops(p, idx, 0)
	if total != 100*ms {
		t.Fatalf("total %d", total)
	}
	cases := []struct {
		name      string
		flat, cum int64
	}{
		{"dot", 80 * ms, 80 * ms},
		{"search", 0, 80 * ms},
		{"enc", 15 * ms, 15 * ms},
		{"write", 0, 15 * ms},
		{"main", 5 * ms, 80 * ms},
		{"x", 0, 20 * ms},
	}
	for _, c := range cases {
		f, ok := find(cum, c.name)
		if !ok || f.Flat != c.flat || f.Cum != c.cum {
			t.Errorf("%s: %+v, want flat %d cum %d", c.name, f, c.flat, c.cum)
		}
	}
	if flat[0].Name != "dot" || flat[0].Pct != 80 || cum[0].Cum != 80*ms {
		t.Errorf("tops: flat %+v cum %+v", flat[0], cum[0])
	}
	if f, _, _ := Tops(p, idx, 2); len(f) != 2 {
		t.Errorf("n=2 kept %d", len(f))
	}
	if _, err := SampleIndex(p, "alloc_space"); err == nil || !strings.Contains(err.Error(), "it has samples, cpu") {
		t.Errorf("unknown sample type: %v", err)
	}
}

func TestRoomShares(t *testing.T) {
	eng := "github.com/engram-bench/engram-bench/engine.(*Store).Search"
	drv := "github.com/engram-bench/engram-bench/drivers.(*runner).work"
	p := synth(map[string]int64{
		"runtime.memmove;" + eng + ";" + drv:                                      70, // the engine's, though the leaf is the runtime's
		"github.com/HdrHistogram/hdrhistogram-go.(*Histogram).RecordValue;" + drv: 20,
		"runtime.gcBgMarkWorker":                                                  10,
	})
	got := RoomShares(p, 1)
	want := []RoomShare{{"target", 70, 70}, {"harness", 20, 20}, {"runtime/other", 10, 10}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("rooms %+v, want %+v", got, want)
	}
}

func TestCompareProfiles(t *testing.T) {
	base := synth(map[string]int64{"dot;search;main": 60, "enc;main": 40})
	cur := synth(map[string]int64{"dot;search;main": 90, "enc;main": 10, "gc": 20})
	d, err := DiffProfiles(base, cur, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, total := Tops(d, 1, 0); total != 20 {
		t.Errorf("diff total %d, want 120−100", total)
	}
	ds, baseTotal, err := CompareProfiles(base, cur, 1, false)
	if err != nil || baseTotal != 100 {
		t.Fatal(err, baseTotal)
	}
	by := map[string]ProfileDelta{}
	for _, x := range ds {
		by[x.Name] = x
	}
	if x := by["dot"]; x.Delta != 30 || x.Base != 60 || x.New != 90 || x.Cum != 30 {
		t.Errorf("dot %+v", x)
	}
	if x := by["main"]; x.Delta != 0 || x.Cum != 0 || x.BaseCum != 100 || x.NewCum != 100 {
		t.Errorf("main %+v", x)
	}
	if ds[0].Name != "dot" || ds[len(ds)-1].Name != "enc" {
		t.Errorf("order %v … %v", ds[0].Name, ds[len(ds)-1].Name)
	}
	// Normalised: cur scaled to base's total 100 (×100/120).
	dn, _, _ := CompareProfiles(base, cur, 1, true)
	for _, x := range dn {
		if x.Name == "dot" && x.New != 75 {
			t.Errorf("normalised dot %+v", x)
		}
	}
	var b bytes.Buffer
	if err := WriteProfileDiff(&b, ds, baseTotal, "nanoseconds", 10); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"grew", "+30ns   +30.00%", "shrank", "-30ns", "enc"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("diff text lacks %q:\n%s", want, b.String())
		}
	}
	heap := &profile.Profile{SampleType: []*profile.ValueType{{Type: "inuse_space", Unit: "bytes"}}}
	if _, err := DiffProfiles(base, heap, false); err == nil {
		t.Error("a cpu and a heap profile compared")
	}
}

func TestShortFunc(t *testing.T) {
	cases := map[string]string{
		"github.com/engram-bench/engram-bench/engine.(*Store).Search":                             "engine.(*Store).Search",
		"github.com/engram-bench/engram-bench/engine.(*chunks[go.shape.struct { a [0]*int }]).at": "engine.(*chunks[…]).at",
		"runtime.memmove": "runtime.memmove",
		"f[go.shape.int]": "f[…]",
		"broken[go.shape": "broken[go.shape",
	}
	for in, want := range cases {
		if got := ShortFunc(in); got != want {
			t.Errorf("ShortFunc(%q) = %q, want %q", in, got, want)
		}
	}
}

// pprofServer serves net/http/pprof as engramd does.
func pprofServer(t *testing.T) *httptest.Server {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s := httptest.NewServer(m)
	t.Cleanup(s.Close)
	return s
}

func TestHTTPProfiles(t *testing.T) {
	srv := pprofServer(t)
	h := &HTTPProfiles{Base: srv.URL + "/debug/pprof"}
	ctx := context.Background()
	check := func(what string, b []byte, err error, typ string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		p, err := profile.ParseData(b)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if i, _ := SampleIndex(p, ""); p.SampleType[i].Type != typ {
			t.Errorf("%s: sample type %s, want %s", what, p.SampleType[i].Type, typ)
		}
	}
	b, err := h.CPU(ctx, time.Second)
	check("cpu", b, err, "cpu")
	b, err = h.Delta(ctx, "allocs", time.Second)
	check("allocs", b, err, "inuse_space") // a delta loses its default: the summary asks for alloc_space
	var s ProfileSummary
	s.Kind = "allocs"
	pa, _ := profile.ParseData(b)
	if err := SummarizeProfile(&s, pa, 5, false); err != nil || s.SampleType != "alloc_space" {
		t.Errorf("allocs summary ranks by %s (%v)", s.SampleType, err)
	}
	// An empty mutex profile may mean no contention or no sampling: the
	// note must not claim sampling was off.
	b, err = h.Delta(ctx, "mutex", time.Second)
	check("mutex", b, err, "delay")
	pm, _ := profile.ParseData(b)
	var sm ProfileSummary
	sm.Kind = "mutex"
	if err := SummarizeProfile(&sm, pm, 5, false); err != nil {
		t.Fatalf("mutex summary: %v", err)
	}
	if sm.Total == 0 && !strings.Contains(sm.Note, "none happened, or the server samples none") {
		t.Errorf("empty mutex profile note: %q", sm.Note)
	}
	b, err = h.Snapshot(ctx, "heap")
	check("heap", b, err, "inuse_space")
	b, err = h.Snapshot(ctx, "goroutine")
	check("goroutine", b, err, "goroutine")

	bad := &HTTPProfiles{Base: srv.URL + "/nothing"}
	if _, err := bad.Snapshot(ctx, "heap"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404: %v", err)
	}
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) }))
	defer text.Close()
	if _, err := (&HTTPProfiles{Base: text.URL}).Snapshot(ctx, "heap"); err == nil || !strings.Contains(err.Error(), "not a pprof profile") {
		t.Errorf("a text answer: %v", err)
	}
}

func TestProfileCaptureInProcess(t *testing.T) {
	dir := t.TempDir()
	pc, err := NewProfileCapture(ProfileCaptureConfig{Kinds: []string{"cpu", "heap", "allocs", "mutex", "block", "goroutine"}, Target: &ProcessProfiles{},
		Self: true, Measured: 2 * time.Second, To: time.Second, Base: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	pc.Start(time.Now())
	burn(time.Second)
	r := &Result{}
	if err := pc.Finish(r, dir, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(r.Profiles) != 6 {
		t.Fatalf("%d profiles: %+v", len(r.Profiles), r.Profiles)
	}
	for i, s := range r.Profiles {
		if s.Kind != ProfileKinds[i] || s.Of != "target+harness" || s.File != "run."+s.Kind+".pb.gz" || r.Files["profile-"+s.Kind] != s.File {
			t.Errorf("profile %d: %+v", i, s)
		}
		p, err := ReadProfile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind == "cpu" {
			if s.Total == 0 || len(s.Rooms) != 3 || p.DurationNanos < int64(500*time.Millisecond) {
				t.Errorf("cpu: total %d rooms %v duration %d", s.Total, s.Rooms, p.DurationNanos)
			}
		}
	}
}

func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := range 10000 {
			x += i * i
		}
	}
	_ = x
}

func TestProfileTrigger(t *testing.T) {
	dir := t.TempDir()
	pc, err := NewProfileCapture(ProfileCaptureConfig{Target: &ProcessProfiles{}, Measured: 10 * time.Second, TriggerP99: 20 * time.Millisecond,
		TriggerFor: time.Second, Base: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	tick := func(k int, latency time.Duration) Tick {
		d := newTotals(1)
		d.Ops[0].Latency.RecordValues(int64(latency), 100)
		return Tick{Index: k, Start: int64(k) * 1e9, End: int64(k+1) * 1e9, Delta: d}
	}
	pc.Start(time.Now())
	pc.Tick(tick(0, 5*time.Millisecond))  // below: nothing
	pc.Tick(tick(1, 50*time.Millisecond)) // fires
	pc.Tick(tick(2, 90*time.Millisecond)) // once only
	burn(time.Second)
	r := &Result{}
	if err := pc.Finish(r, dir, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(r.Profiles) != 1 {
		t.Fatalf("profiles %+v", r.Profiles)
	}
	s := r.Profiles[0]
	if s.Kind != "cpu" || s.File != "run.trigger-cpu.pb.gz" || !strings.Contains(s.How, "triggered at 2s: interval p99 50.0ms > 20.0ms") {
		t.Errorf("triggered profile %+v", s)
	}
}

func TestProfileCaptureConfigErrors(t *testing.T) {
	src := &ProcessProfiles{}
	cases := []struct {
		name string
		cfg  ProfileCaptureConfig
		want string
	}{
		{"unknown kind", ProfileCaptureConfig{Kinds: []string{"threads"}, Target: src, Measured: time.Minute}, `profile "threads"`},
		{"window past the end", ProfileCaptureConfig{Kinds: []string{"cpu"}, Target: src, Measured: 30 * time.Second, From: 10 * time.Second, To: 40 * time.Second}, "ends after the measured 30s"},
		{"fractional seconds", ProfileCaptureConfig{Kinds: []string{"cpu"}, Target: src, Measured: time.Minute, From: 1500 * time.Millisecond}, "whole seconds"},
		{"empty window", ProfileCaptureConfig{Kinds: []string{"cpu"}, Target: src, Measured: time.Minute, From: 20 * time.Second, To: 10 * time.Second}, "must come after"},
		{"a run under a second", ProfileCaptureConfig{Kinds: []string{"cpu"}, Target: src, Measured: 500 * time.Millisecond}, "at least 1s"},
		{"no source", ProfileCaptureConfig{Kinds: []string{"cpu"}, Measured: time.Minute}, "no profile source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewProfileCapture(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
}

// A capture cut short by an interrupted run keeps the CPU profile of the
// part that ran and says so.
func TestProfileCaptureInterrupted(t *testing.T) {
	dir := t.TempDir()
	pc, err := NewProfileCapture(ProfileCaptureConfig{Kinds: []string{"cpu"}, Target: &ProcessProfiles{}, Measured: 30 * time.Second, Base: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	pc.Start(time.Now())
	burn(300 * time.Millisecond)
	r := &Result{Partial: true}
	t0 := time.Now()
	if err := pc.Finish(r, dir, time.Minute); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) > 5*time.Second {
		t.Errorf("Finish waited %s for an interrupted run", time.Since(t0))
	}
	if len(r.Profiles) != 1 || !strings.Contains(r.Profiles[0].How, "cut short") || r.Profiles[0].File == "" {
		t.Errorf("profiles %+v", r.Profiles)
	}
	if _, err := os.Stat(filepath.Join(dir, "run.cpu.pb.gz")); err != nil {
		t.Error(err)
	}
}
