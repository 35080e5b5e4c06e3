package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/engram-bench/engram-bench/engine"
)

// Online backups: POST /api/v1/admin/backup takes a consistent backup of the
// live store into Config.BackupDir/<id> while the server keeps serving (see
// engine.Store.Backup); GET /api/v1/admin/backups lists the backups there and
// the chain to restore the newest. Backups run one at a time.

// Error codes of the backup routes (engramd extensions; a malformed body, a
// bad mode or a parent for a full backup is a 400 BAD_REQUEST).
const (
	// CodeBackupBusy answers a backup request while another backup runs (409).
	CodeBackupBusy = "BACKUP_IN_PROGRESS"
	// CodeBackupRefused answers an incremental backup the backup directory
	// cannot build (409): no complete backup to build on, or a parent whose
	// chain is broken.
	CodeBackupRefused = "BACKUP_REFUSED"
)

// backupContext is the educational_context of the backup routes' errors.
const backupContext = "Online backups copy the live store into the server's --backup-dir while it serves: " +
	`mode "full" copies every file, mode "incremental" only those its parent (the newest complete backup, or "parent": ID) lacks; ` +
	"one backup runs at a time, and with authentication on it needs a key for every memory space."

// withBackupContext gives a backup route's error the backup context (all
// but internal failures, whose default context says they may be retried).
func withBackupContext(err error) error {
	var e *APIError
	if errors.As(err, &e) && e.Context == "" && (e.Status < 500 || e.Status == http.StatusNotImplemented) {
		e.Context = backupContext
	}
	return err
}

// BackupRequest is the body of POST /api/v1/admin/backup (optional).
type BackupRequest struct {
	// Mode is "full" (the default) or "incremental".
	Mode string `json:"mode"`
	// Parent is the id of the backup an incremental builds on; "" means the
	// newest complete backup of this store in the backup directory.
	Parent string `json:"parent"`
}

// BackupResponse answers POST /api/v1/admin/backup: the new backup's
// manifest (without its file list), where it is, and how long it took.
type BackupResponse struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	Parent       string         `json:"parent,omitempty"`
	Chain        []string       `json:"chain"`
	Dir          string         `json:"dir"`
	StartedAt    time.Time      `json:"started_at"`
	CheckpointAt time.Time      `json:"checkpoint_at"`
	FinishedAt   time.Time      `json:"finished_at"`
	DurationMs   float64        `json:"duration_ms"`
	Memories     map[string]int `json:"memories"`
	Files        int            `json:"files"`
	CopiedFiles  int            `json:"copied_files"`
	TotalBytes   int64          `json:"total_bytes"`
	CopiedBytes  int64          `json:"copied_bytes"`
	// RestoreFrom lists the directories of the chain, oldest first: the
	// value of engramd restore --from, joined by commas.
	RestoreFrom []string `json:"restore_from"`
}

// BackupList answers GET /api/v1/admin/backups.
type BackupList struct {
	Dir     string            `json:"dir"`
	Backups []BackupListEntry `json:"backups"`
	// LatestChain is the chain of the newest complete backup, oldest first
	// (engramd restore --from, joined by commas); empty when there is none.
	LatestChain []string `json:"latest_chain"`
}

// BackupListEntry is one directory of the backup directory.
type BackupListEntry struct {
	Dir        string    `json:"dir"`
	ID         string    `json:"id,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Parent     string    `json:"parent,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Memories   int       `json:"memories"`
	TotalBytes int64     `json:"total_bytes"`
	// Error says why the directory is not a usable backup (incomplete,
	// corrupt manifest, another engine version).
	Error string `json:"error,omitempty"`
}

// backups is the server's backup state.
type backups struct {
	mu      sync.Mutex   // held while a backup runs
	running atomic.Int64 // start of the running backup, Unix ns

	total    *prometheus.CounterVec
	duration prometheus.Gauge
	last     prometheus.Gauge
	copied   prometheus.Counter
}

