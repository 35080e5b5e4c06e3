package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/cmd/internal/engramd"
	"github.com/engram-bench/engram-bench/engine"
)

const exitFail = engramd.ExitFail

// ackLog is what the test's writers know: when each write began and when it
// was acknowledged.
type ackLog struct {
	mu    sync.Mutex
	began map[string]time.Time
	acked map[string]time.Time
}

func (l *ackLog) ackedBefore(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, at := range l.acked {
		if at.Before(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (l *ackLog) begunAfter(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, at := range l.began {
		if at.After(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

// timedWriters stores memories from n goroutines until stop is closed, the
// server goes away or 20 s pass.
func timedWriters(url string, n int, log *ackLog, stop <-chan struct{}) func() {
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"id":%q,"content":"content of %s","embedding":[%d,1,0.5,0.25,0,0,0,%d]}`, id, id, w+1, i+1)
				log.mu.Lock()
				log.began[id] = time.Now()
				log.mu.Unlock()
				resp, err := c.Post(url+"/api/v1/memories/remember", "application/json", strings.NewReader(body))
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					log.mu.Lock()
					log.acked[id] = time.Now()
					log.mu.Unlock()
				}
			}
		}()
	}
	return wg.Wait
}

func postBackup(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url+"/api/v1/admin/backup", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("backup %s: %d %s", body, resp.StatusCode, b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// TestOnlineBackupDisasterRestore is the drill in miniature on the real
// binary: 8 writers load engramd; a full and two incremental backups are
// taken over HTTP while they write; the process is killed and its data
// directory deleted; `engramd restore` restores the chain into a new
// directory and a new engramd serves it. Every memory acknowledged before
// the last backup began is there with its content, and no memory whose
// write began after its checkpoint is.
func TestOnlineBackupDisasterRestore(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	p := startEngramd(t, "--data", data, "--dim", "8", "--backup-dir", filepath.Join(root, "backups"))
	log := &ackLog{began: map[string]time.Time{}, acked: map[string]time.Time{}}
	stop := make(chan struct{})
	wait := timedWriters(p.url, 8, log, stop)
	var last map[string]any
	var lastStart time.Time
	for i, body := range []string{`{"mode":"full"}`, `{"mode":"incremental"}`, `{"mode":"incremental"}`} {
		time.Sleep(300 * time.Millisecond)
		lastStart = time.Now()
		last = postBackup(t, p.url, body)
		if want := []string{"full", "incremental", "incremental"}[i]; last["kind"] != want {
			t.Fatalf("backup %d is %v, want %s", i, last["kind"], want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	// The disaster: the process dies and its data directory is gone.
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	close(stop)
	wait()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}

	var from []string
	for _, d := range last["restore_from"].([]any) {
		from = append(from, d.(string))
	}
	restored := filepath.Join(root, "restored")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"restore", "--from", strings.Join(from, ","), "--data", restored}, &out, &errb); code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "verified chain of 3 backups") || !strings.Contains(out.String(), "every SHA-256 matches") {
		t.Errorf("restore said:\n%s", out.String())
	}
	checkpoint, err := time.Parse(time.RFC3339Nano, last["checkpoint_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	want, absent := log.ackedBefore(lastStart), log.begunAfter(checkpoint)
	if len(want) < 50 {
		t.Fatalf("only %d writes acknowledged before the last backup", len(want))
	}
	q := startEngramd(t, "--data", restored, "--dim", "8")
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(id string) (int, string) {
		resp, err := c.Get(q.url + "/api/v1/memories/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Content string }
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.Content
	}
	for _, id := range want {
		if st, content := get(id); st != http.StatusOK || content != "content of "+id {
			t.Errorf("acknowledged before the backup: %s: %d %q", id, st, content)
		}
	}
	for _, id := range absent {
		if st, _ := get(id); st != http.StatusNotFound {
			t.Errorf("written after the backup's checkpoint, yet restored: %s (%d)", id, st)
		}
	}
	t.Logf("%d acknowledged memories restored intact; %d later writes absent", len(want), len(absent))
}

// TestBackupRestoreCLI: the offline backup of a stopped directory restores,
// a running engramd's directory is refused with a pointer to the online
// backup, and broken input gets a clear error and exit code.
func TestBackupRestoreCLI(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	st, err := engine.Open(data, engine.Options{Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := st.Remember(context.Background(), "default", engine.Memory{ID: fmt.Sprint("m", i), Content: "c", Embedding: []float32{1, float32(i), 0, 0, 0, 0, 0, 1}, Confidence: 0.9}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	full := filepath.Join(root, "full")
	inc := filepath.Join(root, "inc")
	for _, args := range [][]string{
		{"backup", "--data", data, "--out", full, "--dim", "8"},
		{"backup", "--data", data, "--out", inc, "--incremental-from", full, "--dim", "8"},
		{"restore", "--from", full + "," + inc, "--dry-run"},
		{"restore", "--from", full + "," + inc, "--data", filepath.Join(root, "restored")},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		t.Logf("%v:\n%s", args[0], out.String())
	}

	startEngramd(t, "--data", data, "--dim", "8") // holds the directory's lock
	corrupt := filepath.Join(root, "corrupt")
	os.MkdirAll(corrupt, 0o755)
	os.WriteFile(filepath.Join(corrupt, "manifest.json"), []byte(`{}`), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"backup of a served directory", []string{"backup", "--data", data, "--out", filepath.Join(root, "x"), "--dim", "8"}, exitFail, "POST /api/v1/admin/backup"},
		{"backup over an existing one", []string{"backup", "--data", data, "--out", full}, exitUsage, "already exists"},
		{"backup without --out", []string{"backup", "--data", data}, exitUsage, "--out: required"},
		{"restore without --from", []string{"restore", "--data", filepath.Join(root, "y")}, exitUsage, "--from: required"},
		{"restore without --data", []string{"restore", "--from", full}, exitUsage, "--data: required"},
		{"restore of the incremental alone", []string{"restore", "--from", inc, "--data", filepath.Join(root, "y")}, exitFail, "engramd: backup refused: backup " + inc + " is incremental #1 of its chain; the chain starts with full backup "},
		{"dry run of the incremental alone", []string{"restore", "--from", inc, "--dry-run"}, exitFail, "engramd: backup refused: backup " + inc + " is incremental #1"},
		{"restore out of order", []string{"restore", "--from", inc + "," + full, "--data", filepath.Join(root, "y")}, exitFail, "engramd: backup refused: backups out of order: give the chain oldest first, the one to restore last: " + full + "," + inc + "\n"},
		{"dry run out of order", []string{"restore", "--from", inc + "," + full, "--dry-run"}, exitFail, "engramd: backup refused: backups out of order: give the chain oldest first, the one to restore last: " + full + "," + inc + "\n"},
		{"dry run of a damaged backup", []string{"restore", "--from", corrupt, "--dry-run"}, exitFail, "engramd: backup refused: "},
		{"restore of a damaged backup", []string{"restore", "--from", corrupt, "--data", filepath.Join(root, "y")}, exitFail, "incomplete: no manifest.sha256"},
		{"restore over data", []string{"restore", "--from", full, "--data", data}, exitFail, "is not empty"},
		{"restore with an extra argument", []string{"restore", "--from", full, "--data", filepath.Join(root, "y"), "now"}, exitUsage, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, want %d; stderr %q lacks %q", code, tc.code, errb.String(), tc.want)
			}
			if strings.Contains(errb.String(), "restore: backup refused") {
				t.Errorf("a refusal prefixed twice: %q", errb.String())
			}
			if _, err := os.Stat(filepath.Join(root, "y")); !os.IsNotExist(err) {
				t.Errorf("a refused restore created its target")
			}
		})
	}
}
