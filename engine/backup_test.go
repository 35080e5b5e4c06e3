package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog records, for every memory a test writer stored, when its write
// began and when it was acknowledged.
type writeLog struct {
	mu    sync.Mutex
	began map[string]time.Time
	acked map[string]time.Time
}

func (w *writeLog) start(id string) {
	w.mu.Lock()
	w.began[id] = time.Now()
	w.mu.Unlock()
}

func (w *writeLog) ack(id string) {
	w.mu.Lock()
	w.acked[id] = time.Now()
	w.mu.Unlock()
}

// ackedBefore returns the ids acknowledged before t.
func (w *writeLog) ackedBefore(t time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for id, at := range w.acked {
		if at.Before(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

// begunAfter returns the ids whose write began after t.
func (w *writeLog) begunAfter(t time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for id, at := range w.began {
		if at.After(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

// testMemory is memory id's content and embedding, a pure function of id.
func testMemory(id string, dim int) Memory {
	h := sha256.Sum256([]byte(id))
	r := rand.New(rand.NewPCG(uint64(h[0])|uint64(h[1])<<8|uint64(h[2])<<16, uint64(h[3])))
	return Memory{ID: id, Content: "memory " + id + " " + hex.EncodeToString(h[:8]), Embedding: randVec(r, dim), Confidence: 0.9}
}

// startWriters runs n writers storing memories into s until stop is closed
// or each has stored max. It returns a function that waits for them.
func startWriters(t *testing.T, s *Store, n, max int, log *writeLog, stop <-chan struct{}) func() {
	t.Helper()
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < max; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%05d", w, i)
				log.start(id)
				if err := s.Remember(context.Background(), "default", testMemory(id, s.Dim())); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("remember %s: %v", id, err)
					}
					return
				}
				log.ack(id)
			}
		}()
	}
	return wg.Wait
}

// checkRestored opens a restored store and checks that every id of want is
// present with its content and that no id of absent is.
func checkRestored(t *testing.T, dir string, dim int, want, absent []string) {
	t.Helper()
	s := open(t, dir, Options{Dim: dim})
	defer s.Close()
	for _, id := range want {
		m, err := s.Get(ctx, "default", id)
		if err != nil {
			t.Errorf("acknowledged before the backup began, lost after restore: %s: %v", id, err)
			continue
		}
		exp := testMemory(id, dim)
		if m.Content != exp.Content || m.Confidence != exp.Confidence {
			t.Errorf("%s restored as %q (confidence %v), stored %q", id, m.Content, m.Confidence, exp.Content)
		}
	}
	for _, id := range absent {
		if _, err := s.Get(ctx, "default", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s was written after the backup's checkpoint, yet it was restored (%v)", id, err)
		}
	}
}

// TestBackupWhileWritingRestoresEveryAcknowledgedWrite takes a full backup
// and two incrementals while 8 writers store memories, restores each prefix
// of the chain into a new directory, and checks that every memory
// acknowledged before a backup began is in its restore, intact, and that no
// memory whose write began after its checkpoint is.
func TestBackupWhileWritingRestoresEveryAcknowledgedWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noSync bool
	}{
		{"synced writes", false},
		{"nosync writes: the backup syncs the WAL first", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const dim = 16
			root := t.TempDir()
			data := filepath.Join(root, "data")
			s := open(t, data, Options{Dim: dim, NoSync: tc.noSync, SyncInterval: -1})
			log := &writeLog{began: map[string]time.Time{}, acked: map[string]time.Time{}}
			stop := make(chan struct{})
			wait := startWriters(t, s, 8, 1500, log, stop)
			waitFor := func(n int) {
				deadline := time.Now().Add(20 * time.Second)
				for len(log.ackedBefore(time.Now())) < n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
			}

			var dirs []string
			var manifests []*BackupManifest
			var want [][]string
			for i := 0; i < 3; i++ {
				waitFor((i + 1) * 400)
				if err := s.db.Flush(); err != nil { // sstables for incrementals to share
					t.Fatal(err)
				}
				dir := filepath.Join(root, fmt.Sprintf("backup-%d", i))
				o := BackupOptions{Staging: filepath.Join(data, ".backup-staging"), Version: "test"}
				if i > 0 {
					o.Parent = dirs[i-1]
				}
				before := time.Now()
				m, err := s.Backup(ctx, dir, o)
				if err != nil {
					t.Fatalf("backup %d: %v", i, err)
				}
				want = append(want, log.ackedBefore(before))
				dirs = append(dirs, dir)
				manifests = append(manifests, m)
			}
			close(stop)
			wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			if manifests[0].Kind != BackupFull || manifests[1].Kind != BackupIncremental || manifests[2].Parent != manifests[1].ID {
				t.Fatalf("chain: %s, %s (parent %s)", manifests[0].Kind, manifests[1].Kind, manifests[2].Parent)
			}
			if _, err := os.Stat(filepath.Join(data, ".backup-staging")); !os.IsNotExist(err) {
				t.Errorf("staging directory left behind: %v", err)
			}
			for i := range dirs {
				target := filepath.Join(root, fmt.Sprintf("restored-%d", i))
				rep, err := Restore(ctx, dirs[:i+1], target)
				if err != nil {
					t.Fatalf("restore of chain %d: %v", i, err)
				}
				if rep.Chain.Files != len(manifests[i].Files) || rep.Chain.Bytes != manifests[i].TotalBytes {
					t.Errorf("restore %d wrote %d files, %d bytes; the manifest has %d, %d", i, rep.Chain.Files, rep.Chain.Bytes, len(manifests[i].Files), manifests[i].TotalBytes)
				}
				if len(want[i]) < 400*(i+1) {
					t.Fatalf("backup %d: only %d writes acknowledged before it", i, len(want[i]))
				}
				checkRestored(t, target, dim, want[i], log.begunAfter(manifests[i].CheckpointAt))
			}
		})
	}
}

