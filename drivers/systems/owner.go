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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EngramdConfig configures an engramd process the harness owns (see Engramd).
// The zero value of each optional field means its documented default.
type EngramdConfig struct {
	// Command is the argv prefix that runs engramd, before its flags: e.g.
	// ["/usr/local/bin/engramd"] or [os.Args[0], "engramd"] for a harness
	// binary that doubles as engramd. nil means engramd on PATH.
	Command []string
	// Env is added to the process's environment (KEY=VALUE), e.g. the
	// variable that makes a test binary act as engramd.
	Env []string
	// DataDir is the engine's data directory. Required; created if missing.
	DataDir string
	// Addr is the loopback address to listen on. "" picks a free port of
	// 127.0.0.1 once; restarts keep the same address, so clients and proxies
	// find the server again.
	Addr string
	// NoSync starts engramd with --sync=false (acknowledge before fsync).
	NoSync bool
	// Dim is the embedding dimension. 0 means 768.
	Dim int
	// Args are more flags, appended after the ones above (e.g. "--admin").
	Args []string
	// LogPath receives the process's stdout and stderr, appended across
	// restarts. "" means engramd.log beside DataDir.
	LogPath string
	// ReadyTimeout bounds each start's wait for GET /health/alive. 0 means
	// 60 s (a large store replays its data before it listens).
	ReadyTimeout time.Duration
}

// Engramd is one engramd process the harness owns: it starts it on a data
// directory, waits until it answers, and can kill it (SIGKILL), pause and
// resume it (SIGSTOP/SIGCONT), restart it on the same or another directory,
// and stop it (SIGTERM, drain). The process runs in its own process group
// with a parent-death signal, so it never outlives the harness. Chaos drills
// and disaster-recovery drills build on it.
//
// Concurrency: safe for concurrent use; one lifecycle call at a time runs,
// the others wait.
type Engramd struct {
	cfg  EngramdConfig
	url  string
	mu   sync.Mutex
	srv  *server // nil when not started
	data string
	// paused is set between Pause and Resume.
	paused bool
	starts int
}

// ErrNotRunning is returned by signals sent to an engramd that is not running.
var ErrNotRunning = errors.New("engramd is not running")

// StartError is a start that failed: engramd exited before it answered (a
// store it refused to open, say) or did not answer in time. Log is the tail
// of its output, which names the reason.
type StartError struct {
	DataDir string
	Exited  bool   // the process exited (else: it did not answer in time)
	Log     string // last lines of its output
	Err     error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("engramd on %s: %v", e.DataDir, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// OwnEngramd starts engramd as cfg says and waits until GET /health/alive
// answers 200. The caller must Stop it (Stop is safe after any failure).
func OwnEngramd(ctx context.Context, cfg EngramdConfig) (*Engramd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("engramd: EngramdConfig.DataDir is required")
	}
	if len(cfg.Command) == 0 {
		command, err := engramdCommand(Options{})
		if err != nil {
			return nil, err
		}
		cfg.Command = command
	}
	if cfg.Dim <= 0 {
		cfg.Dim = 768
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(filepath.Dir(filepath.Clean(cfg.DataDir)), "engramd.log")
	}
	e := &Engramd{cfg: cfg, data: cfg.DataDir}
	if cfg.Addr == "" {
		// A free port of 127.0.0.1, kept for every restart. Another process
		// may take it between here and the listen: retry with a new one.
		var last error
		for attempt := 0; attempt < 3; attempt++ {
			port, err := freePort()
			if err != nil {
				return nil, fmt.Errorf("engramd: %w", err)
			}
			e.cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			e.url = "http://" + e.cfg.Addr
			if last = e.start(ctx, cfg.DataDir); last == nil {
				return e, nil
			}
			var se *StartError
			if !errors.As(last, &se) || !se.Exited || !regexp.MustCompile(`address already in use`).MatchString(se.Log) {
				break
			}
		}
		return e, last
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("engramd: Addr %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("engramd: Addr %q: the harness only starts servers on loopback", cfg.Addr)
	}
	e.url = "http://" + cfg.Addr
	return e, e.start(ctx, cfg.DataDir)
}

// URL is the server's base URL (http://127.0.0.1:port); it stays the same
// across restarts.
func (e *Engramd) URL() string { return e.url }

// Addr is the server's host:port.
func (e *Engramd) Addr() string { return e.cfg.Addr }

// DataDir is the data directory of the current (or last) process.
func (e *Engramd) DataDir() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.data
}

// LogPath is the file the process writes its output to.
func (e *Engramd) LogPath() string { return e.cfg.LogPath }

// Starts counts the processes started so far (1 after OwnEngramd).
func (e *Engramd) Starts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts
}

