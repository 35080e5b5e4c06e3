package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(path string, host string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
}

func newClient(t testing.TB, addr string, cfg Config) *Client {
	t.Helper()
	cfg.Addr = addr
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAgainstNetHTTP(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/len", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			io.WriteString(w, strings.Repeat("x", 5000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("y", 300_000)) })
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(503)
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(201)
		w.Write(b)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer close(release)
	host := strings.TrimPrefix(hs.URL, "http://")
	c := newClient(t, host, Config{Conns: 2, Timeout: 300 * time.Millisecond})
	ctx := context.Background()

	cases := []struct {
		name   string
		req    []byte
		head   bool
		status int
		body   string
		blen   int64
	}{
		{"content-length", get("/len", host), false, 200, "hello", 5},
		{"chunked", get("/chunked", host), false, 200, strings.Repeat("x", 15000), 15000},
		{"bigger than the buffer", get("/big", host), false, 200, strings.Repeat("y", 300_000), 300_000},
		{"connection close", get("/close", host), false, 200, "bye", 3},
		{"no content", get("/nocontent", host), false, 204, "", 0},
		{"head", []byte("HEAD /len HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), true, 200, "", 0},
		{"post", []byte("POST /post HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4\r\n\r\nabcd"), false, 201, "abcd", 4},
		{"404", get("/missing", host), false, 404, "404 page not found\n", 19},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for rep := 0; rep < 3; rep++ { // again on a reused connection
				r, err := c.Do(ctx, tc.req, true, tc.head)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != tc.status || string(r.Body) != tc.body || r.BodyLen != tc.blen {
					t.Fatalf("got %d %q (%d bytes), want %d %q", r.Status, clip(r.Body), r.BodyLen, tc.status, clip([]byte(tc.body)))
				}
				r.Release()
				// discarding the body works too
				r, err = c.Do(ctx, tc.req, false, tc.head)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != tc.status || r.Body != nil || r.BodyLen != tc.blen {
					t.Fatalf("discarding: got %d %d bytes", r.Status, r.BodyLen)
				}
				r.Release()
			}
		})
	}
	r, err := c.Do(ctx, get("/busy", host), false, false)
	if err != nil || r.Status != 503 || r.RetryAfter != 3 {
		t.Fatalf("retry-after: %v %+v", err, r)
	}
	r.Release()

	// A request the server does not answer in time is a timeout.
	start := time.Now()
	_, err = c.Do(ctx, get("/slow", host), false, false)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTimeout {
		t.Fatalf("slow: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %s", d)
	}
	// A cancelled context ends the exchange early.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	c2 := newClient(t, host, Config{Timeout: 10 * time.Second})
	_, err = c2.Do(cctx, get("/slow", host), false, false)
	if !errors.As(err, &e) || e.Kind != KindCanceled {
		t.Fatalf("cancel: %v", err)
	}
}

// TestServerClosedIdleConnection: a pooled connection the server closed
// while it sat idle is replaced, not used.
func TestServerClosedIdleConnection(t *testing.T) {
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	hs.Config.ReadHeaderTimeout = 100 * time.Millisecond // closes silent fresh connections
	hs.Start()
	defer hs.Close()
	host := strings.TrimPrefix(hs.URL, "http://")
	c := newClient(t, host, Config{Conns: 4})
	if err := c.Warm(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	if err := c.Warm(context.Background(), 4); err != nil { // already 4 open: none more
		t.Fatal(err)
	}
	c.mu.Lock()
	open := len(c.live)
	c.mu.Unlock()
	if open != 4 {
		t.Fatalf("Warm(4) twice: %d connections open, want 4", open)
	}
	time.Sleep(checkAfter + 200*time.Millisecond)
	for i := 0; i < 8; i++ {
		r, err := c.Do(context.Background(), get("/", host), false, false)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		r.Release()
	}
}

func TestRefusedAndReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// Reset: the server reads the request and closes without answering.
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(nc).ReadString('\n')
			nc.Close()
		}
	}()
	c := newClient(t, addr, Config{})
	_, err = c.Do(context.Background(), get("/", addr), false, false)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindReset {
		t.Fatalf("closed without answer: %v", err)
	}
	ln.Close()
	_, err = c.Do(context.Background(), get("/", addr), false, false)
	if !errors.As(err, &e) || e.Kind != KindRefused {
		t.Fatalf("nobody listening: %v", err)
	}
}

// FuzzReadResponse feeds arbitrary server bytes to the parser: it must never
// panic or hang, and a parsed status is a three-digit number.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: a\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil eof"))
	f.Add([]byte("HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, ss := net.Pipe()
		defer cs.Close()
		go func() {
			defer ss.Close()
			ss.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 64)
			ss.Read(buf)
			ss.Write(data)
		}()
		cl := &Client{cfg: Config{MaxBodyBytes: 1 << 20}}
		c := &conn{nc: cs, buf: make([]byte, 64)}
		cs.SetDeadline(time.Now().Add(2 * time.Second))
		resp, err := cl.exchange(c, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true, false)
		if err == nil && (resp.Status < 100 || resp.Status > 999) {
			t.Fatalf("status %d", resp.Status)
		}
	})
}

// BenchmarkDo measures the client's cost per request against a trivial
// loopback server (which runs in the same process, so the time is shared).
func BenchmarkDo(b *testing.B) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer hs.Close()
	host := strings.TrimPrefix(hs.URL, "http://")
	c := newClient(b, host, Config{})
	req := get("/", host)
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Do(context.Background(), req, false, false)
		if err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}

// BenchmarkDoRaw measures the client against a minimal raw server (no
// net/http on the server side). Its allocs/op are the test server's
// (ReadString, WriteString): a memory profile shows none in the client.
func BenchmarkDoRaw(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						if _, err := io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	c := newClient(b, addr, Config{})
	req := get("/", addr)
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Do(context.Background(), req, false, false)
		if err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}

// Warm opens connections up to the pool's size, several at once, and says
// when the target refuses them.
func TestWarm(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer hs.Close()
	host := strings.TrimPrefix(hs.URL, "http://")
	c := newClient(t, host, Config{Conns: 100})
	if err := c.Warm(context.Background(), 150); err != nil { // more than the pool holds
		t.Fatal(err)
	}
	c.mu.Lock()
	open := len(c.live)
	c.mu.Unlock()
	if open != 100 || len(c.pool) != 100 {
		t.Errorf("%d open, %d pooled; want 100 of each", open, len(c.pool))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: refused
	r := newClient(t, addr, Config{Conns: 8})
	if err := r.Warm(context.Background(), 8); err == nil {
		t.Error("Warm against a closed port succeeded")
	}
}
