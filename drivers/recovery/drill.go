// Package recovery runs a disaster-recovery drill: load against an engramd the
// harness owns, online backups on a schedule, the data directory destroyed
// at a chosen moment, the newest backup chain restored into a new directory
// and engramd started on it, and then the two numbers operations care about:
//
//   - RTO: from the disaster until the restored server answers /health and
//     the workload is back within its latency and error targets
//     (DrillSpec.StableWindows windows in a row);
//   - RPO: from a read-back of every memory acknowledged before the
//     disaster: which are missing (in memories) and how old the newest
//     survivor was at the disaster (in seconds);
//
// together with the integrity checks: no restored memory is corrupt (its
// content and confidence are what was written; engramd checks its records'
// CRC32C on every read), none acknowledged before the restored backup began
// is missing, and none whose write began after the backup's consistent
// point is present.
//
// It is in the drivers room (it makes load, through drivers.Execute), like
// drivers/compare. In: a Config with a scenario that has a [drill] table.
// Out: a reports.Result with its Drill section, windows and marks, judged
// against [validation] expected_rto_s and expected_rpo_s. Every write of the
// run is spilled to a file (one 40-byte record each) so that memory stays
// constant however long the run; the read-back streams it.
//
// Concurrency: Run owns every goroutine it starts (the backup schedule, the
// disaster and recovery, the read-back workers) and waits for them.
//
// Adding a kind of disaster: give DrillSpec a key naming it, do it in
// disaster (it must leave the data directory unusable and record what it
// destroyed), and add a row to the table test of the drill.
package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sync/errgroup"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Config is one drill. Zero values mean the documented defaults.
type Config struct {
	// Scenario is the workload, with a Drill table and overrides applied.
	Scenario *workloads.Scenario
	Seed     uint64
	// Concurrency is the most ops in flight (default drivers.DefaultConcurrency).
	Concurrency int
	// MaxLag is the harness-limited threshold (default drivers.DefaultMaxLag).
	MaxLag time.Duration
	// Engramd is the argv prefix that runs engramd (its server and its
	// restore subcommand); nil means engramd on PATH.
	Engramd []string
	// EngramdEnv is added to engramd's environment (KEY=VALUE).
	EngramdEnv []string
	// NoSync starts engramd with --sync=false.
	NoSync bool
	// WorkDir holds the drill's data, backups, restored data, write spill and
	// engramd's log. "" means a new temporary directory, removed afterwards
	// unless Keep.
	WorkDir string
	// Keep leaves a temporary WorkDir in place.
	Keep bool
	// DriverOptions are the engram driver's options (--driver-opt).
	DriverOptions map[string]string
	// ReadBackWorkers is how many reads the final check runs at once
	// (default 32).
	ReadBackWorkers int
	// Env describes the machine; copied into the result.
	Env reports.Env
	// Log receives one line per drill event; nil is silent.
	Log io.Writer
	// Live receives every interval as it closes; PreloadProgress the preload.
	Live            func(reports.Tick)
	PreloadProgress func(done, total int64)
	// OnStart, when set, is told the instant measuring will begin, before
	// the first op (drivers.Plan.OnStart): the outputs mark it in a
	// scraped series, so thinning never merges pre-run scrapes into the run.
	OnStart func(measureStart time.Time)

	// beforeRestore, in tests, sees the chains about to be restored (newest
	// first) between the disaster and the restore.
	beforeRestore func(chains [][]string)
}

// Validate checks the config, naming the field at fault.
func (c *Config) Validate() error {
	switch {
	case c.Scenario == nil:
		return errors.New("drill: no scenario")
	case c.Scenario.Drill == nil:
		return fmt.Errorf("drill: scenario %s has no [drill] table", c.Scenario.ID)
	case c.Concurrency < 0:
		return fmt.Errorf("drill: concurrency %d: must be > 0", c.Concurrency)
	case c.ReadBackWorkers < 0:
		return fmt.Errorf("drill: read-back workers %d: must be > 0", c.ReadBackWorkers)
	}
	return nil
}

// ErrNoEngramd is returned (wrapped) when no engramd binary is found.
var ErrNoEngramd = errors.New("no engramd")

