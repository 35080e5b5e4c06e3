// Package h1 is a minimal HTTP/1.1 client for load generation: keep-alive
// connections in a pool sized to the run's concurrency, requests written as
// prebuilt bytes in one write, and responses parsed in place without
// allocating. It is what the http and engram drivers send with, and it is
// why they cost less CPU per request than net/http (whose client allocates
// ~40 objects per request and runs a reader and a writer goroutine per
// connection).
//
// Semantics: one attempt per request and no hidden retries; a pooled
// connection the server has closed surfaces as an error of kind Reset. A
// connection idle for longer than Config.IdleTimeout is closed and redialled
// before use, so servers' idle timeouts rarely cause such errors. TLS works
// over the same path (no HTTP/2). Informational (1xx) answers are skipped.
//
// Concurrency: a Client is safe for concurrent use; a Response belongs to the
// caller between Do and Release.
package h1

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	// Addr is host:port to connect to. Required.
	Addr string
	// TLS, when set, wraps every connection in TLS with this configuration.
	TLS *tls.Config
	// Conns is how many idle connections the pool keeps (the run's
	// concurrency). Default 64. More may be open at once; extra ones are
	// closed when returned.
	Conns int
	// DialTimeout bounds connecting (and the TLS handshake). Default 5 s.
	DialTimeout time.Duration
	// Timeout bounds one request from write to the end of the response.
	// Default 30 s.
	Timeout time.Duration
	// IdleTimeout: a pooled connection idle longer than this is closed and
	// redialled before use. Default 30 s.
	IdleTimeout time.Duration
	// MaxBodyBytes bounds a kept response body. Default 64 MiB.
	MaxBodyBytes int
}

// Defaults for Config.
const (
	DefaultConns        = 64
	DefaultDialTimeout  = 5 * time.Second
	DefaultTimeout      = 30 * time.Second
	DefaultIdleTimeout  = 30 * time.Second
	DefaultMaxBodyBytes = 64 << 20
	maxHeaderBytes      = 1 << 20
	initialBuf          = 16 << 10
)

// Client sends requests over a pool of keep-alive connections.
//
// Timeouts and cancellation cost nothing per request: instead of setting a
// socket deadline and registering a context callback for every exchange
// (together ~0.4 µs and an allocation), a watchdog goroutine looks at the
// connections in use every watchTick and cuts short those past their
// deadline or whose context is done. A timeout therefore fires up to one
// tick late (1 ms – 50 ms, a twentieth of Timeout).
type Client struct {
	cfg    Config
	dialer net.Dialer
	pool   chan *conn
	// base is the zero of the client's monotonic clock (mono); coarse is
	// that clock as of the watchdog's last tick, good enough for idle
	// times, so that pooling a connection reads no clock.
	base   time.Time
	coarse atomic.Int64

	mu        sync.Mutex
	live      map[*conn]struct{} // every open connection
	watching  bool
	stopWatch chan struct{}
	tick      time.Duration
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("h1: Config.Addr is required")
	}
	if cfg.Conns <= 0 {
		cfg.Conns = DefaultConns
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	tick := min(max(cfg.Timeout/20, time.Millisecond), 50*time.Millisecond)
	return &Client{cfg: cfg, dialer: net.Dialer{Timeout: cfg.DialTimeout}, pool: make(chan *conn, cfg.Conns),
		live: map[*conn]struct{}{}, stopWatch: make(chan struct{}), tick: tick, base: time.Now()}, nil
}

// mono is the client's monotonic clock, ns since base: one clock read
// (time.Now reads two).
func (cl *Client) mono() int64 { return int64(time.Since(cl.base)) }

// now is mono, also stored as the coarse clock.
func (cl *Client) now() int64 {
	t := cl.mono()
	cl.coarse.Store(t)
	return t
}

// watch is the watchdog: every tick it expires exchanges past their
// deadline or cancelled by their context.
func (cl *Client) watch() {
	t := time.NewTicker(cl.tick)
	defer t.Stop()
	for {
		select {
		case <-cl.stopWatch:
			return
		case <-t.C:
		}
		now := cl.now()
		cl.mu.Lock()
		for c := range cl.live {
			c.mu.Lock()
			if c.busy && c.cut == cutNone {
				switch {
				case now > c.deadline:
					c.cut = cutTimeout
				case c.ctx != nil && c.ctx.Err() != nil:
					c.cut = cutCanceled
				}
				if c.cut != cutNone {
					c.nc.SetDeadline(aLongTimeAgo)
				}
			}
			c.mu.Unlock()
		}
		cl.mu.Unlock()
	}
}

