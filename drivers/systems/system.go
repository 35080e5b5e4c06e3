package systems

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotInstalled is returned (wrapped) when a server's binaries are missing.
var ErrNotInstalled = errors.New("not installed")

// Options configures how a system is started. The zero value means: data under
// os.TempDir, durable writes, binaries found on the usual paths, logs kept in
// the system's directory only.
type Options struct {
	// TempDir is where the system's fresh directory is created. "" means
	// os.TempDir(). When running as root, PostgreSQL's user must be able to
	// traverse it.
	TempDir string
	// NoSync lets the system acknowledge writes before they reach stable
	// storage (redis appendfsync everysec, postgres synchronous_commit off,
	// the engine's NoSync).
	NoSync bool
	// Bin overrides the server binary (redis-server) or the directory of the
	// server binaries (PostgreSQL's bin directory with initdb and postgres).
	Bin string
	// PostgresUser is the user PostgreSQL runs as when the harness is root.
	// "" means "postgres".
	PostgresUser string
	// Keep leaves the data directory in place after Stop (for inspection).
	Keep bool
	// Dim is the embedding dimension, for servers that need it at start
	// (engramd). 0 means 768.
	Dim int
	// EngramdCommand runs engramd when Bin is empty and there is no
	// engramd on PATH: engram-bench passes itself ([path, "engramd"]),
	// since it contains engramd. nil means no fallback.
	EngramdCommand []string
}

// System is one running system under test.
type System struct {
	// Name is the driver name the system is for ("redis", "postgres", ...).
	Name string
	// Target is what the driver connects to (drivers.Config.Target); "" for
	// an in-process system.
	Target string
	// DataDir is where the system keeps its data: what disk use is measured on.
	DataDir string
	// PID is the process whose memory is measured: the server (with its
	// children, see Tree) or, for an in-process system, this process.
	PID int
	// Tree is set when PID's child processes belong to the system too
	// (PostgreSQL's backends); false measures PID alone.
	Tree bool
	// InProcess is set when the system runs inside the harness process, so
	// its memory includes the harness's own.
	InProcess bool
	// Version names the server and its version ("redis-server 7.0.15").
	Version string
	// Settings lists what matters for comparing it (durability, limits).
	Settings []string

	once    sync.Once
	stop    func(ctx context.Context) error
	stopErr error
}

// Stop shuts the system down and removes its directory (unless Options.Keep).
// Later calls return the first call's error.
func (s *System) Stop(ctx context.Context) error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stopErr = s.stop(ctx)
		}
	})
	return s.stopErr
}

// Launcher starts fresh systems for one driver.
type Launcher struct {
	// Driver is the name of the driver the system is for.
	Driver string
	// Help says what is started, in a few words.
	Help string
	// Start starts a fresh system. The caller must Stop it.
	Start func(ctx context.Context, opts Options) (*System, error)
	// Installed checks, without starting anything, that the system's
	// binaries are there (an error wrapping ErrNotInstalled if not).
	Installed func(opts Options) error
}

var (
	regMu     sync.RWMutex
	launchers = map[string]Launcher{}
)

// Register adds a launcher. A duplicate driver name panics.
func Register(l Launcher) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := launchers[l.Driver]; dup {
		panic("systems: launcher for " + l.Driver + " registered twice")
	}
	launchers[l.Driver] = l
}

// Lookup returns the launcher for a driver name.
func Lookup(driver string) (Launcher, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	l, ok := launchers[driver]
	return l, ok
}

// List returns the registered launchers sorted by driver name.
func List() []Launcher {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Launcher, 0, len(launchers))
	for _, l := range launchers {
		out = append(out, l)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Driver < out[b].Driver })
	return out
}

func init() {
	Register(Launcher{Driver: "embedded", Help: "the engine in-process, fresh data directory", Start: StartEmbedded,
		Installed: func(Options) error { return nil }})
	Register(Launcher{Driver: "redis", Help: "redis-server on 127.0.0.1, AOF in a fresh directory", Start: StartRedis,
		Installed: func(o Options) error { _, err := redisBin(o.Bin); return err }})
	Register(Launcher{Driver: "postgres", Help: "PostgreSQL (initdb + postgres) on 127.0.0.1 in a fresh directory", Start: StartPostgres,
		Installed: func(o Options) error { _, err := postgresBinDir(o.Bin); return err }})
	Register(Launcher{Driver: "engram", Help: "engramd (the engine behind Engram's REST API) on 127.0.0.1 in a fresh directory", Start: StartEngramd,
		Installed: func(o Options) error { _, err := engramdCommand(o); return err }})
}

// StartEmbedded prepares a fresh data directory for the in-process engine.
// The system's memory is this process's.
func StartEmbedded(_ context.Context, opts Options) (*System, error) {
	root, err := os.MkdirTemp(opts.TempDir, "engram-bench-embedded-")
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	s := &System{
		Name:      "embedded",
		DataDir:   filepath.Join(root, "data"),
		PID:       os.Getpid(),
		InProcess: true,
		Version:   "engine (in-process, pebble)",
		Settings:  []string{syncSetting(opts.NoSync, "writes fsynced before acknowledgement (pebble Sync)", "writes acknowledged before fsync (pebble NoSync)")},
	}
	s.stop = func(context.Context) error {
		if opts.Keep {
			return nil
		}
		return os.RemoveAll(root)
	}
	return s, nil
}

func syncSetting(noSync bool, durable, relaxed string) string {
	if noSync {
		return relaxed
	}
	return durable
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// server started on it may still lose a race for it: launchers retry.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is a child server process and its log.
type server struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startProcess starts cmd with stdout and stderr appended to logPath.
func startProcess(cmd *exec.Cmd, logPath string) (*server, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s := &server{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		lf.Close()
		close(s.exited)
	}()
	return s, nil
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends sig, waits up to grace for the process to exit, then kills it.
func (s *server) stop(ctx context.Context, sig os.Signal, grace time.Duration) error {
	if !s.alive() {
		return nil
	}
	if err := s.cmd.Process.Signal(sig); err != nil && s.alive() {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("%s did not stop within %s: killed", filepath.Base(s.cmd.Path), grace)
}

// logTail returns the last lines of the server's log, for error messages.
func (s *server) logTail() string { return tail(s.logPath, 8) }

func tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// waitReady polls ready every 20 ms until it returns nil, the process exits
// or the timeout passes.
func waitReady(ctx context.Context, s *server, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		if !s.alive() {
			return fmt.Errorf("exited before it was ready (%v); log:\n%s", s.waitErr, s.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (%v); log:\n%s", timeout, last, s.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