// PID is the current process id, or 0 when none runs.
func (e *Engramd) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil || !e.srv.alive() {
		return 0
	}
	return e.srv.cmd.Process.Pid
}

// Running reports whether the process is alive (paused counts as alive).
func (e *Engramd) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv != nil && e.srv.alive()
}

// Paused reports whether the process is stopped by Pause.
func (e *Engramd) Paused() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.paused && e.srv != nil && e.srv.alive()
}

// Exited returns a channel closed when the current process exits, and
// whether there is a process at all.
func (e *Engramd) Exited() (<-chan struct{}, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return nil, false
	}
	return e.srv.exited, true
}

// LogTail returns the last lines of the process's output.
func (e *Engramd) LogTail(lines int) string { return tail(e.cfg.LogPath, lines) }

var recoveredRE = regexp.MustCompile(`listening on \S+ \(data .*, (\d+) memories, .*recovered in ([^)\s]+)\)`)

// LastRecovery returns what the latest started process reported on its
// listening line: the memories it loaded and how long opening the store took.
func (e *Engramd) LastRecovery() (memories int, took time.Duration, ok bool) {
	m, _ := e.lastStart()
	if m == nil {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(string(m[1]))
	d, err2 := time.ParseDuration(string(m[2]))
	return n, d, err1 == nil && err2 == nil
}

// lastStart finds the latest started process's listening line in the log:
// its submatches (nil if none) and the log after it.
func (e *Engramd) lastStart() (m [][]byte, after []byte) {
	b, err := os.ReadFile(e.cfg.LogPath)
	if err != nil {
		return nil, nil
	}
	all := recoveredRE.FindAllSubmatchIndex(b, -1)
	if len(all) == 0 {
		return nil, nil
	}
	ix := all[len(all)-1]
	for i := 0; i < len(ix); i += 2 {
		m = append(m, b[ix[i]:ix[i+1]])
	}
	return m, b[ix[1]:]
}

var indexRE = regexp.MustCompile(`engramd: index: (\d+) memories reused from its snapshot, (\d+) being re-indexed in the background`)

// LastIndexRecovery returns what the latest started process reported about
// its HNSW index on the line after its listening line: the memories whose
// index nodes it reused from the last index snapshot and those it is
// re-indexing in the background. ok is false when the latest process printed
// no such line (it loaded no memories, or has not started yet).
func (e *Engramd) LastIndexRecovery() (reused, reindexed int, ok bool) {
	_, after := e.lastStart()
	m := indexRE.FindSubmatch(after)
	if m == nil {
		return 0, 0, false
	}
	r, err1 := strconv.Atoi(string(m[1]))
	x, err2 := strconv.Atoi(string(m[2]))
	return r, x, err1 == nil && err2 == nil
}

// start launches a process on dir and waits for /health/alive. e.mu must not be held.
func (e *Engramd) start(ctx context.Context, dir string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil && e.srv.alive() {
		return fmt.Errorf("engramd: already running (pid %d)", e.srv.cmd.Process.Pid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("engramd: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(e.cfg.LogPath), 0o755); err != nil {
		return fmt.Errorf("engramd: %w", err)
	}
	syncFlag := "--sync=true"
	if e.cfg.NoSync {
		syncFlag = "--sync=false"
	}
	args := append([]string(nil), e.cfg.Command[1:]...)
	args = append(args, "--addr", e.cfg.Addr, "--data", dir, syncFlag, "--dim", strconv.Itoa(e.cfg.Dim))
	args = append(args, e.cfg.Args...)
	cmd := exec.Command(e.cfg.Command[0], args...)
	if len(e.cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), e.cfg.Env...)
	}
	srv, err := startProcess(cmd, e.cfg.LogPath)
	if err != nil {
		return &StartError{DataDir: dir, Exited: true, Err: err}
	}
	e.srv, e.data, e.paused = srv, dir, false
	e.starts++
	err = waitReady(ctx, srv, e.cfg.ReadyTimeout, func() error { return httpAlive(e.url + "/health/alive") })
	if err != nil {
		exited := !srv.alive()
		if !exited {
			srv.stop(context.Background(), syscall.SIGKILL, time.Second)
		}
		return &StartError{DataDir: dir, Exited: exited, Log: tail(e.cfg.LogPath, 12), Err: err}
	}
	return nil
}

// signal sends sig to the running process.
func (e *Engramd) signal(sig syscall.Signal) error {
	if e.srv == nil || !e.srv.alive() {
		return ErrNotRunning
	}
	if err := e.srv.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("engramd: signal %v: %w", sig, err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is gone: nothing is
// flushed, exactly like a crash or an OOM kill. Killing a stopped process
// is fine (SIGKILL needs no SIGCONT).
func (e *Engramd) Kill() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-e.srv.exited
	e.paused = false
	return nil
}

// Pause stops the process with SIGSTOP: it holds its connections and
// answers nothing, like a process stuck in a long GC pause or a frozen VM.
// It returns once the kernel reports the process stopped (on Linux; up to
// 2 s on a loaded machine).
func (e *Engramd) Pause() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	e.paused = true
	pid := e.srv.cmd.Process.Pid
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, ok := procState(pid); !ok || st == 'T' || st == 't' {
			break
		}
	}
	return nil
}

