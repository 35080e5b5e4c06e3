package workloads

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const traceSc = `name = "tr"
[duration]
total_seconds = 1
warmup_seconds = 0.25
[arrival]
pattern = "poisson"
lambda = 400
[operations]
store_weight = 30
recall_weight = 30
store_batch_weight = 5
batch_size = 3
recall_by_id_weight = 20
spreading_activation_weight = 10
embedding_search_weight = 5
[data]
preload = 40
embedding_dim = 8
memory_spaces = 2
planted_group_size = 4
`

func recordTo(t *testing.T, text string, seed uint64) (string, *Scenario, TraceInfo) {
	t.Helper()
	sc := scenarioText(t, text)
	path := filepath.Join(t.TempDir(), "t.jsonl.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := RecordTrace(f, sc, seed, RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, sc, info
}

// Record then replay: the same ops, in the same order, at the recorded times
// divided by the rate multiplier; the preload too.
func TestTraceRoundTrip(t *testing.T) {
	path, sc, info := recordTo(t, traceSc, 11)
	scan, err := ScanTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if scan.Ops != info.Ops || scan.Preload != 40 || scan.Ops < 400 || len(scan.Spaces) != 2 || scan.Header.WarmupNs != int64(250*time.Millisecond) {
		t.Fatalf("scan %+v, recorded %+v", scan, info)
	}
	gen, _ := NewGenerator(sc, 11)
	var pre []string
	if err := ReadPreload(path, func(op *Op) error { pre = append(pre, op.String()); return nil }); err != nil {
		t.Fatal(err)
	}
	for j, s := range pre {
		var want Op
		gen.FillPreload(uint64(j), &want)
		want.Index = uint64(j)
		if s != want.String() {
			t.Fatalf("preload %d: %s, want %s", j, s, want.String())
		}
	}
	rp, err := NewReplay(path, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	sched, _ := NewSchedule(sc, 11)
	want := NewSequence(sched)
	seq := NewSequence(rp)
	var got Op
	for i := uint64(0); i < scan.Ops; i++ {
		d := seq.Next()
		w := want.Next()
		if diff := d - w/2; diff < -1 || diff > 1 {
			t.Fatalf("op %d due at %v, want %v / 2", i, d, w)
		}
		rp.Fill(i, &got)
		exp := gen.Op(i)
		if got.String() != exp.String() {
			t.Fatalf("op %d:\n got %s\nwant %s", i, got.String(), exp.String())
		}
	}
	if d := seq.Next(); d != NeverDue || rp.Err() != nil {
		t.Errorf("after the last op: due %v, err %v", d, rp.Err())
	}
	// A fill far behind the window is an error, not stale data.
	rp.Fill(0, &got)
	if rp.Err() == nil {
		t.Error("fill outside the window was not reported")
	}
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.jsonl.gz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const hdr = `{"format":"engram-bench-trace","version":1,"dim":2}` + "\n"

// emb of [1, 0] as base64 little-endian float32.
const e2 = "AACAPwAAAAA="

// A gzip trace cut off anywhere — in the middle of a line, not only in its
// footer — is refused as truncated, at the line that was cut, not as a line
// of bad JSON.
func TestTruncatedTraceMidStream(t *testing.T) {
	var b strings.Builder
	b.WriteString(hdr)
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, `{"t_ns":%d,"op":"store","space":"default","key":"m%d","emb":"%s"}`+"\n", i*1000, i, e2)
	}
	fmt.Fprintf(&b, `{"end":true,"ops":%d}`+"\n", 20000)
	full := gz(t, b.String())
	if _, err := ScanTrace(writeFile(t, full)); err != nil {
		t.Fatalf("whole trace: %v", err)
	}
	for _, frac := range []int{10, 25, 50, 75, 90} {
		t.Run(fmt.Sprintf("cut=%d%%", frac), func(t *testing.T) {
			_, err := ScanTrace(writeFile(t, full[:len(full)*frac/100]))
			var te *TraceError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TraceError", err)
			}
			if !strings.Contains(err.Error(), "truncated: the compressed stream ends in the middle") || te.Line < 2 {
				t.Errorf("err = %v, want truncated at a line after the header", err)
			}
		})
	}
}

