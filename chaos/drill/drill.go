// Package drill runs a chaos drill: a measured run with its fault schedule
// injected on the run's own clock, then recovery and the read-back of every
// write. It strings the chaos room together — the schedule (chaos), the
// disk switch, the proxy, the resource helpers, the acknowledged-write
// spill and checker (chaos/check) — around drivers.Execute, and owns every
// process it starts (engramd through drivers/systems, helpers, the proxy):
// all of them are stopped when Run returns, on Ctrl-C and on failure too.
//
// In: a drivers.Plan and the scenario's fault schedule. Out: the run's
// reports.Result with Chaos (faults, windows before/during/after, recovery,
// error budget, read-back) and fault windows, its verdict failed when the
// drill failed.
//
// Targets: with Config.Managed the drill starts engramd on a fresh data
// directory (process, disk, data, network, resource and herd faults all
// apply); with a given loopback --target only network, resource and (when
// the target runs with --admin) disk faults; with the embedded driver disk
// and resource faults.
//
// Concurrency: Run is called once per drill; it is not safe to share a
// Config between concurrent Runs.
package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/engram-bench/engram-bench/chaos"
	"github.com/engram-bench/engram-bench/chaos/check"
	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/chaos/netproxy"
	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Config configures a drill. The zero value of each optional field means
// its documented default.
type Config struct {
	// Plan is the run (scenario, seed, driver, ...). With Managed its
	// driver and target are set by the drill.
	Plan drivers.Plan
	// Faults is the schedule (chaos.FromScenario); it may be empty (a
	// baseline run with the same checks).
	Faults []chaos.Spec
	// Managed starts engramd (with --admin) for the run: the target of the
	// driver "engram", through a proxy when a fault needs one.
	Managed bool
	// EngramdCommand runs engramd (argv prefix); EngramdEnv is added to its
	// environment. Required with Managed.
	EngramdCommand []string
	EngramdEnv     []string
	// EngramdArgs are more engramd flags (e.g. the hidden
	// --unsafe-ack-before-durable of tests).
	EngramdArgs []string
	// NoSync starts engramd with --sync=false.
	NoSync bool
	// Helper runs resource helpers (argv prefix of resource.Main).
	Helper []string
	// WorkDir holds engramd's data, its log and the spill. "": a new
	// temporary directory, removed afterwards unless Keep.
	WorkDir string
	Keep    bool
	// Check reads back every write after recovery. Default true (set
	// NoCheck to skip).
	NoCheck bool
	// RecoverTimeout bounds every wait for health. Default 30 s.
	RecoverTimeout time.Duration
	// ErrorBudget is the share of ops allowed to fail; nil: none.
	ErrorBudget *float64
	// P99TargetMs is the p99 a recovery waits for (0: the scenario's p99
	// target, else twice the p99 before the fault).
	P99TargetMs float64
	// APIKey is sent to a given target (health, admin, read-back).
	APIKey string
	// Log receives progress lines ("engramd up at ..."); nil: none.
	Log io.Writer
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "chaos: "+format+"\n", args...)
	}
}

