package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Backups and restores.
//
// A backup is a directory:
//
//	BACKUP/manifest.json    what the backup holds (BackupManifest)
//	BACKUP/manifest.sha256  SHA-256 of manifest.json, hex
//	BACKUP/files/<name>     the pebble files this backup copied
//
// Store.Backup takes it from an open store while it serves: a fresh
// snapshot of every HNSW index changed since its last one is written into
// pebble (so a restore reuses the index instead of rebuilding it), a pebble
// checkpoint (sstables hard-linked, WAL and MANIFEST copied up to a
// consistent point) is staged next to the data, then every file is copied
// into the backup with its SHA-256, so the backup shares no inode with the
// live store. A full backup copies every file. An incremental backup names
// its parent (the previous backup of the chain) and copies only the files
// the parent does not already hold with the same name, size and checksum;
// its manifest still lists every file of the store, each with the id of the
// backup that holds its bytes, so the newest manifest of a chain describes
// the whole store. The backup appears under its final name only when it is
// complete (it is written to BACKUP.partial and renamed).
//
// Restore verifies a chain — the full backup and its incrementals in order —
// completely before it writes anything: every manifest against its
// checksum, the chain's links, the engine's data format, and every file's
// size and SHA-256. Only then does it copy the files into a fresh directory
// beside the target and rename it into place, so a refused or failed restore
// leaves the target untouched.

// BackupFormat names the backup layout this engine writes and reads.
const BackupFormat = "engram-backup/v1"

// DataFormat is the version of the engine's pebble key layout (doc.go). A
// backup records it; Restore refuses a backup of another version.
const DataFormat = formatVersion

// Backup kinds.
const (
	BackupFull        = "full"
	BackupIncremental = "incremental"
)

// Names inside a backup directory.
const (
	backupManifestName = "manifest.json"
	backupSumName      = "manifest.sha256"
	backupFilesDir     = "files"
)

// storeIDKey holds the store's identity, written by its first backup.
var storeIDKey = []byte("!store")

// ErrBackup wraps every reason a backup or a chain of backups is refused
// (corrupt, incomplete, of another store or another engine version).
var ErrBackup = errors.New("backup refused")

// BackupFile is one pebble file of a backed-up store.
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// In is the id of the backup of the chain that holds the file's bytes
	// (this backup's own id when it copied the file).
	In string `json:"in"`
}

// BackupManifest describes one backup: what it holds and where it belongs.
type BackupManifest struct {
	Format string `json:"format"`
	// ID identifies the backup: its UTC start time and a random suffix.
	ID string `json:"id"`
	// Kind is BackupFull or BackupIncremental.
	Kind string `json:"kind"`
	// Parent is the id of the previous backup of the chain (incremental only).
	Parent string `json:"parent,omitempty"`
	// Chain lists the ids of the full backup and every incremental up to and
	// including this one: what a restore of this backup needs, in order.
	Chain []string `json:"chain"`
	// StoreID identifies the backed-up store (random, kept by the store).
	StoreID string `json:"store_id"`
	// DataFormat is the engine's data format version (DataFormat).
	DataFormat int `json:"data_format"`
	// PebbleFormat is pebble's format major version of the files.
	PebbleFormat uint64 `json:"pebble_format"`
	// Dim is the store's embedding dimension.
	Dim int `json:"dim"`
	// EngineVersion is the version of the program that took the backup
	// (BackupOptions.Version), for operators.
	EngineVersion string `json:"engine_version,omitempty"`
	// StartedAt is when the backup began: every write acknowledged before it
	// is in the backup.
	StartedAt time.Time `json:"started_at"`
	// CheckpointAt is when its consistent point was fixed: no write that
	// began after it is in the backup. Writes in between may or may not be.
	CheckpointAt time.Time `json:"checkpoint_at"`
	// FinishedAt is when the backup was complete.
	FinishedAt time.Time `json:"finished_at"`
	// Memories counts the memories of each space when the backup began.
	Memories map[string]int `json:"memories"`
	// Files are every pebble file of the store at the checkpoint.
	Files []BackupFile `json:"files"`
	// TotalBytes is the size of the store's files; CopiedBytes what this
	// backup copied (all of it for a full backup).
	TotalBytes  int64 `json:"total_bytes"`
	CopiedBytes int64 `json:"copied_bytes"`
	// CopiedFiles is how many files this backup copied.
	CopiedFiles int `json:"copied_files"`
}

