package disk

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// ErrInjected is the error of every injected I/O failure (pebble's
// errorfs.ErrInjected, so errors.Is finds it through pebble's wrapping).
var ErrInjected = errorfs.ErrInjected

// FS is a pebble vfs.FS that injects disk faults, switchable at run time:
// the engine opens its store on it (engine.Options.FS) and chaos sets and
// clears a Spec while it runs. With no fault set it passes everything
// through at the cost of one atomic load per operation.
//
// Concurrency: safe for concurrent use.
type FS struct {
	vfs.FS // errorfs over the base FS, with FS as its injector
	cur    atomic.Pointer[active]
	// lie is the ModeLie spec files are created with (nil: none).
	lie     atomic.Pointer[Spec]
	injects atomic.Int64
	delays  atomic.Int64
}

type active struct {
	spec Spec
	ops  [3]bool // read, write, sync
	mu   sync.Mutex
	rng  *rand.Rand
}

// New wraps base (nil: the OS file system).
func New(base vfs.FS) *FS {
	if base == nil {
		base = vfs.Default
	}
	f := &FS{}
	f.FS = errorfs.Wrap(base, injector{f})
	return f
}

// Set makes s the active fault (ModeLie applies to files created from now on).
func (f *FS) Set(s Spec) {
	if s.Mode == ModeLie {
		f.lie.Store(&s)
		return
	}
	a := &active{spec: s, rng: rand.New(rand.NewPCG(s.Seed, 0x9e3779b97f4a7c15))}
	for _, o := range s.Ops {
		switch o {
		case OpRead:
			a.ops[0] = true
		case OpWrite:
			a.ops[1] = true
		case OpSync:
			a.ops[2] = true
		}
	}
	f.cur.Store(a)
}

// Clear heals: no more errors or delays (lying files already created keep lying).
func (f *FS) Clear() { f.cur.Store(nil) }

// Active returns the active fault, if any.
func (f *FS) Active() (Spec, bool) {
	if a := f.cur.Load(); a != nil {
		return a.spec, true
	}
	if l := f.lie.Load(); l != nil {
		return *l, true
	}
	return Spec{}, false
}

// Injected counts the errors injected so far; Delayed the delayed ops.
func (f *FS) Injected() int64 { return f.injects.Load() }

// Delayed counts the operations delayed so far.
func (f *FS) Delayed() int64 { return f.delays.Load() }

type injector struct{ f *FS }

func (i injector) String() string {
	if s, ok := i.f.Active(); ok {
		return s.String()
	}
	return "none"
}

func opClass(k errorfs.OpKind) int {
	switch k {
	case errorfs.OpFileRead, errorfs.OpFileReadAt, errorfs.OpOpen:
		return 0
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpCreate, errorfs.OpFilePreallocate, errorfs.OpReuseForWrite:
		return 1
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFileFlush:
		return 2
	}
	return -1
}

func fileMatch(files, path string) bool {
	switch files {
	case FilesWAL:
		return strings.HasSuffix(path, ".log")
	case FilesSST:
		return strings.HasSuffix(path, ".sst")
	case FilesManifest:
		return strings.Contains(path[strings.LastIndexAny(path, `/\`)+1:], "MANIFEST")
	}
	return true
}

// MaybeError implements errorfs.Injector.
func (i injector) MaybeError(op errorfs.Op) error {
	a := i.f.cur.Load()
	if a == nil {
		return nil
	}
	c := opClass(op.Kind)
	if c < 0 || !a.ops[c] || !fileMatch(a.spec.Files, op.Path) {
		return nil
	}
	switch a.spec.Mode {
	case ModeError:
		if a.spec.Prob < 1 {
			a.mu.Lock()
			hit := a.rng.Float64() < a.spec.Prob
			a.mu.Unlock()
			if !hit {
				return nil
			}
		}
		i.f.injects.Add(1)
		return ErrInjected
	case ModeSlow:
		a.mu.Lock()
		d := time.Duration(a.rng.ExpFloat64() * float64(a.spec.Latency))
		a.mu.Unlock()
		d = min(d, 20*a.spec.Latency)
		i.f.delays.Add(1)
		time.Sleep(d)
	}
	return nil
}

// Create implements vfs.FS: a WAL file created while ModeLie is set lies.
func (f *FS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, cat)
	return f.maybeLie(name, file, err)
}

// ReuseForWrite implements vfs.FS (pebble recycles WAL files with it).
func (f *FS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, cat)
	return f.maybeLie(newname, file, err)
}

// Unwrap implements vfs.FS.
func (f *FS) Unwrap() vfs.FS { return f.FS }

func (f *FS) maybeLie(name string, file vfs.File, err error) (vfs.File, error) {
	l := f.lie.Load()
	if err != nil || l == nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return newLyingFile(file, l.Flush), nil
}

// lyingFile holds writes in memory and writes them out every flush
// interval (and at Close); every sync succeeds at once.
type lyingFile struct {
	vfs.File
	mu     sync.Mutex
	buf    []byte
	err    error
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func newLyingFile(f vfs.File, every time.Duration) *lyingFile {
	l := &lyingFile{File: f, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.flush()
			}
		}
	}()
	return l
}

func (l *lyingFile) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 || l.err != nil {
		return
	}
	_, l.err = l.File.Write(l.buf)
	l.buf = l.buf[:0]
}

func (l *lyingFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *lyingFile) Sync() error                    { return nil }
func (l *lyingFile) SyncData() error                { return nil }
func (l *lyingFile) SyncTo(int64) (bool, error)     { return true, nil }
func (l *lyingFile) Preallocate(off, n int64) error { return nil }
func (l *lyingFile) WriteAt(p []byte, off int64) (int, error) {
	l.flush()
	return l.File.WriteAt(p, off)
}

func (l *lyingFile) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.flush()
	if err := l.File.Sync(); err != nil {
		l.File.Close()
		return err
	}
	return l.File.Close()
}

// Handler serves the FS's fault over HTTP, for engramd's admin routes:
//
//	GET    → 200, the active fault's text form, or "none"
//	PUT    → body is a fault's text form: 200 and it is active, or 400
//	DELETE → 200, healed
func Handler(f *FS) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch r.Method {
		case http.MethodGet:
			s, ok := f.Active()
			if !ok {
				io.WriteString(w, "none\n")
				return
			}
			fmt.Fprintf(w, "%s\n", s)
		case http.MethodPut, http.MethodPost:
			b, err := io.ReadAll(io.LimitReader(r.Body, 4096))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s, err := Parse(string(b))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if s.Mode == ModeLie {
				http.Error(w, "disk fault lie: only at start (engramd --unsafe-ack-before-durable)", http.StatusBadRequest)
				return
			}
			f.Set(s)
			fmt.Fprintf(w, "%s\n", s)
		case http.MethodDelete:
			f.Clear()
			io.WriteString(w, "none\n")
		default:
			w.Header().Set("Allow", "GET, PUT, POST, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// AdminPath is where engramd serves Handler when started with --admin.
const AdminPath = "/admin/disk"

// Remote sets (spec non-nil) or clears the disk fault of an engramd started
// with --admin, at base (http://127.0.0.1:port), with apiKey when set.
func Remote(ctx context.Context, base, apiKey string, spec *Spec) error {
	method, body := http.MethodDelete, ""
	if spec != nil {
		method, body = http.MethodPut, spec.String()
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+AdminPath, strings.NewReader(body))
	if err != nil {
		return err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("disk fault at %s: %w", base, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("disk fault at %s: %s not found: start engramd with --admin", base, AdminPath)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("disk fault at %s: %s: %s", base, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