// Run runs the drill. On Ctrl-C (ctx cancelled) it heals every fault,
// stops everything it started and returns the partial result.
func Run(ctx context.Context, cfg Config) (res *reports.Result, err error) {
	p := cfg.Plan
	if cfg.RecoverTimeout <= 0 {
		cfg.RecoverTimeout = 30 * time.Second
	}
	work := cfg.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "engram-bench-chaos-"); err != nil {
			return nil, err
		}
		if !cfg.Keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	bg := context.WithoutCancel(ctx)

	env := &chaos.Env{Helper: cfg.Helper, Seed: p.Seed}
	var (
		proc       *systems.Engramd
		direct     string // the target itself, not the proxy
		target     string
		health     func(context.Context) error
		targetDesc string
	)
	needProxy := false
	for _, s := range cfg.Faults {
		if k, ok := chaos.LookupKind(s.Kind); ok && k.Needs&chaos.NeedsProxy != 0 {
			needProxy = true
		}
	}
	switch {
	case cfg.Managed:
		if len(cfg.EngramdCommand) == 0 {
			return nil, errors.New("chaos drill: no command to start engramd with")
		}
		args := append([]string{"--admin"}, cfg.EngramdArgs...)
		cfg.logf("starting engramd (data %s)", filepath.Join(work, "data"))
		proc, err = systems.OwnEngramd(ctx, systems.EngramdConfig{Command: cfg.EngramdCommand, Env: cfg.EngramdEnv,
			DataDir: filepath.Join(work, "data"), NoSync: cfg.NoSync, Dim: p.Scenario.Data.EmbeddingDim, Args: args,
			LogPath: filepath.Join(work, "engramd.log")})
		if proc != nil {
			defer func() {
				if serr := proc.Stop(bg, 30*time.Second); serr != nil {
					cfg.logf("stop engramd: %v", serr)
				}
			}()
		}
		if err != nil {
			return nil, fmt.Errorf("chaos drill: %w", err)
		}
		direct = proc.URL()
		env.Process = proc
		env.Disk = chaos.RemoteDisk{URL: direct}
		sync := "sync"
		if cfg.NoSync {
			sync = "no sync"
		}
		log := "log " + proc.LogPath()
		if cfg.WorkDir == "" && !cfg.Keep {
			log = "its log removed with the run's temporary directory: --chaos-dir DIR keeps it"
		}
		targetDesc = fmt.Sprintf("engramd owned by the harness at %s (%s, %s)", direct, sync, log)
		p.Driver = "engram"
	case p.Driver == "engram":
		direct = p.DriverConfig.Target
		if direct == "" {
			direct = "http://127.0.0.1:7432"
		}
		u, perr := url.Parse(direct)
		if perr != nil || !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("chaos drill: --target %q: chaos drills act only on loopback targets", direct)
		}
		env.Disk = chaos.RemoteDisk{URL: direct, APIKey: cfg.APIKey}
		targetDesc = "engramd at " + direct + " (given; process and data faults need the harness's own engramd)"
	case p.Driver == "embedded":
		ld := &lazyDisk{}
		env.Disk = ld
		if p.DriverConfig.Options == nil {
			p.DriverConfig.Options = map[string]string{}
		}
		p.DriverConfig.Options["disk-faults"] = "on"
		if p.DriverConfig.DataDir == "" {
			p.DriverConfig.DataDir = filepath.Join(work, "data")
		}
		prevOpened := p.Opened
		p.Opened = func(d drivers.Driver) {
			if x, ok := d.(interface{ DiskFS() *disk.FS }); ok {
				ld.set(x.DiskFS())
			}
			if x, ok := d.(interface{ Health() error }); ok {
				ld.setHealth(x.Health)
			}
			if prevOpened != nil {
				prevOpened(d)
			}
		}
		targetDesc = "the engine in-process (embedded), data " + p.DriverConfig.DataDir
		health = func(context.Context) error { return ld.health() }
	default:
		return nil, fmt.Errorf("chaos drill: driver %q: chaos needs the engram driver (engramd) or the embedded engine", p.Driver)
	}
	target = direct
	if direct != "" {
		health = func(ctx context.Context) error { return httpOK(ctx, direct+"/health", cfg.APIKey) }
	}
	if needProxy && direct != "" {
		u, _ := url.Parse(direct)
		px, perr := netproxy.New(u.Host)
		if perr != nil {
			return nil, fmt.Errorf("chaos drill: %w", perr)
		}
		defer px.Close()
		env.Proxy = px
		target = px.URL()
		space := p.Scenario.SpaceNames()[0]
		env.Herd = func(ctx context.Context, n int) *reports.HerdStats {
			return herd(ctx, px.URL(), space, cfg.APIKey, n, p.Scenario.PreloadCount())
		}
		targetDesc += ", through a proxy at " + px.URL()
	}
	if p.Driver == "engram" {
		p.DriverConfig.Target = target
	}

	tl, err := chaos.NewTimeline(cfg.Faults, env)
	if err != nil {
		return nil, fmt.Errorf("chaos drill: %w", err)
	}
	tl.Health = health
	tl.RecoverTimeout = cfg.RecoverTimeout
	for _, s := range tl.Specs() {
		cfg.logf("scheduled: %s", s)
	}

	spill, err := check.CreateSpill(filepath.Join(work, "writes.spill"))
	if err != nil {
		return nil, err
	}
	defer spill.Close()
	p.Wrap = func(d drivers.Driver) (drivers.Driver, error) { return check.Record(d, spill) }
	tctx, stopFaults := context.WithCancel(ctx)
	defer stopFaults()
	var clock drivers.RunClock
	started := make(chan struct{})
	var startOnce sync.Once
	p.Started = func(c drivers.RunClock) {
		clock = c
		startOnce.Do(func() {
			close(started)
			go tl.Run(tctx, c.Zero.Add(time.Duration(c.MeasureStart)))
		})
	}
	p.Observe = func(_ int, _ *workloads.Op, s *reports.Sample) {
		tl.Observe(s.Intended-clock.MeasureStart, s.End-s.Intended, s.Err)
	}

	res, err = drivers.Execute(ctx, p)
	stopFaults()
	select {
	case <-started:
		<-tl.Done() // every fault healed, recoveries waited for
	default:
	}
	if err != nil && res == nil {
		return nil, err
	}
	execErr := err

	cr := &reports.ChaosResult{Target: targetDesc, Verdict: reports.VerdictPass}
	p99 := cfg.P99TargetMs
	if p99 <= 0 && p.Scenario.Validation.ExpectedP99LatencyMs != nil {
		p99 = *p.Scenario.Validation.ExpectedP99LatencyMs
	}
	cr.Faults = tl.Results(res.Intervals, p99, res.DurationS)
	refused := ""
	for i, f := range cr.Faults {
		res.Windows = append(res.Windows, reports.Window{Kind: reports.WindowFault, Name: f.Spec, StartS: f.StartS, EndS: f.EndS})
		switch {
		case f.InjectError != "" && strings.Contains(f.InjectError, chaos.ErrRefused.Error()):
			refused = f.InjectError
		case f.InjectError != "":
			cr.Reasons = append(cr.Reasons, fmt.Sprintf("fault %d (%s): inject failed: %s", i+1, f.Kind, f.InjectError))
		case f.HealError != "":
			cr.Reasons = append(cr.Reasons, fmt.Sprintf("fault %d (%s): heal failed: %s", i+1, f.Kind, f.HealError))
		case health != nil && f.RecoverHealthS == nil && !res.Partial:
			cr.Reasons = append(cr.Reasons, fmt.Sprintf("fault %d (%s): health not OK after the heal (waited up to %s)", i+1, f.Kind, cfg.RecoverTimeout))
		}
	}
	if b := cfg.ErrorBudget; b != nil {
		eb := &reports.ErrorBudget{MaxErrorRate: *b, Allowed: *b * float64(res.Total.Count), Spent: res.Total.Errors}
		if eb.Allowed > 0 {
			eb.Consumed = float64(eb.Spent) / eb.Allowed
		} else if eb.Spent > 0 {
			eb.Consumed = 1e9
		}
		eb.Exhausted = float64(eb.Spent) > eb.Allowed
		cr.ErrorBudget = eb
		if eb.Exhausted {
			cr.Reasons = append(cr.Reasons, fmt.Sprintf("error budget exhausted: %d failed ops, %.0f allowed (%.2f%% of %d)", eb.Spent, eb.Allowed, 100**b, res.Total.Count))
		}
	}

	if cerr := spill.Close(); cerr != nil {
		return res, cerr
	}
	switch {
	case cfg.NoCheck:
		cr.CheckSkipped = "chaos.check = false"
	case res.Partial:
		cr.CheckSkipped = "the run was interrupted"
	case refused != "":
		cr.CheckSkipped = "the target refused to start on corrupted data (the corruption was detected): " + refused
	default:
		st, cerr := readBack(bg, cfg, p, proc, direct, tl.LossAllowed(), spill.Path())
		if cerr != nil {
			cr.CheckSkipped = cerr.Error()
			cr.Reasons = append(cr.Reasons, "read-back failed: "+cerr.Error())
		} else {
			cr.Check = st
			cr.Spill = spill.Path()
			if !st.OK() {
				cr.Reasons = append(cr.Reasons, fmt.Sprintf("read-back: %d lost, %d corrupted, %d unexpected of %d acknowledged writes (%d reads failed)", st.Lost, st.Corrupted, st.Unexpected, st.Acknowledged, st.ReadErrors))
			}
		}
	}
	if cfg.Keep || cfg.WorkDir != "" {
		cr.Spill = spill.Path()
	}
	if len(cr.Reasons) > 0 {
		cr.Verdict = reports.VerdictFail
		if res.Verdict == reports.VerdictPass {
			res.Verdict = reports.VerdictFail
		}
		for _, r := range cr.Reasons {
			res.Reasons = append(res.Reasons, "chaos: "+r)
		}
	}
	res.Chaos = cr
	return res, execErr
}