func newBackups(reg *prometheus.Registry) (*backups, error) {
	b := &backups{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engramd_backups_total",
			Help: "Online backups taken, by kind (full, incremental) and result (ok, error).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engramd_backup_last_duration_seconds",
			Help: "How long the last successful backup took.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engramd_backup_last_success_timestamp_seconds",
			Help: "When the last successful backup began (Unix time): the age of the newest restorable point.",
		}),
		copied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "engramd_backup_copied_bytes_total",
			Help: "Bytes copied by online backups.",
		}),
	}
	for _, c := range []prometheus.Collector{b.total, b.duration, b.last, b.copied} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// handleBackup is POST /api/v1/admin/backup.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) error {
	return withBackupContext(s.backup(w, r))
}

// backup takes the backup handleBackup asks for.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	if err := s.adminAllowed(r); err != nil {
		return err
	}
	var req BackupRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	switch req.Mode {
	case "":
		req.Mode = engine.BackupFull
	case engine.BackupFull, engine.BackupIncremental:
	default:
		return badParam("mode", "%q: must be full or incremental", clip(req.Mode))
	}
	if req.Parent != "" && req.Mode != engine.BackupIncremental {
		return badParam("parent", "only an incremental backup has a parent")
	}
	if !s.backups.mu.TryLock() {
		since := time.Unix(0, s.backups.running.Load())
		return &APIError{Status: http.StatusConflict, Code: CodeBackupBusy, RetryAfter: 1,
			Message: fmt.Sprintf("a backup is running (started %s ago); backups run one at a time", time.Since(since).Round(time.Millisecond))}
	}
	defer s.backups.mu.Unlock()
	s.backups.running.Store(time.Now().UnixNano())

	var parentDir string
	if req.Mode == engine.BackupIncremental {
		var err error
		if parentDir, err = s.parentBackup(req.Parent); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.cfg.BackupDir, 0o755); err != nil {
		return fmt.Errorf("backup directory: %w", err)
	}
	start := time.Now()
	name := req.Mode + "-" + start.UTC().Format("20060102T150405.000Z")
	out := filepath.Join(s.cfg.BackupDir, name)
	for i := 2; exists(out) || exists(out+".partial"); i++ {
		out = filepath.Join(s.cfg.BackupDir, fmt.Sprintf("%s-%d", name, i))
	}
	// The backup finishes even if the client goes away: it is consistent
	// and complete or absent, never half there.
	ctx := context.WithoutCancel(r.Context())
	m, err := s.store.Backup(ctx, out, engine.BackupOptions{Parent: parentDir, Staging: s.cfg.BackupStaging, Version: "engramd " + s.cfg.Version})
	if err != nil {
		s.backups.total.WithLabelValues(req.Mode, "error").Inc()
		if errors.Is(err, engine.ErrBackup) {
			return &APIError{Status: http.StatusConflict, Code: CodeBackupRefused, Field: "parent", Message: err.Error()}
		}
		return engineError(err)
	}
	d := time.Since(start)
	s.backups.total.WithLabelValues(m.Kind, "ok").Inc()
	s.backups.duration.Set(d.Seconds())
	s.backups.last.Set(float64(m.StartedAt.UnixNano()) / 1e9)
	s.backups.copied.Add(float64(m.CopiedBytes))
	s.log.Info("backup taken", "id", m.ID, "kind", m.Kind, "dir", out, "files", len(m.Files), "copied_bytes", m.CopiedBytes, "duration", d)
	resp := BackupResponse{
		ID: m.ID, Kind: m.Kind, Parent: m.Parent, Chain: m.Chain, Dir: out,
		StartedAt: m.StartedAt, CheckpointAt: m.CheckpointAt, FinishedAt: m.FinishedAt, DurationMs: float64(d) / 1e6,
		Memories: m.Memories, Files: len(m.Files), CopiedFiles: m.CopiedFiles, TotalBytes: m.TotalBytes, CopiedBytes: m.CopiedBytes,
	}
	list := s.listBackups()
	dirOf := map[string]string{}
	for _, e := range list.Backups {
		if e.ID != "" {
			dirOf[e.ID] = e.Dir
		}
	}
	for _, cid := range m.Chain {
		resp.RestoreFrom = append(resp.RestoreFrom, dirOf[cid])
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// adminAllowed refuses admin routes when backups are off, and to keys
// limited to some memory spaces (a backup holds every space).
func (s *Server) adminAllowed(r *http.Request) error {
	if s.cfg.BackupDir == "" {
		return &APIError{Status: http.StatusNotImplemented, Code: CodeNotImplemented, Message: "backups are off: start engramd with --backup-dir DIR"}
	}
	if k := keyOf(r.Context()); k != nil && k.Spaces != nil {
		return &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("key %s is limited to some memory spaces; backups need a key for every space", k.ID)}
	}
	return nil
}