// procState is the state letter of /proc/<pid>/stat (R, S, T, ...).
func procState(pid int) (byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}

// Resume continues a paused process with SIGCONT.
func (e *Engramd) Resume() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.signal(syscall.SIGCONT); err != nil {
		return err
	}
	e.paused = false
	return nil
}

// Restart starts the process again on its data directory, first killing
// it (SIGKILL) if it still runs, and waits until it answers. It returns
// how long that took, from the exec to the first answer.
func (e *Engramd) Restart(ctx context.Context) (time.Duration, error) {
	return e.RestartOn(ctx, e.DataDir())
}

// RestartOn is Restart on another data directory (a restored backup, a
// copy): the address stays the same.
func (e *Engramd) RestartOn(ctx context.Context, dir string) (time.Duration, error) {
	if e.Running() {
		if err := e.Kill(); err != nil && !errors.Is(err, ErrNotRunning) {
			return 0, err
		}
	}
	t0 := time.Now()
	err := e.start(ctx, dir)
	return time.Since(t0), err
}

// WaitHealthy polls GET /health every 20 ms until it answers 200, the
// process exits, or timeout passes; it returns how long it waited.
func (e *Engramd) WaitHealthy(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	if srv == nil {
		return 0, ErrNotRunning
	}
	err := waitReady(ctx, srv, timeout, func() error { return httpAlive(e.url + "/health") })
	return time.Since(t0), err
}

// Stop ends the process with SIGTERM (engramd drains requests in flight and
// closes its store cleanly), after SIGCONT if it was paused; after grace it
// is killed. The data directory stays. Safe to call when nothing runs.
func (e *Engramd) Stop(ctx context.Context, grace time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil || !e.srv.alive() {
		return nil
	}
	if e.paused {
		e.srv.cmd.Process.Signal(syscall.SIGCONT)
		e.paused = false
	}
	if grace <= 0 {
		grace = 30 * time.Second
	}
	return e.srv.stop(ctx, syscall.SIGTERM, grace)
}

// ExitCode is the current process's exit code once it has exited (−1 for a
// signal), and false while it runs or before any start.
func (e *Engramd) ExitCode() (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil || e.srv.alive() {
		return 0, false
	}
	return e.srv.cmd.ProcessState.ExitCode(), true
}

// Healthy reports whether GET /health answers 200 now.
func (e *Engramd) Healthy() bool { return httpAlive(e.url+"/health") == nil }

// LogTail returns the last n lines of the log at path (at most 4 KiB of
// them), for an error message when the log itself will not outlive the run;
// "" when it cannot be read or is empty.
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const most = 4 << 10
	if st, err := f.Stat(); err == nil && st.Size() > most {
		f.Seek(st.Size()-most, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, most))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