// Kind says how a request failed.
type Kind uint8

// Failure kinds.
const (
	KindOther    Kind = iota
	KindTimeout       // no answer within the timeout (or the context's deadline)
	KindRefused       // connection refused
	KindReset         // the connection was reset or closed mid-exchange
	KindProtocol      // the answer is not valid HTTP/1.1
	KindCanceled      // the caller's context was cancelled
)

func (k Kind) String() string {
	return [...]string{"error", "timeout", "refused", "reset", "protocol", "canceled"}[k]
}

// Error is a failed exchange.
type Error struct {
	Kind Kind
	Op   string // "dial", "write", "read"
	Err  error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Response is one answer. Body is only valid until Release.
type Response struct {
	Status int
	// Body is the response body when Do was asked to keep it.
	Body []byte
	// BodyLen is the body's length in bytes (kept or not).
	BodyLen int64
	// RetryAfter is the Retry-After header in seconds, or -1 when absent.
	RetryAfter int
	c          *conn
	client     *Client
}

// Release returns the response's connection to the pool. Call it exactly
// once per successful Do.
func (r *Response) Release() {
	c, cl := r.c, r.client
	r.c = nil
	if c == nil {
		return
	}
	if c.dead {
		c.close()
		return
	}
	c.lastUsed = cl.coarse.Load()
	select {
	case cl.pool <- c:
	default:
		c.close()
	}
}

type conn struct {
	cl     *Client
	nc     net.Conn
	rc     syscall.RawConn // nil for TLS: then plain Write and Read
	readFn func(fd uintptr) bool
	req    []byte // request the next raw read writes first (nil: written)
	rn     int    // result of the last raw read
	rerr   error  // result of the last raw read

	mu       sync.Mutex // guards busy, deadline, ctx, cut (shared with the watchdog)
	busy     bool
	deadline int64 // ns on the client's clock (mono)
	ctx      context.Context
	cut      uint8
	buf      []byte
	r, w     int    // unread bytes are buf[r:w]
	body     []byte // the kept body of the current answer
	lastUsed int64  // when it was last pooled, ns on the client's coarse clock
	dead     bool   // not reusable after this exchange
	resp     Response
}

const (
	cutNone = iota
	cutTimeout
	cutCanceled
)

func (c *conn) close() {
	c.dead = true
	c.nc.Close()
	c.cl.mu.Lock()
	delete(c.cl.live, c)
	c.cl.mu.Unlock()
}

// warmDials is how many connections Warm opens at once: a remote target
// 50 ms away takes 1.6 s for 1,024 connections instead of 51 s.
const warmDials = 32

// Warm opens connections ahead of the run until n are open (at most the
// pool's size), so the first requests do not pay for connecting; up to
// warmDials at once. It returns the first dial error; connections it did
// not open are dialled when a request needs one.
func (cl *Client) Warm(ctx context.Context, n int) error {
	n = min(n, cap(cl.pool))
	cl.mu.Lock()
	want := n - len(cl.live)
	cl.mu.Unlock()
	if want <= 0 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	for range min(want, warmDials) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(want) {
				c, err := cl.dial(ctx)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(want)) // the others stop too
					return
				}
				c.lastUsed = cl.now()
				select {
				case cl.pool <- c:
				default:
					c.close()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Close closes every connection, cutting short exchanges in flight, and
// stops the watchdog.
func (cl *Client) Close() error {
	for {
		select {
		case c := <-cl.pool:
			c.close()
			continue
		default:
		}
		break
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for c := range cl.live {
		c.nc.Close()
	}
	if cl.watching {
		close(cl.stopWatch)
		cl.watching = false
	}
	return nil
}

func (cl *Client) dial(ctx context.Context) (*conn, error) {
	nc, err := cl.dialer.DialContext(ctx, "tcp", cl.cfg.Addr)
	if err != nil {
		return nil, classify("dial", err)
	}
	if cl.cfg.TLS != nil {
		tc := tls.Client(nc, cl.cfg.TLS)
		hctx, cancel := context.WithTimeout(ctx, cl.cfg.DialTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, classify("tls handshake", err)
		}
		nc = tc
	}
	c := &conn{cl: cl, nc: nc, buf: make([]byte, initialBuf)}
	if tc, ok := nc.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			c.rc, c.readFn = rc, c.rawRead
		}
	}
	cl.mu.Lock()
	cl.live[c] = struct{}{}
	if !cl.watching {
		cl.watching = true
		cl.stopWatch = make(chan struct{})
		go cl.watch()
	}
	cl.mu.Unlock()
	return c, nil
}

// checkAfter: a pooled connection idle longer than this is checked before
// use (one non-blocking peek): servers close connections that stay silent
// (Go's net/http after its ReadHeaderTimeout on a fresh one, most after an
// idle timeout), and a request written to such a connection would fail.
const checkAfter = time.Second

// alive reports whether the server has not closed an idle connection (and
// sent nothing unasked): a peek that would block.
func (c *conn) alive() bool {
	if c.rc == nil {
		return true // TLS: no cheap check; a failure surfaces as reset
	}
	ok := false
	var one [1]byte
	err := c.rc.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN
	})
	return err == nil && ok
}