// corruptByte flips one byte in the middle of path.
func corruptByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteManifest edits a backup's manifest and updates its checksum, as a
// backup of another engine version would look.
func rewriteManifest(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, backupManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.MarshalIndent(m, "", "  ")
	sum := sha256.Sum256(b)
	os.WriteFile(filepath.Join(dir, backupManifestName), b, 0o644)
	os.WriteFile(filepath.Join(dir, backupSumName), []byte(hex.EncodeToString(sum[:])+"  manifest.json\n"), 0o644)
}

// copyTree copies a backup directory (so each case damages its own copy).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		_, _, err = copyFile(p, filepath.Join(dst, rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeChain stores memories, flushing between backups, and returns the
// directories of a full backup and two incrementals, the first incremental
// sharing an sstable with the full backup. Should a background compaction
// between the first two backups still merge the full backup's sstables away
// (pebble decides when), the chain is built again in a fresh directory.
func makeChain(t *testing.T, root string) []string {
	t.Helper()
	for try := 0; ; try++ {
		dirs := makeChainOnce(t, filepath.Join(root, fmt.Sprintf("try-%d", try)))
		if sharesSST(t, dirs[0], dirs[1]) || try == 9 {
			return dirs
		}
	}
}

func makeChainOnce(t *testing.T, root string) []string {
	t.Helper()
	data := filepath.Join(root, "data")
	s := open(t, data, Options{Dim: 8})
	defer s.Close()
	var dirs []string
	for i := 0; i < 3; i++ {
		for j := 0; j < 50; j++ {
			id := fmt.Sprintf("b%d-%d", i, j)
			if err := s.Remember(ctx, "default", testMemory(id, 8)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The full backup's memories go to the bottom level, where
			// the next flush does not merge them away.
			if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
				t.Fatal(err)
			}
		}
		o := BackupOptions{}
		if i > 0 {
			o.Parent = dirs[i-1]
		}
		dir := filepath.Join(root, fmt.Sprintf("chain-%d", i))
		if _, err := s.Backup(ctx, dir, o); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// sharesSST reports whether the backup in target needs an sstable held by
// backup holder.
func sharesSST(t *testing.T, holder, target string) bool {
	t.Helper()
	return sharedSST(t, holder, target) != ""
}

// neededSST returns the path of an sstable held by backup holder that a
// restore of the backup in target needs.
func neededSST(t *testing.T, holder, target string) string {
	t.Helper()
	p := sharedSST(t, holder, target)
	if p == "" {
		t.Fatalf("backup %s needs no sstable of %s", target, holder)
	}
	return p
}

// sharedSST is the path of an sstable held by backup holder that the
// backup in target needs, or "".
func sharedSST(t *testing.T, holder, target string) string {
	t.Helper()
	h, err := ReadBackup(holder)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadBackup(target)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.In == h.ID && strings.HasSuffix(f.Name, ".sst") {
			return filepath.Join(holder, backupFilesDir, f.Name)
		}
	}
	return ""
}

// TestRestoreRefusesBrokenChains damages a chain in every way an operator
// meets and checks that Restore refuses it with a clear error and leaves the
// target directory exactly as it was.
func TestRestoreRefusesBrokenChains(t *testing.T) {
	good := makeChain(t, t.TempDir())
	other := makeChain(t, t.TempDir()) // another store
	// The first incremental copied only what the full backup lacked.
	neededSST(t, good[0], good[1])
	if m, _ := ReadBackup(good[1]); m.CopiedFiles >= len(m.Files) {
		t.Errorf("incremental copied %d of %d files", m.CopiedFiles, len(m.Files))
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dirs []string) []string // returns the --from list
		want    string
		backup  bool // the error wraps ErrBackup
		mkEmpty bool // the target exists, empty
	}{
		{"a corrupted sstable in the full backup", func(t *testing.T, d []string) []string {
			corruptByte(t, neededSST(t, d[0], d[1]))
			return d[:2]
		}, "is corrupt: SHA-256", true, false},
		{"a truncated file in an incremental", func(t *testing.T, d []string) []string {
			os.Truncate(neededSST(t, d[2], d[2]), 10)
			return d
		}, "has 10 bytes, the manifest says", true, true},
		{"a file missing from a backup", func(t *testing.T, d []string) []string {
			os.Remove(neededSST(t, d[1], d[1]))
			return d[:2]
		}, "is missing", true, false},
		{"the middle incremental left out", func(t *testing.T, d []string) []string {
			return []string{d[0], d[2]}
		}, "incomplete chain: incremental backup #1", true, false},
		{"the full backup left out", func(t *testing.T, d []string) []string {
			return []string{d[1], d[2]}
		}, "is incremental #1 of its chain", true, false},
		{"backups out of order", func(t *testing.T, d []string) []string {
			return []string{d[0], d[2], d[1]}
		}, "out of order", true, false},
		{"an incremental before its full backup", func(t *testing.T, d []string) []string {
			return []string{d[1], d[0]}
		}, "backups out of order: give the chain oldest first, the one to restore last: ", true, false},
		{"a backup of another engine data format", func(t *testing.T, d []string) []string {
			rewriteManifest(t, d[0], func(m map[string]any) { m["data_format"] = 99; m["engine_version"] = "engramd v9" })
			return d
		}, "engine data format 99 (taken by engramd v9), this engine reads format 2", true, false},
		{"a backup of a newer pebble format", func(t *testing.T, d []string) []string {
			rewriteManifest(t, d[2], func(m map[string]any) { m["pebble_format"] = 9999 })
			return d
		}, "pebble format 9999", true, false},
		{"an edited manifest", func(t *testing.T, d []string) []string {
			p := filepath.Join(d[1], backupManifestName)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"size": `, `"size": 1`, 1)), 0o644)
			return d
		}, "does not match its checksum", true, false},
		{"an interrupted backup (no manifest)", func(t *testing.T, d []string) []string {
			os.Remove(filepath.Join(d[2], backupManifestName))
			return d
		}, "no manifest.json", true, false},
		{"an incremental of another store", func(t *testing.T, d []string) []string {
			return []string{d[0], d[1], other[2]}
		}, "not one chain", true, false},
		{"a target that is not empty", func(t *testing.T, d []string) []string { return d }, "is not empty", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var dirs []string
			for i, d := range good {
				c := filepath.Join(root, fmt.Sprintf("chain-%d", i))
				copyTree(t, d, c)
				dirs = append(dirs, c)
			}
			from := tc.damage(t, dirs)
			target := filepath.Join(root, "target")
			if tc.mkEmpty {
				os.Mkdir(target, 0o755)
			}
			if tc.name == "a target that is not empty" {
				os.Mkdir(target, 0o755)
				os.WriteFile(filepath.Join(target, "precious"), []byte("keep me"), 0o644)
			}
			before := listTree(t, root)
			_, err := Restore(ctx, from, target)
			if err == nil {
				t.Fatal("restore succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if errors.Is(err, ErrBackup) != tc.backup {
				t.Errorf("errors.Is(err, ErrBackup) = %v: %v", !tc.backup, err)
			}
			if after := listTree(t, root); after != before {
				t.Errorf("restore changed the disk although it refused:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	t.Run("the undamaged chain restores", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "target")
		if _, err := Restore(ctx, good, target); err != nil {
			t.Fatal(err)
		}
		s := open(t, target, Options{Dim: 8})
		defer s.Close()
		if n := s.Count("default"); n != 150 {
			t.Errorf("restored %d memories, want 150", n)
		}
	})
}

// listTree lists every file under root with its size and checksum.
func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/\n", rel)
			return nil
		}
		sum, n, _ := hashFile(p)
		fmt.Fprintf(&b, "%s %d %s\n", rel, n, sum[:12])
		return nil
	})
	return b.String()
}

// TestBackupRefusals: a backup never overwrites one, and an incremental
// needs a complete parent of the same store.
func TestBackupRefusals(t *testing.T) {
	root := t.TempDir()
	s := open(t, filepath.Join(root, "data"), Options{Dim: 8})
	defer s.Close()
	if err := s.Remember(ctx, "default", testMemory("x", 8)); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(root, "full")
	if _, err := s.Backup(ctx, full, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	other := makeChain(t, t.TempDir())
	for _, tc := range []struct {
		name, out, parent, want string
	}{
		{"an existing output", full, "", "already exists"},
		{"a parent that is not a backup", filepath.Join(root, "inc"), root, "no manifest.json"},
		{"a parent that does not exist", filepath.Join(root, "inc"), filepath.Join(root, "nope"), "no such directory"},
		{"a parent of another store", filepath.Join(root, "inc"), other[0], "take a full backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Backup(ctx, tc.out, BackupOptions{Parent: tc.parent})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(root, "inc")); !os.IsNotExist(err) {
				t.Errorf("a refused backup left %s", filepath.Join(root, "inc"))
			}
		})
	}
	// The store keeps its identity across a restore, so a restored store
	// continues the chain.
	restored := filepath.Join(root, "restored")
	if _, err := Restore(ctx, []string{full}, restored); err != nil {
		t.Fatal(err)
	}
	r := open(t, restored, Options{Dim: 8})
	defer r.Close()
	m, err := r.Backup(ctx, filepath.Join(root, "after-restore"), BackupOptions{Parent: full})
	if err != nil {
		t.Fatalf("incremental of a restored store: %v", err)
	}
	if m.Seq() != 1 || m.Parent == "" {
		t.Errorf("incremental after restore: seq %d parent %q", m.Seq(), m.Parent)
	}
}

// TestVerifyChainOrder gives a good chain's backups in every wrong order an
// operator might and checks the refusal says what to give instead: the
// directories in order when all of them are there, the full backup when it
// is missing.
func TestVerifyChainOrder(t *testing.T) {
	d := makeChain(t, t.TempDir())
	full, err := ReadBackup(d[0])
	if err != nil {
		t.Fatal(err)
	}
	ordered := func(dirs ...string) string {
		return "backups out of order: give the chain oldest first, the one to restore last: " + strings.Join(dirs, ",")
	}
	for _, tc := range []struct {
		name string
		from []string
		want string // "" for a chain that verifies
	}{
		{"in order", []string{d[0], d[1], d[2]}, ""},
		{"an incremental before its full backup", []string{d[1], d[0]}, ordered(d[0], d[1])},
		{"the chain reversed", []string{d[2], d[1], d[0]}, ordered(d[0], d[1], d[2])},
		{"the last two swapped", []string{d[0], d[2], d[1]}, ordered(d[0], d[1], d[2])},
		{"the full backup last", []string{d[1], d[2], d[0]}, ordered(d[0], d[1], d[2])},
		{"no full backup", []string{d[1], d[2]}, "backup " + d[1] + " is incremental #1 of its chain; the chain starts with full backup " + full.ID + ", not given: give it first"},
		{"an incremental given twice", []string{d[0], d[1], d[1]}, "given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := VerifyChain(context.Background(), tc.from)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Target().ID == "" {
					t.Error("no target")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBackup) {
				t.Fatalf("VerifyChain(%v) = %v, want a refusal saying %q", tc.from, err, tc.want)
			}
		})
	}
}