// state is what the drill's goroutines record; mu guards it.
type state struct {
	mu       sync.Mutex
	backups  []reports.DrillBackup
	done     []*backupAnswer // backups completed before the disaster, oldest first
	disaster reports.DrillDisaster
	recovery reports.DrillRecovery
	hit      bool      // the disaster happened
	dAt      time.Time // the disaster, wall
	healthy  time.Time // the restored server answered /health
	restored *backupAnswer
}

// backupAnswer is the part of engramd's POST /api/v1/admin/backup answer
// the drill reads.
type backupAnswer struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	Chain        []string       `json:"chain"`
	Dir          string         `json:"dir"`
	StartedAt    time.Time      `json:"started_at"`
	CheckpointAt time.Time      `json:"checkpoint_at"`
	FinishedAt   time.Time      `json:"finished_at"`
	Memories     map[string]int `json:"memories"`
	Files        int            `json:"files"`
	TotalBytes   int64          `json:"total_bytes"`
	CopiedBytes  int64          `json:"copied_bytes"`
	RestoreFrom  []string       `json:"restore_from"`
}

// drill is one running drill.
type drill struct {
	cfg     Config
	sc      *workloads.Scenario
	spec    *workloads.DrillSpec
	engramd []string
	e       *systems.Engramd
	data    string // the live data directory
	backups string
	restore string // where the chain is restored
	logPath string
	spill   *spill
	spaces  map[string]uint32
	st      state
	client  *http.Client

	clock   drivers.RunClock
	measure time.Time        // wall time where measuring began
	winMu   sync.Mutex       // guards trk and lat
	trk     *recoveryTracker // judges each window as it closes, for the RTO
	lat     *hdr.Histogram   // scratch for a window's latency

	logMu sync.Mutex // the backup loop, the recovery and Run all log
}

// logf writes one line to Config.Log, one caller at a time.
func (dr *drill) logf(format string, args ...any) {
	if dr.cfg.Log == nil {
		return
	}
	at := ""
	if !dr.measure.IsZero() {
		at = fmt.Sprintf("%6.1fs ", time.Since(dr.measure).Seconds())
	}
	dr.logMu.Lock()
	defer dr.logMu.Unlock()
	fmt.Fprintf(dr.cfg.Log, "drill: %s"+format+"\n", append([]any{at}, args...)...)
}

// wall is the wall time of run-clock time t.
func (dr *drill) wall(t int64) time.Time { return dr.clock.Zero.Add(time.Duration(t)) }

// secs is t in seconds from the start of measuring.
func (dr *drill) secs(t time.Time) float64 { return t.Sub(dr.measure).Seconds() }