// rawRead is the syscall.RawConn read callback, and the reason for it: a
// request is written from inside the read, after the runtime has armed the
// connection's read readiness, so that the exchange can wait for the answer
// at once instead of first trying a read that would fail with EAGAIN (the
// answer is never there yet). That is one system call less per request —
// write, epoll (shared), read, as wrk does it — and no arming race: an
// answer arriving before the wait still wakes it.
func (c *conn) rawRead(fd uintptr) bool {
	if req := c.req; req != nil {
		c.req = nil
		n, err := sysWrite(int(fd), req)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			n, err = 0, nil
		}
		if err != nil {
			c.rn, c.rerr = 0, classify("write", err)
			return true
		}
		if n < len(req) {
			// The socket buffer is full (a large body): finish with a
			// blocking write, which waits on the runtime's poller.
			if _, err := c.nc.Write(req[n:]); err != nil {
				c.rn, c.rerr = 0, classify("write", err)
				return true
			}
		}
		return false // wait until the answer is readable
	}
	n, err := sysRead(int(fd), c.buf[c.w:])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return false
	}
	if n < 0 {
		n = 0
	}
	if err != nil {
		err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)}
	} else if n == 0 {
		err = io.EOF
	}
	c.rn, c.rerr = n, err
	return true
}

func (cl *Client) get(ctx context.Context) (*conn, error) {
	for {
		select {
		case c := <-cl.pool:
			idle := time.Duration(cl.coarse.Load() - c.lastUsed)
			if idle > cl.cfg.IdleTimeout || (idle > checkAfter && !c.alive()) {
				c.close()
				continue
			}
			return c, nil
		default:
			return cl.dial(ctx)
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// Do writes req (a complete HTTP/1.1 request: request line, headers with
// Host and, for a body, Content-Length, then the body) and reads the answer.
// With keepBody the body is kept in Response.Body; otherwise it is read and
// discarded. head says req is a HEAD request (its answer has no body). On
// success the caller must call Response.Release.
func (cl *Client) Do(ctx context.Context, req []byte, keepBody, head bool) (*Response, error) {
	c, err := cl.get(ctx)
	if err != nil {
		return nil, err
	}
	deadline := cl.mono() + int64(cl.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = min(deadline, int64(d.Sub(cl.base)))
	}
	c.mu.Lock()
	c.busy, c.deadline, c.cut = true, deadline, cutNone
	if ctx.Done() != nil {
		c.ctx = ctx
	}
	c.mu.Unlock()
	resp, err := cl.exchange(c, req, keepBody, head)
	c.mu.Lock()
	cut := c.cut
	c.busy, c.ctx = false, nil
	c.mu.Unlock()
	switch {
	case cut == cutCanceled:
		c.close()
		if err == nil {
			return resp, nil // the answer was complete before the cut landed
		}
		return nil, &Error{Kind: KindCanceled, Op: "read", Err: ctx.Err()}
	case cut == cutTimeout:
		c.close()
		if err == nil {
			return resp, nil
		}
		return nil, &Error{Kind: KindTimeout, Op: "read", Err: fmt.Errorf("no complete answer within %s", cl.cfg.Timeout)}
	case err != nil:
		c.close()
		return nil, err
	}
	return resp, nil
}

func (cl *Client) exchange(c *conn, req []byte, keepBody, head bool) (*Response, error) {
	c.dead = false
	if c.r != c.w {
		// Bytes arrived that no request asked for: the connection is out of step.
		return nil, &Error{Kind: KindProtocol, Op: "read", Err: errors.New("unsolicited bytes on an idle connection")}
	}
	c.r, c.w = 0, 0
	if c.rc != nil {
		c.req = req // written by the first raw read: see rawRead
	} else if _, err := c.nc.Write(req); err != nil {
		return nil, classify("write", err)
	}
	for {
		resp, informational, err := cl.readResponse(c, keepBody, head)
		if err != nil {
			return nil, err
		}
		if !informational {
			if c.r != c.w {
				c.dead = true // extra bytes after the answer
			}
			return resp, nil
		}
	}
}

// fill reads more bytes into the buffer, growing it up to limit.
func (c *conn) fill(limit int) error {
	if c.r > 0 && c.r == c.w {
		c.r, c.w = 0, 0
	}
	if c.w == len(c.buf) {
		if c.r > 0 {
			n := copy(c.buf, c.buf[c.r:c.w])
			c.r, c.w = 0, n
		} else {
			if len(c.buf) >= limit {
				return &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("answer larger than %d bytes", limit)}
			}
			nb := make([]byte, min(2*len(c.buf), limit))
			copy(nb, c.buf[:c.w])
			c.buf = nb
		}
	}
	var n int
	var err error
	if c.rc != nil {
		if err = c.rc.Read(c.readFn); err == nil {
			n, err = c.rn, c.rerr
		}
		if c.req != nil { // the write never happened (closed, or deadline)
			c.req = nil
			if err != nil {
				return classify("write", err)
			}
		}
	} else {
		n, err = c.nc.Read(c.buf[c.w:])
	}
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return classify("read", err)
}

var crlfcrlf = []byte("\r\n\r\n")

func (cl *Client) readResponse(c *conn, keepBody, head bool) (*Response, bool, error) {
	// Header block.
	scan := c.r
	var end int
	for {
		if i := bytes.Index(c.buf[scan:c.w], crlfcrlf); i >= 0 {
			end = scan + i + 4
			break
		}
		scan = max(c.r, c.w-3)
		if c.w-c.r > maxHeaderBytes {
			return nil, false, &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("header block larger than %d bytes", maxHeaderBytes)}
		}
		off := c.r
		if err := c.fill(max(maxHeaderBytes+4, cl.cfg.MaxBodyBytes)); err != nil {
			if c.w == 0 && c.r == 0 {
				var e *Error
				if errors.As(err, &e) && e.Kind == KindOther && errors.Is(err, io.EOF) {
					e.Kind = KindReset
				}
			}
			return nil, false, err
		}
		scan -= off - c.r // the buffer may have moved
		scan = max(scan, c.r)
	}
	hdr := c.buf[c.r:end]
	c.r = end
	// Status line: HTTP/1.x SSS reason
	if len(hdr) < 12 || string(hdr[:7]) != "HTTP/1." || hdr[8] != ' ' || !digit(hdr[9]) || !digit(hdr[10]) || !digit(hdr[11]) {
		return nil, false, &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("malformed status line %q", clip(hdr))}
	}
	status := int(hdr[9]-'0')*100 + int(hdr[10]-'0')*10 + int(hdr[11]-'0')
	if status < 100 {
		return nil, false, &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("malformed status line %q", clip(hdr))}
	}
	http10 := hdr[7] == '0'
	resp := &c.resp
	*resp = Response{Status: status, RetryAfter: -1, c: c, client: cl}
	c.body = c.body[:0]
	contentLength := int64(-1)
	chunked := false
	closeConn := http10
	line := bytes.IndexByte(hdr, '\n') + 1
	for line < len(hdr)-2 {
		eol := bytes.IndexByte(hdr[line:], '\n')
		if eol < 0 {
			break
		}
		h := hdr[line : line+eol]
		line += eol + 1
		if len(h) > 0 && h[len(h)-1] == '\r' {
			h = h[:len(h)-1]
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return nil, false, &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("malformed header line %q", clip(h))}
		}
		name, val := h[:colon], trim(h[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || n < 0 {
				return nil, false, &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("bad Content-Length %q", clip(val))}
			}
			contentLength = n
		case equalFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case equalFold(name, "connection"):
			lv := bytes.ToLower(val)
			if bytes.Contains(lv, []byte("close")) {
				closeConn = true
			} else if bytes.Contains(lv, []byte("keep-alive")) {
				closeConn = false
			}
		case equalFold(name, "retry-after"):
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 {
				resp.RetryAfter = n
			}
		}
	}
	if status >= 100 && status < 200 && status != 101 {
		return nil, true, nil
	}
	if closeConn {
		c.dead = true
	}
	if head || status == 204 || status == 304 || status == 101 {
		return resp, false, nil
	}
	var err error
	switch {
	case chunked:
		err = cl.readChunked(c, resp, keepBody)
	case contentLength >= 0:
		err = cl.readN(c, resp, contentLength, keepBody)
	default:
		c.dead = true
		err = cl.readToEOF(c, resp, keepBody)
	}
	if err != nil {
		return nil, false, err
	}
	if keepBody {
		resp.Body = c.body
	}
	return resp, false, nil
}