// A bad trace is refused with its file and line, whatever is wrong with it.
func TestBadTraces(t *testing.T) {
	good := hdr +
		`{"t_ns":0,"op":"store","space":"default","key":"m0","emb":"` + e2 + `"}` + "\n" +
		`{"t_ns":5,"op":"recall_by_id","space":"default","key":"m0"}` + "\n" +
		`{"end":true,"ops":2}` + "\n"
	if _, err := ScanTrace(writeFile(t, gz(t, good))); err != nil {
		t.Fatalf("good trace: %v", err)
	}
	if _, err := ScanTrace(writeFile(t, []byte(good))); err != nil {
		t.Fatalf("good plain-text trace: %v", err)
	}
	full := gz(t, good)
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"truncated compressed stream", full[:len(full)-12], []string{"truncated"}},
		{"no end line", gz(t, strings.TrimSuffix(good, `{"end":true,"ops":2}`+"\n")), []string{":3:", "file ends before its end line", "truncated?"}},
		{"end line with the wrong count", gz(t, strings.Replace(good, `"ops":2`, `"ops":3`, 1)), []string{":4:", "end line: ops 3", "holds 2"}},
		{"not JSON on line 3", gz(t, strings.Replace(good, `{"t_ns":5,`, `{"t_ns":5,,`, 1)), []string{":3:", "not a JSON object"}},
		{"time goes back", gz(t, strings.Replace(good, `"t_ns":5`, `"t_ns":-1`, 1)), []string{":3:", "before the previous op"}},
		{"unknown op", gz(t, strings.Replace(good, "recall_by_id", "recal", 1)), []string{":3:", `unknown op kind "recal"`}},
		{"short embedding", gz(t, strings.Replace(good, e2, "AACAPw==", 1)), []string{":2:", "not a whole number of 2-d"}},
		{"store without key", gz(t, strings.Replace(good, `"key":"m0","emb"`, `"emb"`, 1)), []string{":2:", "needs a key"}},
		{"foreign file", gz(t, `{"metrics":{}}`+"\n"), []string{":1:", "not a trace header"}},
		{"future version", gz(t, strings.Replace(good, `"version":1`, `"version":2`, 1)), []string{":1:", "version 2 is not supported"}},
		{"empty file", []byte{}, []string{"file ends before the header line"}},
		{"text after the end", gz(t, good+"{}\n"), []string{":5:", "text after the end line"}},
		{"gzip header but garbage", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{7}, 30)...), []string{"gzip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ScanTrace(writeFile(t, c.data))
			if err == nil {
				t.Fatal("accepted")
			}
			var te *TraceError
			if !errors.As(err, &te) {
				t.Errorf("%T is not a *TraceError: %v", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A trace of real traffic — Engram's own ids, no index, no header counts —
// replays: each id maps to one stable key, so reads find their writes.
func TestRealTrafficTrace(t *testing.T) {
	text := hdr +
		`{"t_ns":0,"op":"store","space":"tenant_a","key":"mem_3f9a12bc","conf":0.9,"emb":"` + e2 + `"}` + "\n" +
		`{"t_ns":1500000,"op":"recall_by_cue","space":"tenant_a","target":"mem_3f9a12bc","k":5,"threshold":0.6,"emb":"` + e2 + `"}` + "\n" +
		`{"t_ns":2000000,"op":"recall_by_id","space":"tenant_a","key":"mem_3f9a12bc"}` + "\n" +
		`{"end":true,"ops":3}` + "\n"
	path := writeFile(t, []byte(text))
	info, err := ScanTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Ops != 3 || info.Last != 2*time.Millisecond {
		t.Fatalf("info %+v", info)
	}
	rp, err := NewReplay(path, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	seq := NewSequence(rp)
	ops := make([]Op, 3)
	for i := range ops {
		seq.Next()
		rp.Fill(uint64(i), &ops[i])
	}
	if ops[0].Key != ops[1].Target || ops[0].Key != ops[2].Key || ops[0].Key.IsPreload() {
		t.Errorf("ids not mapped consistently: %s %s %s", ops[0].Key.ID(), ops[1].Target.ID(), ops[2].Key.ID())
	}
	if ops[1].K != 5 || ops[1].Threshold != 0.6 || ops[1].Space != "tenant_a" || len(ops[1].Embedding) != 2 {
		t.Errorf("recall op %s", ops[1].String())
	}
}

// The "trace" arrival follows a recorded trace's times with the scenario's
// own op mix.
func TestTraceArrival(t *testing.T) {
	path, _, info := recordTo(t, traceSc, 2)
	sc := scenarioText(t, "[arrival]\npattern = \"trace\"\nfile = \""+path+"\"\nrate_multiplier = 4\n[operations]\nstore_weight = 1\n")
	a, err := NewArrival(sc.Arrival, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Rate(); r < 1500 || r > 2000 {
		t.Errorf("rate %v, want ≈ 4 × 400 ops/s", r)
	}
	seq := NewSequence(a)
	n := 0
	var last time.Duration
	for d := seq.Next(); d != NeverDue; d = seq.Next() {
		last = d
		n++
	}
	if uint64(n) != info.Ops || last != time.Duration(float64(info.Last)/4+0.5) {
		t.Errorf("%d ops, last at %v; want %d, %v", n, last, info.Ops, info.Last/4)
	}
	if _, err := Parse("x.toml", []byte("[arrival]\npattern = \"trace\"\nfile = \"/nonexistent/t.gz\"\n[operations]\nstore_weight = 1\n")); err == nil || !strings.Contains(err.Error(), "x.toml:3: arrival.file") {
		t.Errorf("missing trace file: %v", err)
	}
}

func FuzzReadTrace(f *testing.F) {
	f.Add([]byte(hdr + `{"t_ns":0,"op":"store","space":"default","key":"m0","emb":"` + e2 + `"}` + "\n" + `{"end":true,"ops":1}` + "\n"))
	f.Add([]byte(hdr + `{"preload":true,"op":"store","space":"s","key":"p0","emb":"` + e2 + `"}` + "\n" + `{"end":true,"ops":0,"preload_count":1}` + "\n"))
	f.Add([]byte(hdr + `{"t_ns":3,"op":"store_batch","space":"s","key":"m0.0","count":2,"emb":"` + e2 + e2 + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := ScanTrace(p)
		if err != nil {
			var te *TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TraceError: %v", err, err)
			}
			return
		}
		// A trace that scans clean replays to its end without error.
		rp, err := NewReplay(p, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer rp.Close()
		seq := NewSequence(rp)
		var op Op
		for i := uint64(0); i < info.Ops; i++ {
			seq.Next()
			rp.Fill(i, &op)
		}
		if seq.Next() != NeverDue || rp.Err() != nil {
			t.Fatalf("replay of a clean trace: %v", rp.Err())
		}
	})
}

// A scenario whose "trace" arrival ends before its duration is up ends with
// the trace: the offered rate is the trace's ops due in the measured window
// over the part of the window the trace covers, not over the whole
// duration (which would report 1,000 ops/s for a 1,500 ops/s trace run for
// 3 s instead of 2).
func TestScheduleOfferedTraceEndsEarly(t *testing.T) {
	// 300 ops at 1,500 ops/s: due at 0, 1/1500 s, …; recorded window 200 ms,
	// of which the first 100 ms are warm-up.
	path, _, info := recordTo(t, "[duration]\ntotal_seconds = 0.1\nwarmup_seconds = 0.1\n[arrival]\npattern = \"constant\"\nrate = 1500\n[operations]\nstore_weight = 1\n[data]\npreload = 5\nembedding_dim = 4\n", 1)
	if info.Ops != 300 {
		t.Fatalf("recorded %d ops, want 300", info.Ops)
	}
	scan, err := ScanTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if scan.WarmupOps != 150 {
		t.Errorf("ScanTrace: %d warm-up ops, want 150", scan.WarmupOps)
	}
	trace := "[arrival]\npattern = \"trace\"\nfile = \"" + path + "\"\n"
	cases := []struct {
		name   string
		text   string
		ops    uint64
		window time.Duration
	}{
		{"duration longer than the trace", "[duration]\ntotal_seconds = 3\nwarmup_seconds = 0\n" + trace, 300, 200 * time.Millisecond},
		{"warm-up, then longer than the trace", "[duration]\ntotal_seconds = 3\nwarmup_seconds = 0.1\n" + trace, 150, 100 * time.Millisecond},
		{"duration shorter than the trace", "[duration]\ntotal_seconds = 0.1\nwarmup_seconds = 0\n" + trace, 150, 100 * time.Millisecond},
		{"sped up ×2", "[duration]\ntotal_seconds = 3\nwarmup_seconds = 0\n" + trace + "rate_multiplier = 2\n", 300, 100 * time.Millisecond},
		{"warm-up outlasts the trace", "[duration]\ntotal_seconds = 3\nwarmup_seconds = 0.5\n" + trace, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scenarioText(t, tc.text+"[operations]\nstore_weight = 1\n")
			sched, err := NewSchedule(sc, 1)
			if err != nil {
				t.Fatal(err)
			}
			ops, window := sched.Offered()
			if ops != tc.ops || window != tc.window {
				t.Errorf("offered %d ops over %v, want %d over %v", ops, window, tc.ops, tc.window)
			}
			// The run ends where the schedule does: no op due after the window.
			seq := NewSequence(sched)
			var n uint64
			for d := seq.Next(); d != NeverDue; d = seq.Next() {
				if d >= sched.Warmup+tc.window && d < sched.Warmup+sched.Measured && tc.window < sched.Measured {
					t.Fatalf("op %d due at %v, after the offered window ends at %v", n, d, sched.Warmup+tc.window)
				}
				n++
			}
		})
	}
}
