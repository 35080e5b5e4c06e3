package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

// The test binary doubles as engramd: with ENGRAMD_TEST_MAIN=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("ENGRAMD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type proc struct {
	cmd  *exec.Cmd
	url  string
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)

// startEngramd runs engramd as a real subprocess on 127.0.0.1:0.
func startEngramd(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "ENGRAMD_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{p.mu, p.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	urlc := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		cmd.Wait()
	}()
	select {
	case p.url = <-urlc:
	case <-time.After(20 * time.Second):
		t.Fatalf("engramd did not start:\n%s", p.output())
	}
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("engramd did not exit:\n%s", p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// writers stores memories from n goroutines until stop is closed or the
// server stops answering, and returns the ids it got a 201 for.
func writers(url string, n int, stop <-chan struct{}) func() []string {
	log := &ackLog{began: map[string]time.Time{}, acked: map[string]time.Time{}}
	wait := timedWriters(url, n, log, stop)
	return func() []string {
		wait()
		return log.ackedBefore(time.Now())
	}
}

// checkDurable opens the data directory and checks every acknowledged id.
func checkDurable(t *testing.T, dir string, ids []string) {
	t.Helper()
	st, err := engine.Open(dir, engine.Options{Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	for _, id := range ids {
		m, err := st.Get(context.Background(), "default", id)
		if err != nil || m.Content != "content of "+id {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged memory %s: %v", id, err)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged memories lost", lost, len(ids))
	}
	t.Logf("%d acknowledged memories all present", len(ids))
}

// TestSIGTERMDrains: SIGTERM with requests in flight lets them finish,
// loses no acknowledged write and exits 0.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	p := startEngramd(t, "--data", dir, "--dim", "8")
	stop := make(chan struct{})
	wait := writers(p.url, 8, stop)

	// One request is in flight when SIGTERM arrives: its body is held back.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", p.url+"/api/v1/memories/remember", pr)
	req.Header.Set("Content-Type", "application/json")
	held := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- -1
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	pw.Write([]byte(`{"id":"held","content":"content of held",`))
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server is draining now
	pw.Write([]byte(`"embedding":[1,2,3,4,5,6,7,8]}`))
	pw.Close()
	if st := <-held; st != http.StatusCreated {
		t.Fatalf("request in flight at SIGTERM: status %d\n%s", st, p.output())
	}
	acked := wait()
	close(stop)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "stopped cleanly") {
		t.Errorf("no clean stop:\n%s", p.output())
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	checkDurable(t, dir, append(acked, "held"))
}

// TestSIGKILLLosesNoAcknowledgedWrite: in sync mode a 2xx remember is on
// disk, so killing the process mid-load loses none of them.
func TestSIGKILLLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	p := startEngramd(t, "--data", dir, "--dim", "8", "--sync")
	stop := make(chan struct{})
	wait := writers(p.url, 16, stop)
	time.Sleep(500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	acked := wait()
	close(stop)
	p.wait(t)
	if len(acked) == 0 {
		t.Fatalf("no write was acknowledged\n%s", p.output())
	}
	checkDurable(t, dir, acked)
}

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"max inflight", []string{"--max-inflight", "0"}, "--max-inflight 0: must be > 0"},
		{"body limit", []string{"--max-body-bytes", "-1"}, "--max-body-bytes -1: must be > 0"},
		{"dim", []string{"--dim", "0"}, "--dim 0: must be in [1, 65536]"},
		{"timeout", []string{"--read-timeout", "0s"}, "--read-timeout 0s: must be > 0"},
		{"index m", []string{"--index-m", "100"}, "--index-m 100: must be in [2, 85]"},
		{"ef construction", []string{"--index-m", "64", "--ef-construction", "32"}, "--ef-construction 32: must be in [M = 64, 10000]"},
		{"ef search", []string{"--ef-search", "0"}, "--ef-search 0: must be > 0"},
		{"mutex fraction", []string{"--mutex-profile-fraction", "-1"}, "--mutex-profile-fraction -1: must be >= 0"},
		{"block rate", []string{"--block-profile-rate", "-5"}, "--block-profile-rate -5: must be >= 0"},
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"extra argument", []string{"serve"}, `unexpected argument "serve"`},
		{"key file missing", []string{"--api-key-file", "/nonexistent/keys"}, "--api-key-file: open /nonexistent/keys"},
		{"bad address", []string{"--addr", "127.0.0.1:99999", "--data", t.TempDir()}, "--addr: listen tcp: address 99999: invalid port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not contain %q", errb.String(), tc.want)
			}
		})
	}
	bad := t.TempDir() + "/keys"
	os.WriteFile(bad, []byte("not_a_key\n"), 0o600)
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"--api-key-file", bad}, io.Discard, &errb); code != exitUsage || !strings.Contains(errb.String(), bad+":1: key must start with") {
		t.Fatalf("bad key file: %d %s", code, errb.String())
	}
}
