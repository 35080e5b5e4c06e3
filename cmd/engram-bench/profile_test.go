package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/engram-bench/engram-bench/reports"
)

// startEngramd builds cmd/engramd and starts it on 127.0.0.1:0 with args;
// it returns the server's URL and stops it when the test ends.
func startEngramd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(engramdBin(t), append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	urlc := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		cmd.Wait()
	}()
	select {
	case u := <-urlc:
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("engramd did not start: %s", stderr.String())
		return ""
	}
}

const profileScenario = `
name = "profiled"
[duration]
total_seconds = 3
[arrival]
pattern = "constant"
rate = 400.0
[operations]
store_weight = 1.0
recall_weight = 1.0
[data]
num_nodes = 500
preload = 500
embedding_dim = 8
memory_spaces = 1
embedding_distribution = { type = "clustered", num_clusters = 4, std_dev = 0.1 }
`

// TestProfileEngramd profiles a real engramd under load: every profile kind
// over HTTP, the harness's own beside them; each file parses with the pprof
// package and go tool pprof -top reads it; profile top and diff read them.
func TestProfileEngramd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts engramd")
	}
	url := startEngramd(t, "--dim", "8", "--sync=false", "--mutex-profile-fraction", "5", "--block-profile-rate", "10000")
	dir := t.TempDir()
	sc := filepath.Join(dir, "profiled.toml")
	os.WriteFile(sc, []byte(profileScenario), 0o644)
	out := filepath.Join(dir, "run.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "-s", sc, "--driver", "engram", "--target", url, "--warmup", "0s", "-q", "--max-lag", "1s",
		"--profile", "cpu,heap,allocs,mutex,block,goroutine", "--profile-window", "0s..2s", "--self-profile", "--out", out}, &stdout, &stderr)
	if code != exitPass && code != exitFail && code != exitInvalid {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	res, err := reports.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Profiles) != 9 {
		t.Fatalf("%d profiles, want 6 of engramd and 3 of the harness: %+v", len(res.Profiles), res.Profiles)
	}
	for _, s := range res.Profiles {
		if s.File == "" {
			t.Errorf("%s of the %s: no file (%s)", s.Kind, s.Of, s.Note)
			continue
		}
		path := filepath.Join(dir, s.File)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", s.File, err)
			continue
		}
		if err := p.CheckValid(); err != nil {
			t.Errorf("%s: %v", s.File, err)
		}
		wantOf, wantSrc := "target", url+"/debug/pprof"
		if strings.HasPrefix(s.File, "run.self-") {
			wantOf, wantSrc = "harness", "in-process"
		}
		if s.Of != wantOf || s.Source != wantSrc {
			t.Errorf("%s: of %s from %s, want %s from %s", s.File, s.Of, s.Source, wantOf, wantSrc)
		}
		switch s.Kind {
		case "cpu", "heap", "goroutine":
			if s.Total <= 0 || len(s.Flat) == 0 {
				t.Errorf("%s: total %d, %d functions: want samples", s.File, s.Total, len(s.Flat))
			}
		}
		top, err := exec.Command("go", "tool", "pprof", "-top", path).CombinedOutput()
		if err != nil || !strings.Contains(string(top), "flat%") {
			t.Errorf("go tool pprof -top %s: %v\n%s", s.File, err, top)
		}
	}
	if !strings.Contains(stdout.String(), "profiles") || !strings.Contains(stdout.String(), "cpu of the target") {
		t.Errorf("the text report lists no profiles:\n%s", stdout.String())
	}

	// profile top and diff read them.
	cpu, self := filepath.Join(dir, "run.cpu.pb.gz"), filepath.Join(dir, "run.self-cpu.pb.gz")
	stdout.Reset()
	if code := run(context.Background(), []string{"profile", "top", cpu, "-n", "5"}, &stdout, &stderr); code != exitPass || !strings.Contains(stdout.String(), "flat%") {
		t.Errorf("profile top: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	diff := filepath.Join(dir, "diff.pb.gz")
	if code := run(context.Background(), []string{"profile", "diff", self, cpu, "--out", diff}, &stdout, &stderr); code != exitPass || !strings.Contains(stdout.String(), "grew") {
		t.Errorf("profile diff: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if top, err := exec.Command("go", "tool", "pprof", "-top", diff).CombinedOutput(); err != nil {
		t.Errorf("go tool pprof -top on the diff: %v\n%s", err, top)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"profile", "diff", cpu, filepath.Join(dir, "run.heap.pb.gz")}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "not the same kind of profile") {
		t.Errorf("cpu vs heap: exit %d %s", code, stderr.String())
	}
}