// readN reads n body bytes, keeping them in the connection's body buffer
// when keep is set.
func (cl *Client) readN(c *conn, resp *Response, n int64, keep bool) error {
	resp.BodyLen += n
	if keep && int64(len(c.body))+n > int64(cl.cfg.MaxBodyBytes) {
		return &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("body larger than %d bytes", cl.cfg.MaxBodyBytes)}
	}
	for n > 0 {
		avail := int64(c.w - c.r)
		if avail == 0 {
			if err := c.fill(len(c.buf)); err != nil {
				return err
			}
			continue
		}
		take := min(avail, n)
		if keep {
			c.body = append(c.body, c.buf[c.r:c.r+int(take)]...)
		}
		c.r += int(take)
		n -= take
	}
	return nil
}

// line returns the next CRLF-terminated line (without it).
func (c *conn) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.buf[c.r:c.w], '\n'); i >= 0 {
			l := c.buf[c.r : c.r+i]
			c.r += i + 1
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			return l, nil
		}
		if c.w-c.r > 4096 {
			return nil, &Error{Kind: KindProtocol, Op: "read", Err: errors.New("chunk header line longer than 4096 bytes")}
		}
		if err := c.fill(len(c.buf)); err != nil {
			return nil, err
		}
	}
}

func (cl *Client) readChunked(c *conn, resp *Response, keep bool) error {
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, err := strconv.ParseInt(string(trim(l)), 16, 64)
		if err != nil || size < 0 {
			return &Error{Kind: KindProtocol, Op: "read", Err: fmt.Errorf("bad chunk size %q", clip(l))}
		}
		if size == 0 {
			for { // trailers, up to the empty line
				l, err := c.line()
				if err != nil {
					return err
				}
				if len(l) == 0 {
					return nil
				}
			}
		}
		if err := cl.readN(c, resp, size, keep); err != nil {
			return err
		}
		if l, err := c.line(); err != nil || len(l) != 0 {
			if err == nil {
				err = &Error{Kind: KindProtocol, Op: "read", Err: errors.New("chunk not followed by CRLF")}
			}
			return err
		}
	}
}

func (cl *Client) readToEOF(c *conn, resp *Response, keep bool) error {
	for {
		if n := c.w - c.r; n > 0 {
			if err := cl.readN(c, resp, int64(n), keep); err != nil {
				return err
			}
		}
		c.r, c.w = 0, 0
		err := c.fill(len(c.buf))
		var e *Error
		if errors.As(err, &e) && errors.Is(e.Err, io.EOF) {
			if c.w > 0 {
				continue
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func classify(op string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Kind: KindTimeout, Op: op, Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Kind: KindRefused, Op: op, Err: err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return &Error{Kind: KindReset, Op: op, Err: err}
	}
	return &Error{Kind: KindOther, Op: op, Err: err}
}

func digit(b byte) bool { return b >= '0' && b <= '9' }

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares an ASCII header name with a lower-case constant.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
