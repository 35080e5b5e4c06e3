// Package resource starts the processes that resource faults are made of:
// a ballast that allocates and touches N bytes (memory pressure) and
// spinners that each burn a core (CPU contention). Each is a child process
// of the harness — the harness binary itself, run as a helper — in its own
// process group, killed with the harness (parent-death signal), bounded by
// a maximum lifetime, and killed by Stop.
//
// It belongs to the chaos room. In: sizes and counts. Out: running
// processes and their pids.
//
// Concurrency: a Helper is safe for concurrent use.
//
// Adding a helper: a mode in Main, a constructor beside Ballast and Spin,
// and a test that it starts, does its work and is gone after Stop.
package resource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Helper is one helper process.
type Helper struct {
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Ready is the line a helper prints once it holds what it was asked to.
const Ready = "engram-bench helper ready"

// Ballast starts a process that allocates bytes, writes to every page of
// it (so it is resident, not merely reserved) and holds it for at most
// maxLife. It returns once the memory is touched. command is the argv
// prefix that runs Main (the harness binary and its helper subcommand).
func Ballast(ctx context.Context, command []string, bytes int64, maxLife time.Duration) (*Helper, error) {
	if bytes <= 0 {
		return nil, errors.New("ballast: bytes must be > 0")
	}
	return start(ctx, command, "ballast", strconv.FormatInt(bytes, 10), maxLife.String())
}

// Spin starts a process that keeps one core busy for at most maxLife.
func Spin(ctx context.Context, command []string, maxLife time.Duration) (*Helper, error) {
	return start(ctx, command, "spin", "0", maxLife.String())
}

func start(ctx context.Context, command []string, args ...string) (*Helper, error) {
	if len(command) == 0 {
		return nil, errors.New("resource helper: no command to run the helper with")
	}
	cmd := exec.Command(command[0], append(append([]string(nil), command[1:]...), args...)...)
	cmd.Env = append(os.Environ(), "ENGRAM_BENCH_HELPER=1")
	setProcAttr(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("resource helper %s: %w", args[0], err)
	}
	h := &Helper{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == Ready && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		cmd.Wait()
		close(h.exited)
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-h.exited
			return nil, fmt.Errorf("resource helper %s exited before it was ready: %s", args[0], strings.TrimSpace(stderr.String()))
		}
		return h, nil
	case <-ctx.Done():
		h.Stop()
		return nil, ctx.Err()
	case <-time.After(2 * time.Minute):
		h.Stop()
		return nil, fmt.Errorf("resource helper %s: not ready after 2m", args[0])
	}
}

// PID is the helper's process id.
func (h *Helper) PID() int { return h.cmd.Process.Pid }

// Stop kills the helper and waits until it is gone. Safe to call twice.
func (h *Helper) Stop() {
	h.once.Do(func() {
		h.cmd.Process.Kill()
		<-h.exited
	})
}

// Alive reports whether the helper still runs.
func (h *Helper) Alive() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

type limited struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		q := p[:min(len(p), l.n)]
		l.w.Write(q)
		l.n -= len(q)
	}
	return len(p), nil
}

// IsHelper reports whether this process was started as a helper (the
// harness's main and test mains call Main then).
func IsHelper() bool { return os.Getenv("ENGRAM_BENCH_HELPER") == "1" }

// Main runs a helper: args are "ballast BYTES MAXLIFE" or "spin 0 MAXLIFE".
// It returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintln(stderr, "helper: want MODE N MAXLIFE")
		return 2
	}
	n, err1 := strconv.ParseInt(args[1], 10, 64)
	life, err2 := time.ParseDuration(args[2])
	if err1 != nil || err2 != nil || n < 0 || life <= 0 {
		fmt.Fprintf(stderr, "helper: bad arguments %q\n", args)
		return 2
	}
	deadline := time.Now().Add(life)
	switch args[0] {
	case "ballast":
		b := make([]byte, n)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Fprintln(stdout, Ready)
		time.Sleep(time.Until(deadline))
		runtime.KeepAlive(b)
	case "spin":
		runtime.GOMAXPROCS(1)
		fmt.Fprintln(stdout, Ready)
		x := uint64(1)
		for time.Now().Before(deadline) {
			for i := 0; i < 1<<16; i++ {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		if x == 0 {
			fmt.Fprintln(stdout)
		}
	default:
		fmt.Fprintf(stderr, "helper: unknown mode %q\n", args[0])
		return 2
	}
	return 0
}