// parentBackup finds the directory of the backup an incremental builds on.
func (s *Server) parentBackup(id string) (string, error) {
	list := s.listBackups()
	var best *BackupListEntry
	for i := range list.Backups {
		e := &list.Backups[i]
		if e.Error != "" {
			continue
		}
		if id != "" {
			if e.ID == id {
				return e.Dir, nil
			}
			continue
		}
		if best == nil || e.FinishedAt.After(best.FinishedAt) {
			best = e
		}
	}
	if id != "" {
		return "", &APIError{Status: http.StatusNotFound, Code: CodeResourceNotFound, Field: "parent", Message: fmt.Sprintf("parent: no complete backup %q in %s", clip(id), s.cfg.BackupDir)}
	}
	if best == nil {
		return "", &APIError{Status: http.StatusConflict, Code: CodeBackupRefused, Field: "mode", Message: fmt.Sprintf("no complete backup in %s to build an incremental on: take a full backup first", s.cfg.BackupDir)}
	}
	return best.Dir, nil
}

// handleBackups is GET /api/v1/admin/backups.
func (s *Server) handleBackups(w http.ResponseWriter, r *http.Request) error {
	if err := s.adminAllowed(r); err != nil {
		return withBackupContext(err)
	}
	return writeJSON(w, http.StatusOK, s.listBackups())
}

// listBackups reads every backup directory in Config.BackupDir (manifests
// only; a restore verifies the files).
func (s *Server) listBackups() BackupList {
	l := BackupList{Dir: s.cfg.BackupDir, Backups: []BackupListEntry{}, LatestChain: []string{}}
	ents, err := os.ReadDir(s.cfg.BackupDir)
	if err != nil {
		return l
	}
	dirOf := map[string]string{}
	var ms []*engine.BackupManifest
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.cfg.BackupDir, e.Name())
		m, err := engine.ReadBackup(dir)
		if err != nil {
			l.Backups = append(l.Backups, BackupListEntry{Dir: dir, Error: err.Error()})
			continue
		}
		dirOf[m.ID] = dir
		ms = append(ms, m)
		l.Backups = append(l.Backups, BackupListEntry{Dir: dir, ID: m.ID, Kind: m.Kind, Parent: m.Parent, FinishedAt: m.FinishedAt, Memories: m.MemoryCount(), TotalBytes: m.TotalBytes})
	}
	sort.Slice(l.Backups, func(a, b int) bool { return l.Backups[a].Dir < l.Backups[b].Dir })
	// The newest backup whose every link is here.
	sort.Slice(ms, func(a, b int) bool { return ms[a].FinishedAt.After(ms[b].FinishedAt) })
	for _, m := range ms {
		var chain []string
		for _, id := range m.Chain {
			if d, ok := dirOf[id]; ok {
				chain = append(chain, d)
			}
		}
		if len(chain) == len(m.Chain) {
			l.LatestChain = chain
			break
		}
	}
	return l
}