// Seq is the backup's position in its chain: 0 for the full backup.
func (m *BackupManifest) Seq() int { return len(m.Chain) - 1 }

// MemoryCount is the total number of memories when the backup began.
func (m *BackupManifest) MemoryCount() int {
	n := 0
	for _, c := range m.Memories {
		n += c
	}
	return n
}

// BackupOptions configures Store.Backup.
type BackupOptions struct {
	// Parent is the directory of the previous backup of the chain; "" takes
	// a full backup. The parent must be a complete backup of this store.
	Parent string
	// Staging is where the transient checkpoint is made. It should be on the
	// data directory's file system (its sstables are hard links then) and
	// must not exist. "" means a directory beside out.
	Staging string
	// Version names the program taking the backup (recorded in the manifest).
	Version string
}

// Backup takes a consistent backup of the open store into the directory out,
// which must not exist, while the store keeps serving. Every write
// acknowledged before Backup was called is in it (the WAL is synced first,
// so this holds with NoSync too); no write begun after the returned
// manifest's CheckpointAt is. With o.Parent it takes an incremental backup
// that copies only files the parent does not hold. On error nothing is left
// at out. The backup carries an index snapshot taken just before its
// checkpoint: a restore re-indexes only the writes made in between.
func (s *Store) Backup(ctx context.Context, out string, o BackupOptions) (*BackupManifest, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if out == "" {
		return nil, fmt.Errorf("backup: output directory not set")
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("backup %s: already exists (a backup never overwrites one)", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup %s: %w", out, err)
	}
	m := &BackupManifest{
		Format:        BackupFormat,
		Kind:          BackupFull,
		DataFormat:    DataFormat,
		PebbleFormat:  uint64(s.db.FormatMajorVersion()),
		Dim:           s.dim,
		EngineVersion: o.Version,
		StartedAt:     time.Now().UTC(),
		Memories:      map[string]int{},
	}
	m.ID = newBackupID(m.StartedAt)
	id, err := s.storeID()
	if err != nil {
		return nil, fmt.Errorf("backup: store id: %w", err)
	}
	m.StoreID = id
	// Files of the parent, by name: reused when size and checksum match.
	have := map[string]BackupFile{}
	if o.Parent != "" {
		p, err := ReadBackup(o.Parent)
		if err != nil {
			return nil, fmt.Errorf("backup: parent: %w", err)
		}
		switch {
		case p.StoreID != m.StoreID:
			return nil, fmt.Errorf("backup: parent %s is a backup of store %s, this store is %s: take a full backup", o.Parent, p.StoreID, m.StoreID)
		case p.DataFormat != m.DataFormat:
			return nil, fmt.Errorf("backup: parent %s has data format %d, this store %d: take a full backup", o.Parent, p.DataFormat, m.DataFormat)
		}
		m.Kind, m.Parent = BackupIncremental, p.ID
		m.Chain = append(append([]string(nil), p.Chain...), m.ID)
		for _, f := range p.Files {
			have[f.Name] = f
		}
	} else {
		m.Chain = []string{m.ID}
	}
	for _, sp := range s.Spaces() {
		m.Memories[sp] = s.Count(sp)
	}

	staging := o.Staging
	if staging == "" {
		staging = out + ".staging"
	}
	partial := out + ".partial"
	for _, d := range []string{staging, partial} {
		if _, err := os.Lstat(d); err == nil {
			return nil, fmt.Errorf("backup: %s exists: another backup is running, or one was interrupted (remove it)", d)
		}
	}
	ok := false
	defer func() {
		os.RemoveAll(staging)
		if !ok {
			os.RemoveAll(partial)
		}
	}()
	if err := os.MkdirAll(filepath.Dir(staging), 0o755); err != nil {
		return nil, fmt.Errorf("backup: staging: %w", err)
	}
	// A fresh index snapshot goes into the checkpoint, so a restore
	// reuses the index instead of re-indexing every memory.
	if err := s.snapshotIndexes(ctx); err != nil {
		return nil, fmt.Errorf("backup: index snapshot: %w", err)
	}
	err = s.write(func() error { return s.db.Checkpoint(staging, pebble.WithFlushedWAL()) }, nil)
	if err != nil {
		return nil, fmt.Errorf("backup: checkpoint: %w", err)
	}
	m.CheckpointAt = time.Now().UTC()

	names, err := listFiles(staging)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	files := filepath.Join(partial, backupFilesDir)
	if err := os.MkdirAll(files, 0o755); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		src := filepath.Join(staging, name)
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		f := BackupFile{Name: name, Size: st.Size()}
		if prev, ok := have[name]; ok && prev.Size == f.Size {
			// The parent holds a file of this name and size (an
			// sstable that survived, most often): hash it in place and
			// copy it only if the bytes differ.
			sum, _, err := hashFile(src)
			if err != nil {
				return nil, fmt.Errorf("backup: %w", err)
			}
			if sum == prev.SHA256 {
				f.SHA256, f.In = sum, prev.In
				m.Files = append(m.Files, f)
				m.TotalBytes += f.Size
				continue
			}
		}
		sum, n, err := copyFile(src, filepath.Join(files, name))
		if err != nil {
			return nil, fmt.Errorf("backup: copy %s: %w", name, err)
		}
		f.SHA256, f.Size, f.In = sum, n, m.ID
		m.Files = append(m.Files, f)
		m.TotalBytes += n
		m.CopiedBytes += n
		m.CopiedFiles++
	}
	if err := syncDir(files); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.FinishedAt = time.Now().UTC()
	if err := writeManifest(partial, m); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(partial, out); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	ok = true
	return m, nil
}