// Run runs the drill and returns its Result. On cancellation it returns
// what it has, marked Partial.
func Run(ctx context.Context, cfg Config) (*reports.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = drivers.DefaultConcurrency
	}
	if cfg.ReadBackWorkers == 0 {
		cfg.ReadBackWorkers = 32
	}
	dr := &drill{cfg: cfg, sc: cfg.Scenario, spec: cfg.Scenario.Drill, spaces: map[string]uint32{}}
	dr.trk, dr.lat = newRecoveryTracker(criteriaOf(dr.sc)), reports.NewHistogram()
	dr.engramd = cfg.Engramd
	if len(dr.engramd) == 0 {
		p, err := exec.LookPath("engramd")
		if err != nil {
			return nil, fmt.Errorf("%w: no engramd on PATH: build it with go build -o bin/engramd ./cmd/engramd and pass --engramd bin/engramd", ErrNoEngramd)
		}
		dr.engramd = []string{p}
	}
	for i, n := range dr.sc.SpaceNames() {
		dr.spaces[n] = uint32(i)
	}
	work := cfg.WorkDir
	removeWork := false // the work directory goes when the drill ends
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "engram-bench-drill-"); err != nil {
			return nil, fmt.Errorf("drill: %w", err)
		}
		if removeWork = !cfg.Keep; removeWork {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("drill: work directory: %w", err)
	}
	if abs, err := filepath.Abs(work); err == nil {
		work = abs // the paths go to engramd and into the result
	}
	dr.data = filepath.Join(work, "data")
	dr.backups = filepath.Join(work, "backups")
	dr.restore = filepath.Join(work, "restored")
	dr.logPath = filepath.Join(work, "engramd.log")
	for _, p := range []string{dr.data, dr.backups, dr.restore} {
		if ents, err := os.ReadDir(p); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("drill: %s is not empty: give the drill a fresh work directory", p)
		}
	}
	timeout := dr.spec.RecoveryTimeout()
	dr.client = &http.Client{Timeout: timeout}
	sp, err := newSpill(filepath.Join(work, "writes.spill"))
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	dr.spill = sp
	defer sp.close()

	dr.logf("starting engramd on %s (backups in %s)", dr.data, dr.backups)
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{
		Command: dr.engramd, Env: cfg.EngramdEnv, DataDir: dr.data, NoSync: cfg.NoSync, Dim: dr.sc.Data.EmbeddingDim,
		Args:    []string{"--backup-dir", dr.backups, "--max-inflight", "-1"},
		LogPath: dr.logPath, ReadyTimeout: timeout,
	})
	if e != nil {
		defer e.Stop(context.Background(), 30*time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	dr.e = e

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(sctx)
	plan := drivers.Plan{
		Scenario:        dr.sc,
		Seed:            cfg.Seed,
		Driver:          "engram",
		DriverConfig:    drivers.Config{Target: e.URL(), Options: cfg.DriverOptions},
		Concurrency:     cfg.Concurrency,
		MaxLag:          cfg.MaxLag,
		Interval:        dr.spec.RecoveryWindow(),
		Env:             cfg.Env,
		PreloadProgress: cfg.PreloadProgress,
		Live:            dr.tick,
		OnStart:         cfg.OnStart,
		Observe:         dr.observe,
		Started: func(c drivers.RunClock) {
			dr.clock = c
			dr.measure = dr.wall(c.MeasureStart)
			dr.logf("measuring: %d backups scheduled, the disaster at %gs", len(dr.spec.Backups()), dr.spec.DisasterAtS)
			g.Go(func() error { return dr.backupLoop(gctx) })
			g.Go(func() error { return dr.disasterAndRecovery(gctx, ctx) })
		},
	}
	res, runErr := drivers.Execute(ctx, plan)
	stop()
	dr.st.mu.Lock()
	waiting := dr.st.hit && dr.st.healthy.IsZero()
	dr.st.mu.Unlock()
	if waiting && runErr == nil {
		dr.logf("the load has ended; waiting for the restored engramd to answer (up to recovery_timeout_s %gs after the disaster) to read the data back", dr.spec.RecoveryTimeoutS)
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("drill: %w", err)
	}
	if runErr != nil {
		switch tail := systems.LogTail(dr.logPath, 8); {
		case errors.Is(runErr, context.Canceled):
			return nil, fmt.Errorf("drill: %w", runErr)
		case !removeWork:
			return nil, fmt.Errorf("drill: %w (engramd's log: %s)", runErr, dr.logPath)
		case tail != "":
			// The log goes with the temporary work directory: quote it.
			return nil, fmt.Errorf("drill: %w\nengramd's last log lines (--drill-dir DIR keeps the whole log):\n%s", runErr, tail)
		}
		return nil, fmt.Errorf("drill: %w", runErr)
	}
	if err := sp.close(); err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	dr.finish(ctx, res)
	return res, nil
}

// tick judges each interval, on the wall clock, for the RTO; the tracker
// keeps a bounded number of them.
func (dr *drill) tick(t reports.Tick) {
	dr.winMu.Lock()
	dr.trk.add(windowOf(t, dr.wall(t.Start), dr.wall(t.End), dr.spec.RecoveryWindow(), dr.lat))
	dr.winMu.Unlock()
	if dr.cfg.Live != nil {
		dr.cfg.Live(t)
	}
}

// observe spills every memory write of the run.
func (dr *drill) observe(_ int, op *workloads.Op, s *reports.Sample) {
	if !op.Kind.WritesMemory() {
		return
	}
	r := writeRecord{Space: dr.spaces[op.Space], Acked: s.Err == "", Conf: op.Confidence, Began: dr.wall(s.Start).UnixNano()}
	if r.Acked {
		r.Ack = dr.wall(s.End).UnixNano()
	}
	if op.Kind == workloads.KindStore {
		r.Key = uint64(op.Key)
		dr.spill.add(r)
		return
	}
	for n := 0; n < op.Count; n++ {
		r.Key = uint64(workloads.MemberKey(op.Index, n))
		dr.spill.add(r)
	}
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// backupLoop takes the scheduled backups, one at a time, until the disaster.
func (dr *drill) backupLoop(ctx context.Context) error {
	disaster := dr.measure.Add(dr.spec.Disaster())
	for _, b := range dr.spec.Backups() {
		due := dr.measure.Add(seconds(b.AtS))
		if !sleepUntil(ctx, due) {
			return nil
		}
		if !time.Now().Before(disaster) {
			return nil
		}
		rec := reports.DrillBackup{Kind: b.Kind, DueS: b.AtS}
		start := time.Now()
		ans, err := dr.takeBackup(ctx, b.Kind)
		end := time.Now()
		rec.StartS, rec.EndS = dr.secs(start), dr.secs(end)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			rec.Error = err.Error()
			dr.logf("%s backup FAILED: %v", b.Kind, err)
		} else {
			rec.ID, rec.ChainLength, rec.Dir = ans.ID, len(ans.Chain), ans.Dir
			rec.StartedAt, rec.CheckpointAt = ans.StartedAt, ans.CheckpointAt
			rec.CheckpointS = dr.secs(ans.CheckpointAt)
			rec.Files, rec.TotalBytes, rec.CopiedBytes = ans.Files, ans.TotalBytes, ans.CopiedBytes
			for _, n := range ans.Memories {
				rec.Memories += n
			}
			dr.logf("%s backup %s: %d memories, %s copied, in %s", b.Kind, ans.ID, rec.Memories, reports.FormatBytes(ans.CopiedBytes), end.Sub(start).Round(time.Millisecond))
		}
		dr.st.mu.Lock()
		dr.st.backups = append(dr.st.backups, rec)
		// A backup that finished after the disaster was of a dying server:
		// it counts only if it completed before.
		if err == nil && end.Before(disaster) {
			dr.st.done = append(dr.st.done, ans)
		}
		dr.st.mu.Unlock()
	}
	return nil
}

// takeBackup asks engramd for an online backup.
func (dr *drill) takeBackup(ctx context.Context, kind string) (*backupAnswer, error) {
	body := fmt.Sprintf(`{"mode":%q}`, kind)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dr.e.URL()+"/api/v1/admin/backup", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := dr.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST /api/v1/admin/backup: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var a backupAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("POST /api/v1/admin/backup: answer: %w", err)
	}
	if len(a.RestoreFrom) != len(a.Chain) || len(a.Chain) == 0 {
		return nil, fmt.Errorf("POST /api/v1/admin/backup: answer names a chain of %d but %d directories", len(a.Chain), len(a.RestoreFrom))
	}
	return &a, nil
}