// readBack recovers the target if it needs it and reads every write back.
func readBack(ctx context.Context, cfg Config, p drivers.Plan, proc *systems.Engramd, direct string, lossAllowed bool, spill string) (*reports.CheckStats, error) {
	if p.Driver == "embedded" {
		st, err := engine.Open(p.DriverConfig.DataDir, engine.Options{Dim: p.Scenario.Data.EmbeddingDim})
		if err != nil {
			return nil, fmt.Errorf("reopen the embedded store for the read-back: %w", err)
		}
		defer st.Close()
		out, err := check.Check(ctx, spill, storeReader{st}, check.Config{LossAllowed: lossAllowed})
		if out != nil {
			out.Target = "embedded " + p.DriverConfig.DataDir
		}
		return out, err
	}
	if proc != nil {
		if !proc.Running() {
			code, _ := proc.ExitCode()
			cfg.logf("engramd is not running (exit code %d): restarting it for the read-back", code)
			if _, err := proc.Restart(ctx); err != nil {
				return nil, fmt.Errorf("restart engramd for the read-back: %w", err)
			}
		}
		if _, err := proc.WaitHealthy(ctx, cfg.RecoverTimeout); err != nil {
			cfg.logf("engramd unhealthy after the run (%v): restarting it for the read-back", err)
			if _, err := proc.Restart(ctx); err != nil {
				return nil, fmt.Errorf("restart engramd for the read-back: %w", err)
			}
		}
	}
	cfg.logf("reading back every write from %s", direct)
	return check.ReadBack(ctx, spill, check.Config{Target: direct, APIKey: cfg.APIKey, CountExtras: proc != nil, LossAllowed: lossAllowed})
}