// storeID returns the store's identity, creating it on first use.
func (s *Store) storeID() (string, error) {
	v, closer, err := s.db.Get(storeIDKey)
	if err == nil {
		id := string(v)
		closer.Close()
		return id, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return "", err
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := s.write(func() error { return s.db.Set(storeIDKey, []byte(id), pebble.Sync) }, nil); err != nil {
		return "", err
	}
	return id, nil
}

func newBackupID(t time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// listFiles returns the names of the regular files in dir, sorted. A
// checkpoint has no subdirectories.
func listFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		} else {
			return nil, fmt.Errorf("%s: unexpected %s in a checkpoint", filepath.Join(dir, e.Name()), e.Type())
		}
	}
	sort.Strings(names)
	return names, nil
}

// hashFile returns the SHA-256 (hex) and size of a file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyFile copies src to a new file dst, synced, and returns the SHA-256
// (hex) and size of what it copied.
func copyFile(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeManifest writes manifest.json and its checksum into dir, synced.
func writeManifest(dir string, m *BackupManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	sum := sha256.Sum256(b)
	if err := writeSynced(filepath.Join(dir, backupManifestName), b); err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, backupSumName), []byte(hex.EncodeToString(sum[:])+"  "+backupManifestName+"\n")); err != nil {
		return err
	}
	return syncDir(dir)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadBackup reads the manifest of the backup in dir and checks it against
