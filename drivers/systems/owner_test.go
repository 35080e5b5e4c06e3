package systems_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
)

func remember(t *testing.T, url, id string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"content":"content of %s","embedding":[1,0.5,0.25,0.125,0.1,0.2,0.3,0.4],"confidence":0.9}`, id, id)
	resp, err := http.Post(url+"/api/v1/memories/remember", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("remember %s: %s", id, resp.Status)
	}
}

func status(url string) int {
	c := http.Client{Timeout: 300 * time.Millisecond}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The process owner: start, SIGKILL and restart on the same data (the
// acknowledged write survives, the address stays), pause and resume, restart
// on another directory, stop; nothing is left running.
func TestOwnEngramdLifecycle(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	dir := t.TempDir()
	ctx := context.Background()
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{bin}, DataDir: filepath.Join(dir, "a"), Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background(), 5*time.Second) })
	if !strings.HasPrefix(e.URL(), "http://127.0.0.1:") || e.PID() <= 0 || e.Starts() != 1 {
		t.Fatalf("url %s pid %d starts %d", e.URL(), e.PID(), e.Starts())
	}
	remember(t, e.URL(), "m1")
	pid := e.PID()

	if err := e.Kill(); err != nil {
		t.Fatal(err)
	}
	if e.Running() || status(e.URL()+"/health/alive") != 0 {
		t.Fatal("still answering after SIGKILL")
	}
	if err := e.Kill(); !errors.Is(err, systems.ErrNotRunning) {
		t.Errorf("second kill: %v", err)
	}
	took, err := e.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.PID() == pid || took <= 0 {
		t.Errorf("restart: pid %d (was %d), took %s", e.PID(), pid, took)
	}
	if n, _, ok := e.LastRecovery(); !ok || n != 1 {
		t.Errorf("last recovery: %d memories, ok %v; log:\n%s", n, ok, e.LogTail(5))
	}
	if st := status(e.URL() + "/api/v1/memories/m1"); st != 200 {
		t.Errorf("m1 after kill -9 and restart: %d", st)
	}
	// Killed before any index snapshot: its one memory is re-indexed.
	if r, x, ok := e.LastIndexRecovery(); !ok || r != 0 || x != 1 {
		t.Errorf("last index recovery: %d reused, %d re-indexed, ok %v; log:\n%s", r, x, ok, e.LogTail(5))
	}

	if err := e.Pause(); err != nil {
		t.Fatal(err)
	}
	if !e.Paused() || status(e.URL()+"/health/alive") != 0 {
		t.Error("a paused engramd answered")
	}
	if err := e.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitHealthy(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	other := filepath.Join(dir, "b")
	if _, err := e.RestartOn(ctx, other); err != nil {
		t.Fatal(err)
	}
	if e.DataDir() != other || status(e.URL()+"/api/v1/memories/m1") != 404 {
		t.Errorf("on %s m1 is %d, want 404 (a fresh directory)", e.DataDir(), status(e.URL()+"/api/v1/memories/m1"))
	}
	// The empty store prints no index line; the earlier process's is not its.
	if r, x, ok := e.LastIndexRecovery(); ok {
		t.Errorf("index recovery of an empty store: %d reused, %d re-indexed", r, x)
	}

	// Stop a paused process: it is continued, drains and exits 0.
	e.Pause()
	if err := e.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, ok := e.ExitCode(); !ok || code != 0 {
		t.Errorf("exit code %d %v, want a clean 0", code, ok)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Stop removed the data: %v", err)
	}
}

// An engramd that exits before it answers is a StartError with the reason
// from its log.
func TestOwnEngramdStartError(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	e, err := systems.OwnEngramd(context.Background(), systems.EngramdConfig{Command: []string{bin}, DataDir: data, Dim: 8,
		Args: []string{"--max-inflight", "0"}, ReadyTimeout: 10 * time.Second})
	if e != nil {
		defer e.Stop(context.Background(), time.Second)
	}
	var se *systems.StartError
	if !errors.As(err, &se) {
		t.Fatalf("err %v, want a StartError", err)
	}
	if se.DataDir != data || !se.Exited || !strings.Contains(se.Log, "--max-inflight 0") {
		t.Errorf("%+v", se)
	}
	_, err = systems.OwnEngramd(context.Background(), systems.EngramdConfig{Command: []string{bin}, DataDir: filepath.Join(dir, "x"), Addr: "192.0.2.1:80"}) // TEST-NET-1 (RFC 5737): refused before start
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback address: %v", err)
	}
}

func TestLogTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "engramd.log")
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	os.WriteFile(p, []byte(b.String()), 0o644)
	if got := systems.LogTail(p, 3); got != "line 1997\nline 1998\nline 1999" {
		t.Errorf("tail %q", got)
	}
	if got := systems.LogTail(filepath.Join(t.TempDir(), "none.log"), 3); got != "" {
		t.Errorf("a missing log: %q", got)
	}
}