// storeReader reads memories back from an in-process engine.
type storeReader struct{ st *engine.Store }

func (r storeReader) Read(ctx context.Context, space, id string) ([]byte, bool, error) {
	m, err := r.st.Get(ctx, space, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return []byte(m.Content), true, nil
}

// lazyDisk is the embedded driver's disk switch and health probe, known
// once it is opened.
type lazyDisk struct {
	mu    sync.Mutex
	fs    *disk.FS
	probe func() error
}

func (l *lazyDisk) set(fs *disk.FS) { l.mu.Lock(); l.fs = fs; l.mu.Unlock() }

func (l *lazyDisk) setHealth(probe func() error) { l.mu.Lock(); l.probe = probe; l.mu.Unlock() }

// health is the embedded engine's health check: nil while it answers.
func (l *lazyDisk) health() error {
	l.mu.Lock()
	probe := l.probe
	l.mu.Unlock()
	if probe == nil {
		return errors.New("the embedded engine is not open")
	}
	err := probe()
	if errors.Is(err, engine.ErrClosed) {
		return fmt.Errorf("%w: %w (the run ended before it recovered)", chaos.ErrGone, err)
	}
	return err
}

func (l *lazyDisk) get() (*disk.FS, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fs == nil {
		return nil, errors.New("the embedded engine has no disk-fault wrapper")
	}
	return l.fs, nil
}

func (l *lazyDisk) Set(_ context.Context, s disk.Spec) error {
	fs, err := l.get()
	if err == nil {
		fs.Set(s)
	}
	return err
}

func (l *lazyDisk) Clear(context.Context) error {
	fs, err := l.get()
	if err == nil {
		fs.Clear()
	}
	return err
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func httpOK(ctx context.Context, u, apiKey string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

var healthClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// herd sends n by-id reads at once, each on a fresh connection, and
// reports what they met.
func herd(ctx context.Context, base, space, apiKey string, n int, preload int64) *reports.HerdStats {
	tr := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	hs := &reports.HerdStats{Clients: n, ErrorsByClass: map[string]int64{}}
	h := hdr.New(reports.LowestNs, reports.HighestNs, reports.SigFigs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var last time.Duration
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := workloads.OpKey(uint64(c)).ID()
			if preload > 0 {
				id = workloads.PreloadKey(uint64(c) % uint64(preload)).ID()
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/memories/"+id, nil)
			req.Header.Set("X-Memory-Space", space)
			if apiKey != "" {
				req.Header.Set("Authorization", "Bearer "+apiKey)
			}
			<-gate
			t0 := time.Now()
			resp, err := client.Do(req)
			took := time.Since(t0)
			class := ""
			switch {
			case err != nil:
				class = transportClass(err)
			default:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 404 {
					class = fmt.Sprintf("%dxx", resp.StatusCode/100)
					if resp.StatusCode == 503 {
						class = "overload"
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			last = max(last, took)
			if class != "" {
				hs.ErrorsByClass[class]++
				return
			}
			hs.OK++
			h.RecordValue(min(max(took.Nanoseconds(), 1), reports.HighestNs))
		}()
	}
	close(gate)
	wg.Wait()
	hs.Latency = reports.PercentilesOf(h)
	hs.AllDoneS = last.Seconds()
	if len(hs.ErrorsByClass) == 0 {
		hs.ErrorsByClass = nil
	}
	return hs
}

func transportClass(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "refused"):
		return "connection_refused"
	case strings.Contains(s, "reset"):
		return "connection_reset"
	case strings.Contains(s, "Timeout") || strings.Contains(s, "deadline"):
		return "timeout"
	}
	return "error"
}