// its checksum, its format and this engine's data format. Errors wrap
// ErrBackup and say what is wrong.
func ReadBackup(dir string) (*BackupManifest, error) {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: backup %s: %s", ErrBackup, dir, fmt.Sprintf(format, args...))
	}
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, perr := os.Stat(dir + ".partial"); perr == nil {
				return nil, refuse("incomplete: only %s.partial exists (the backup was interrupted while it was written)", filepath.Base(dir))
			}
			return nil, refuse("no such directory")
		}
		return nil, refuse("%v", err)
	}
	if !st.IsDir() {
		return nil, refuse("not a directory")
	}
	b, err := os.ReadFile(filepath.Join(dir, backupManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		if strings.HasSuffix(filepath.Clean(dir), ".partial") {
			return nil, refuse("incomplete: no %s (the backup was interrupted while it was written)", backupManifestName)
		}
		return nil, refuse("no %s: not a backup, or an incomplete one", backupManifestName)
	}
	if err != nil {
		return nil, refuse("%v", err)
	}
	sumText, err := os.ReadFile(filepath.Join(dir, backupSumName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, refuse("incomplete: no %s", backupSumName)
		}
		return nil, refuse("%v", err)
	}
	want, _, _ := strings.Cut(strings.TrimSpace(string(sumText)), " ")
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != want {
		return nil, refuse("corrupt: %s does not match its checksum in %s", backupManifestName, backupSumName)
	}
	var m BackupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, refuse("corrupt: %s: %v", backupManifestName, err)
	}
	if m.Format != BackupFormat {
		return nil, refuse("format %q, this engine reads %q", m.Format, BackupFormat)
	}
	if m.DataFormat != DataFormat {
		by := ""
		if m.EngineVersion != "" {
			by = " (taken by " + m.EngineVersion + ")"
		}
		return nil, refuse("engine data format %d%s, this engine reads format %d: restore it with the engine version that took it", m.DataFormat, by, DataFormat)
	}
	pf := pebble.FormatMajorVersion(m.PebbleFormat)
	if pf < pebble.FormatMinSupported || pf > pebble.FormatNewest {
		return nil, refuse("pebble format %d, this engine reads %d to %d: restore it with the engine version that took it", m.PebbleFormat, pebble.FormatMinSupported, pebble.FormatNewest)
	}
	if err := m.check(); err != nil {
		return nil, refuse("corrupt: %s: %v", backupManifestName, err)
	}
	return &m, nil
}

