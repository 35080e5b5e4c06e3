package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func TestParseTargets(t *testing.T) {
	files := map[string][]byte{"body.json": []byte(`{"content":"x"}`)}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("open %s: no such file", p)
	}
	cases := []struct {
		name, data string
		want       []string // "METHOD URL headers body"
		err        string
	}{
		{"one GET", "GET http://127.0.0.1:8080/health\n", []string{"GET http://127.0.0.1:8080/health [] "}, ""},
		{"two targets with headers and body", "# comment\nGET http://h:1/a\nX-A: 1\n\nPOST http://h:1/b\nContent-Type: application/json\n@body.json\n",
			[]string{"GET http://h:1/a [[X-A 1]] ", `POST http://h:1/b [[Content-Type application/json]] {"content":"x"}`}, ""},
		{"CRLF and blank lines", "\r\n\r\nGET http://h:1/a\r\nX-A: b c\r\n\r\n", []string{"GET http://h:1/a [[X-A b c]] "}, ""},
		{"JSON format", `{"method":"POST","url":"http://h:1/p","header":{"B":["2"],"A":["1"]},"body":"eHk="}` + "\n",
			[]string{"POST http://h:1/p [[A 1] [B 2]] xy"}, ""},
		{"empty", "# nothing\n", nil, "t.txt: no targets"},
		{"no URL", "GET\n", nil, `t.txt:1: want "METHOD URL"`},
		{"bad method", "G(T http://h/\n", nil, `t.txt:1: method "G(T"`},
		{"bad scheme", "GET ftp://h/\n", nil, "t.txt:1: url \"ftp://h/\": scheme must be http or https"},
		{"no host", "GET http:///x\n", nil, "no host"},
		{"bad header", "GET http://h/\nnot a header\n", nil, `t.txt:2: header "not a header"`},
		{"missing body file", "POST http://h/\n@nope.json\n", nil, "t.txt:2: body file: open nope.json"},
		{"two bodies", "POST http://h/\n@body.json\n@body.json\n", nil, "t.txt:3: a second body"},
		{"header after body", "POST http://h/\n@body.json\nX: y\n", nil, "t.txt:3: header after the body"},
		{"content-length set", "POST http://h/\nContent-Length: 3\n", nil, "header Content-Length: set from the body"},
		{"connection close", "GET http://h/\nConnection: close\n", nil, "Connection: close defeats keep-alive"},
		{"bad JSON", "{\"method\":\n", nil, "t.txt:1:"},
		{"bad base64", `{"method":"GET","url":"http://h/","body":"!!"}`, nil, "t.txt:1: body: not base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTargets("t.txt", []byte(tc.data), read)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range ts {
				got = append(got, fmt.Sprintf("%s %s %v %s", x.Method, x.URL, x.Header, x.Body))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func FuzzParseTargets(f *testing.F) {
	f.Add("GET http://127.0.0.1:8080/a?b=c\nX-A: 1\n\nPOST https://h/p\n@f\n")
	f.Add(`{"method":"GET","url":"http://h:1/","header":{"A":["1"]},"body":"eHk="}`)
	f.Fuzz(func(t *testing.T, data string) {
		ts, err := ParseTargets("t.txt", []byte(data), func(string) ([]byte, error) { return []byte("b"), nil })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "t.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i := range ts {
			w := ts[i].wire("ua")
			if !strings.HasPrefix(string(w), ts[i].Method+" ") || !strings.Contains(string(w), "\r\n\r\n") {
				t.Fatalf("bad wire form %q", w)
			}
		}
	})
}

func TestGroundTruth(t *testing.T) {
	f, p := 500*time.Millisecond, 5*time.Second
	cases := []struct {
		q    float64
		want time.Duration
	}{{0.5, 0}, {0.9, 0}, {0.95, 250 * time.Millisecond}, {0.99, 450 * time.Millisecond}, {0.999, 495 * time.Millisecond}, {1, 500 * time.Millisecond}}
	for _, tc := range cases {
		if got := GroundTruth(f, p, tc.q); (got - tc.want).Abs() > time.Microsecond {
			t.Errorf("q %v: got %s, want %s", tc.q, got, tc.want)
		}
	}
	s, _ := NewStub(StubConfig{Freeze: f, FreezeEvery: p})
	for _, tc := range []struct{ at, want time.Duration }{{0, f}, {200 * time.Millisecond, 300 * time.Millisecond}, {time.Second, 0}, {5 * time.Second, f}, {5200 * time.Millisecond, 300 * time.Millisecond}, {5600 * time.Millisecond, 0}, {10 * time.Second, f}} {
		if got := s.FreezeLeft(tc.at); got != tc.want {
			t.Errorf("FreezeLeft(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
	if _, err := NewStub(StubConfig{Freeze: time.Second}); err == nil {
		t.Error("freeze without period accepted")
	}
}

// runDriver runs d open-loop at rate for dur and returns the totals.
func runDriver(t *testing.T, d drivers.Driver, rate float64, dur time.Duration, conc int) *reports.Totals {
	t.Helper()
	arr, err := workloads.NewArrival(workloads.ArrivalSpec{Pattern: "constant", Rate: rate}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := reports.NewRecorder([]string{OpName}, conc)
	_, err = drivers.Run(context.Background(), drivers.RunConfig{Arrival: arr, Ops: skip{}, Concurrency: conc, Duration: dur, Recorder: rec, DrainTimeout: 5 * time.Second}, d)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Cumulative()
}

type skip struct{}

func (skip) Fill(i uint64, op *workloads.Op) { op.Index = i }

func TestDriverAgainstServer(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	hs := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Test")+" "+string(b)]++
		mu.Unlock()
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(404)
		case "/busy":
			w.WriteHeader(503)
		case "/broken":
			w.WriteHeader(500)
		}
	}))
	defer hs.Close()
	dir := t.TempDir()
	os.WriteFile(dir+"/b.json", []byte(`{"a":1}`), 0o644)
	targets := fmt.Sprintf("GET %[1]s/ok\nX-Test: yes\n\nPOST %[1]s/post\nContent-Type: application/json\n@%[2]s/b.json\n\nGET %[1]s/missing\n\nGET %[1]s/busy\n\nGET %[1]s/broken\n", hs.URL, dir)
	os.WriteFile(dir+"/targets.txt", []byte(targets), 0o644)
	d, err := newFromConfig(context.Background(), drivers.Config{Options: map[string]string{"targets": dir + "/targets.txt"}, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer drivers.Close(d)
	if err := d.(drivers.Prober).Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	tot := runDriver(t, d, 500, 400*time.Millisecond, 4)
	all := tot.All()
	if all.Count != 200 {
		t.Fatalf("count %d, want 200", all.Count)
	}
	want := map[string]int64{"4xx": 40, "overload": 40, "5xx": 40}
	for k, v := range want {
		if all.Errors[k] != v {
			t.Errorf("errors %s = %d, want %d (all %v)", k, all.Errors[k], v, all.Errors)
		}
	}
	if seen["GET /ok yes "] != 40 || seen[`POST /post  {"a":1}`] != 40 {
		t.Errorf("server saw %v", seen)
	}
}

func TestProbeUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	d, err := newFromConfig(context.Background(), drivers.Config{Target: "http://" + addr + "/", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = d.(drivers.Prober).Probe(ctx)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || time.Since(start) > 3*time.Second {
		t.Fatalf("probe: %v after %s", err, time.Since(start))
	}
	// Ops against it are classed connection_refused.
	err = d.Do(context.Background(), &workloads.Op{})
	if drivers.Classify(err) != "connection_refused" {
		t.Fatalf("class %q: %v", drivers.Classify(err), err)
	}
	var ce *drivers.ClassError
	if !errors.As(err, &ce) {
		t.Fatal("not classed")
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{}, "give --driver-opt targets=FILE or --target URL"},
		{map[string]string{"targets": "/nonexistent"}, "targets: open /nonexistent"},
		{map[string]string{"timeout": "-1s", "targets": "/dev/null"}, "no targets"},
		{map[string]string{"bogus": "1"}, ""},
	} {
		_, err := newFromConfig(context.Background(), drivers.Config{Target: "", Options: tc.opts})
		if err == nil || (tc.want != "" && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: err %v, want %q", tc.opts, err, tc.want)
		}
	}
	_, err := newFromConfig(context.Background(), drivers.Config{Target: "http://h:1/", Options: map[string]string{"timeout": "x"}})
	if err == nil || !strings.Contains(err.Error(), `timeout="x"`) {
		t.Errorf("bad timeout: %v", err)
	}
	_, err = newFromConfig(context.Background(), drivers.Config{Target: "http://h:1/", Options: map[string]string{"bogus": "1"}})
	if err == nil || !strings.Contains(err.Error(), `option "bogus": unknown`) {
		t.Errorf("unknown option: %v", err)
	}
}