// disasterAndRecovery destroys the data at the scheduled moment (unless
// run ends first), then restores the newest chain and starts engramd on
// it. The recovery follows ctx, not run: a restore or a restart that
// outlasts the load still completes (within the recovery timeout), so the
// restored data is read back and the RPO measured even when the RTO was
// not reached within the run.
func (dr *drill) disasterAndRecovery(run, ctx context.Context) error {
	if !sleepUntil(run, dr.measure.Add(dr.spec.Disaster())) {
		return nil
	}
	// The disaster: the process dies and its data directory is gone.
	at := time.Now()
	size := dirSize(dr.data)
	killErr := dr.e.Kill()
	rmErr := os.RemoveAll(dr.data)
	dr.st.mu.Lock()
	dr.st.hit, dr.st.dAt = true, at
	dr.st.disaster = reports.DrillDisaster{AtS: dr.secs(at), At: at.UTC(), How: "engramd killed (SIGKILL) and its data directory deleted", DataDir: dr.data, DestroyedBytes: size}
	done := append([]*backupAnswer(nil), dr.st.done...)
	dr.st.mu.Unlock()
	if killErr != nil && !errors.Is(killErr, systems.ErrNotRunning) {
		return fmt.Errorf("disaster: kill engramd: %w", killErr)
	}
	if rmErr != nil {
		return fmt.Errorf("disaster: delete %s: %w", dr.data, rmErr)
	}
	dr.logf("DISASTER: engramd killed, %s (%s) deleted", dr.data, reports.FormatBytes(size))

	rec := reports.DrillRecovery{}
	defer func() {
		dr.st.mu.Lock()
		dr.st.recovery.Backup, dr.st.recovery.Chain, dr.st.recovery.BackupAgeS = rec.Backup, rec.Chain, rec.BackupAgeS
		dr.st.recovery.RestoreS, dr.st.recovery.StartS, dr.st.recovery.Error = rec.RestoreS, rec.StartS, rec.Error
		dr.st.recovery.Refused = rec.Refused
		dr.st.mu.Unlock()
	}()
	rctx, cancel := context.WithTimeout(ctx, dr.spec.RecoveryTimeout())
	defer cancel()
	// The newest backup first; when a chain is refused (corrupt, incomplete),
	// the next older one, as an operator would.
	if dr.cfg.beforeRestore != nil {
		var chains [][]string
		for i := len(done) - 1; i >= 0; i-- {
			chains = append(chains, done[i].RestoreFrom)
		}
		dr.cfg.beforeRestore(chains)
	}
	dir := ""
	t0 := time.Now()
	for i := len(done) - 1; i >= 0 && dir == ""; i-- {
		b := done[i]
		out, err := dr.runRestore(rctx, b.RestoreFrom, dr.restore)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			why := strings.TrimPrefix(firstLine(out), "engramd: ")
			if why == "" {
				why = err.Error()
			}
			rec.Refused = append(rec.Refused, b.ID+": "+why)
			dr.logf("restore of %s REFUSED: %s", b.ID, why)
			continue
		}
		dir = dr.restore
		rec.Backup, rec.Chain = b.ID, b.Chain
		rec.BackupAgeS = at.Sub(b.CheckpointAt).Seconds()
		dr.st.mu.Lock()
		dr.st.restored = b
		dr.st.mu.Unlock()
		rec.RestoreS = time.Since(t0).Seconds()
		dr.logf("restored %s (chain of %d, %.1fs old) in %.2fs", b.ID, len(b.Chain), rec.BackupAgeS, rec.RestoreS)
	}
	rec.RestoreS = time.Since(t0).Seconds()
	if dir == "" {
		// Nothing restorable: the service comes back empty.
		dir = filepath.Join(filepath.Dir(dr.restore), "empty")
		rec.Error = "no backup could be restored: engramd restarted on an empty directory"
		if len(done) == 0 {
			rec.Error = "no backup completed before the disaster: engramd restarted on an empty directory"
		}
		dr.logf("%s", rec.Error)
	}
	took, err := dr.e.RestartOn(rctx, dir)
	rec.StartS = took.Seconds()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		rec.Error = strings.TrimPrefix(rec.Error+"; ", "; ") + "engramd did not start on the restored directory: " + err.Error()
		dr.logf("engramd did not start: %v", err)
		return nil
	}
	if _, err := dr.e.WaitHealthy(rctx, dr.spec.RecoveryTimeout()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		rec.Error = strings.TrimPrefix(rec.Error+"; ", "; ") + "the restored engramd never answered /health: " + err.Error()
		return nil
	}
	h := time.Now()
	dr.st.mu.Lock()
	dr.st.healthy = h
	dr.st.mu.Unlock()
	dr.winMu.Lock()
	dr.trk.setHealthy(h) // from now on each window is judged as it closes
	dr.winMu.Unlock()
	dr.logf("healthy: /health answers, %.2fs after the disaster", h.Sub(at).Seconds())
	return nil
}

// runRestore runs `engramd restore --from A,B,... --data dir`.
func (dr *drill) runRestore(ctx context.Context, from []string, dir string) (string, error) {
	args := append(append([]string(nil), dr.engramd[1:]...), "restore", "--from", strings.Join(from, ","), "--data", dir)
	cmd := exec.CommandContext(ctx, dr.engramd[0], args...)
	if len(dr.cfg.EngramdEnv) > 0 {
		cmd.Env = append(os.Environ(), dr.cfg.EngramdEnv...)
	}
	out, err := cmd.CombinedOutput()
	if lf, lerr := os.OpenFile(dr.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); lerr == nil {
		fmt.Fprintf(lf, "$ engramd restore --from %s --data %s\n%s", strings.Join(from, ","), dir, out)
		lf.Close()
	}
	return string(out), err
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