// check validates a manifest's internal consistency.
func (m *BackupManifest) check() error {
	switch {
	case m.ID == "":
		return errors.New("no id")
	case len(m.Chain) == 0 || m.Chain[len(m.Chain)-1] != m.ID:
		return fmt.Errorf("chain %v does not end with the backup's id %s", m.Chain, m.ID)
	case m.Kind == BackupFull && (len(m.Chain) != 1 || m.Parent != ""):
		return errors.New("a full backup with a parent")
	case m.Kind == BackupIncremental && (len(m.Chain) < 2 || m.Parent != m.Chain[len(m.Chain)-2]):
		return fmt.Errorf("incremental backup whose parent %q is not the previous link of its chain %v", m.Parent, m.Chain)
	case m.Kind != BackupFull && m.Kind != BackupIncremental:
		return fmt.Errorf("kind %q", m.Kind)
	}
	inChain := map[string]bool{}
	for _, id := range m.Chain {
		inChain[id] = true
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		switch {
		case f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == "..":
			return fmt.Errorf("file name %q", f.Name)
		case seen[f.Name]:
			return fmt.Errorf("file %s listed twice", f.Name)
		case !inChain[f.In]:
			return fmt.Errorf("file %s is held by backup %q, which is not in the chain", f.Name, f.In)
		case f.Size < 0 || len(f.SHA256) != 64:
			return fmt.Errorf("file %s: bad size or checksum", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// Chain is a verified chain of backups, ready to restore.
type Chain struct {
	// Backups are the chain's manifests, the full backup first; the last is
	// the state a restore produces.
	Backups []*BackupManifest
	// Dirs are their directories, in the same order.
	Dirs []string
	// Files and Bytes count what a restore writes.
	Files int
	Bytes int64
}

// Target is the manifest of the state the chain restores.
func (c *Chain) Target() *BackupManifest { return c.Backups[len(c.Backups)-1] }

// VerifyChain reads the backups in dirs — a full backup, then its
// incrementals in order — and checks that they form one complete chain of
// one store and that every file the newest needs is present with its size
// and SHA-256. It reads every byte and writes nothing. Errors wrap ErrBackup.
func VerifyChain(ctx context.Context, dirs []string) (*Chain, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: no backup given", ErrBackup)
	}
	c := &Chain{Dirs: dirs}
	for _, d := range dirs {
		m, err := ReadBackup(d)
		if err != nil {
			return nil, err
		}
		c.Backups = append(c.Backups, m)
	}
	target := c.Target()
	first := c.Backups[0]
	// Every backup given belongs to the chain of the newest one, but they are
	// not in its order (an incremental before its full backup, or the one to
	// restore not last): say so, with the order to give them in.
	if err := c.checkOrder(); err != nil {
		return nil, err
	}
	if first.Kind != BackupFull {
		return nil, fmt.Errorf("%w: backup %s is incremental #%d of its chain; the chain starts with full backup %s, not given: give it first", ErrBackup, dirs[0], first.Seq(), first.Chain[0])
	}
	dirOf := map[string]string{}
	for i, m := range c.Backups {
		if m.StoreID != target.StoreID {
			return nil, fmt.Errorf("%w: backup %s is of store %s, backup %s of store %s: not one chain", ErrBackup, dirs[i], m.StoreID, dirs[len(dirs)-1], target.StoreID)
		}
		if prev, dup := dirOf[m.ID]; dup {
			return nil, fmt.Errorf("%w: backup %s given twice (%s and %s)", ErrBackup, m.ID, prev, dirs[i])
		}
		if !contains(target.Chain, m.ID) {
			return nil, fmt.Errorf("%w: backup %s (%s) is not part of the chain of %s (%s); give the backups oldest first, the one to restore last", ErrBackup, dirs[i], m.ID, dirs[len(dirs)-1], strings.Join(target.Chain, ", "))
		}
		dirOf[m.ID] = dirs[i]
	}
	for i, id := range target.Chain {
		if _, given := dirOf[id]; !given {
			what := fmt.Sprintf("incremental backup #%d", i)
			if i == 0 {
				what = "full backup"
			}
			return nil, fmt.Errorf("%w: incomplete chain: %s %s is missing (the chain of %s is %s)", ErrBackup, what, id, target.ID, strings.Join(target.Chain, ", "))
		}
		if c.Backups[i].ID != id {
			return nil, fmt.Errorf("%w: backups out of order: give the chain oldest first, the one to restore last: %s", ErrBackup, strings.Join(target.Chain, ", "))
		}
	}
	for i, m := range c.Backups[:len(c.Backups)-1] {
		if !prefix(target.Chain, m.Chain) {
			return nil, fmt.Errorf("%w: backup %s has chain %v, not a prefix of %v", ErrBackup, dirs[i], m.Chain, target.Chain)
		}
	}
	for _, f := range target.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := dirOf[f.In]
		p := filepath.Join(dir, backupFilesDir, f.Name)
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: backup %s: file %s is missing", ErrBackup, dir, f.Name)
			}
			return nil, fmt.Errorf("%w: backup %s: %v", ErrBackup, dir, err)
		}
		if st.Size() != f.Size {
			return nil, fmt.Errorf("%w: backup %s: file %s has %d bytes, the manifest says %d (truncated or corrupt)", ErrBackup, dir, f.Name, st.Size(), f.Size)
		}
		sum, _, err := hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: backup %s: %v", ErrBackup, dir, err)
		}
		if sum != f.SHA256 {
			return nil, fmt.Errorf("%w: backup %s: file %s is corrupt: SHA-256 %s, the manifest says %s", ErrBackup, dir, f.Name, sum[:16], f.SHA256[:16])
		}
		c.Files++
		c.Bytes += f.Size
	}
	return c, nil
}

// checkOrder returns the out-of-order error when every backup of c is a
// link of the newest one's chain, at most once each, but not in the chain's
// order: it names the directories in the order to give them.
func (c *Chain) checkOrder() error {
	newest := c.newest()
	pos := map[string]int{}
	for i, id := range newest.Chain {
		pos[id] = i
	}
	inOrder := true
	seen := map[string]bool{}
	for i, m := range c.Backups {
		p, ok := pos[m.ID]
		if !ok || seen[m.ID] || m.StoreID != newest.StoreID {
			return nil // not one chain, or a backup twice: the checks after say which
		}
		seen[m.ID] = true
		if i > 0 && p < pos[c.Backups[i-1].ID] {
			inOrder = false
		}
	}
	if inOrder {
		return nil
	}
	idx := make([]int, len(c.Backups))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return pos[c.Backups[idx[a]].ID] < pos[c.Backups[idx[b]].ID] })
	ordered := make([]string, len(idx))
	for i, j := range idx {
		ordered[i] = c.Dirs[j]
	}
	return fmt.Errorf("%w: backups out of order: give the chain oldest first, the one to restore last: %s", ErrBackup, strings.Join(ordered, ","))
}

// newest returns the backup with the longest chain.
func (c *Chain) newest() *BackupManifest {
	n := c.Backups[0]
	for _, m := range c.Backups[1:] {
		if len(m.Chain) > len(n.Chain) {
			n = m
		}
	}
	return n
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func prefix(long, short []string) bool {
	if len(short) > len(long) {
		return false
	}
	for i := range short {
		if long[i] != short[i] {
			return false
		}
	}
	return true
}

// RestoreReport says what Restore did.
type RestoreReport struct {
	Chain *Chain
	// Verify is how long checking every checksum took; Copy how long
	// writing the files took.
	Verify, Copy time.Duration
}

// Restore restores the chain of backups in dirs (a full backup, then its
// incrementals in order) into dataDir, which must not exist or be empty.
// It verifies the whole chain first (VerifyChain) and writes nothing if any
// part is missing, corrupt or of another engine version; then it copies the
// files into a new directory beside dataDir, checking every checksum again,
// and renames it into place. On any error dataDir is left as it was.
func Restore(ctx context.Context, dirs []string, dataDir string) (*RestoreReport, error) {
	if dataDir == "" {
		return nil, errors.New("restore: target directory not set")
	}
	if err := checkEmptyTarget(dataDir); err != nil {
		return nil, err
	}
	t0 := time.Now()
	c, err := VerifyChain(ctx, dirs)
	if err != nil {
		return nil, err
	}
	rep := &RestoreReport{Chain: c, Verify: time.Since(t0)}
	t1 := time.Now()
	dirOf := map[string]string{}
	for i, m := range c.Backups {
		dirOf[m.ID] = c.Dirs[i]
	}
	parent := filepath.Dir(filepath.Clean(dataDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restoring-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	for _, f := range c.Target().Files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		src := filepath.Join(dirOf[f.In], backupFilesDir, f.Name)
		sum, n, err := copyFile(src, filepath.Join(tmp, f.Name))
		if err != nil {
			return nil, fmt.Errorf("restore: copy %s: %w", src, err)
		}
		if sum != f.SHA256 || n != f.Size {
			return nil, fmt.Errorf("%w: backup %s: file %s changed while it was restored (SHA-256 %s, the manifest says %s)", ErrBackup, dirOf[f.In], f.Name, sum[:16], f.SHA256[:16])
		}
	}
	if err := syncDir(tmp); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := checkEmptyTarget(dataDir); err != nil {
		return nil, err
	}
	os.Remove(dataDir) // an empty directory, or nothing
	if err := os.Rename(tmp, dataDir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	ok = true
	rep.Copy = time.Since(t1)
	return rep, nil
}

// checkEmptyTarget refuses a restore target that holds anything.
func checkEmptyTarget(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("restore: target %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore: target %s is not empty: a restore writes only into a new or empty directory", dir)
	}
	return nil
}
