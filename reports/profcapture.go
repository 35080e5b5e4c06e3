package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/pprof/profile"
)

// ProfileKinds are the profiles a run can capture, in the order they are
// listed in a result.
var ProfileKinds = []string{"cpu", "heap", "allocs", "mutex", "block", "goroutine"}

// ProfileSource fetches profiles of one Go process: the harness's own
// (ProcessProfiles) or a server's over /debug/pprof (HTTPProfiles). Each
// call returns the profile as go tool pprof reads it (gzipped protobuf).
type ProfileSource interface {
	// Name says where the profiles come from: "in-process" or the URL.
	Name() string
	// InProcess reports whether the profiles are of this process.
	InProcess() bool
	// CPU profiles the CPU for d (whole seconds).
	CPU(ctx context.Context, d time.Duration) ([]byte, error)
	// Delta returns what the named profile (allocs, mutex, block) gained
	// over the next d (whole seconds).
	Delta(ctx context.Context, name string, d time.Duration) ([]byte, error)
	// Snapshot returns the named profile (heap, goroutine) now.
	Snapshot(ctx context.Context, name string) ([]byte, error)
}

// HTTPProfiles fetches profiles from a Go server's net/http/pprof endpoints
// (engramd serves them): /profile?seconds=N for CPU, /NAME?seconds=N for a
// delta (net/http/pprof subtracts two snapshots itself), /NAME for a
// snapshot.
type HTTPProfiles struct {
	// Base is the pprof root, e.g. http://127.0.0.1:7432/debug/pprof.
	Base   string
	Client *http.Client
}

var _ ProfileSource = (*HTTPProfiles)(nil)

// Name implements ProfileSource.
func (h *HTTPProfiles) Name() string { return h.Base }

// InProcess implements ProfileSource.
func (h *HTTPProfiles) InProcess() bool { return false }

func (h *HTTPProfiles) get(ctx context.Context, path string, d time.Duration) ([]byte, error) {
	url := strings.TrimRight(h.Base, "/") + "/" + path
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: d + 30*time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, msg)
	}
	if _, err := profile.ParseData(b); err != nil {
		return nil, fmt.Errorf("GET %s: not a pprof profile: %w", url, err)
	}
	return b, nil
}

func wholeSeconds(d time.Duration) int64 { return max(int64((d+time.Second/2)/time.Second), 1) }

// CPU implements ProfileSource.
func (h *HTTPProfiles) CPU(ctx context.Context, d time.Duration) ([]byte, error) {
	n := wholeSeconds(d)
	return h.get(ctx, "profile?seconds="+strconv.FormatInt(n, 10), time.Duration(n)*time.Second)
}

// Delta implements ProfileSource.
func (h *HTTPProfiles) Delta(ctx context.Context, name string, d time.Duration) ([]byte, error) {
	n := wholeSeconds(d)
	return h.get(ctx, name+"?seconds="+strconv.FormatInt(n, 10), time.Duration(n)*time.Second)
}

// Snapshot implements ProfileSource.
func (h *HTTPProfiles) Snapshot(ctx context.Context, name string) ([]byte, error) {
	return h.get(ctx, name, 0)
}

// Sampling rates the harness sets while it profiles its own process for
// mutex and block events (and restores afterwards): one mutex contention
// event in MutexProfileFraction, and blocking events with a probability of
// their duration over BlockProfileRate ns — enough for a top list without
// slowing a busy process measurably.
const (
	MutexProfileFraction = 10
	BlockProfileRate     = 10_000
)

// ProcessProfiles profiles this process with runtime/pprof: the harness,
// and the engine too when it runs in-process (the embedded driver).
type ProcessProfiles struct {
	mu sync.Mutex // one CPU profile at a time
}

var _ ProfileSource = (*ProcessProfiles)(nil)

// Name implements ProfileSource.
func (*ProcessProfiles) Name() string { return "in-process" }

// InProcess implements ProfileSource.
func (*ProcessProfiles) InProcess() bool { return true }

// CPU implements ProfileSource. Cancelled early, it returns the profile of
// the part that ran.
func (p *ProcessProfiles) CPU(ctx context.Context, d time.Duration) ([]byte, error) {
	if !p.mu.TryLock() {
		return nil, errors.New("a CPU profile of this process is already being taken")
	}
	defer p.mu.Unlock()
	var b bytes.Buffer
	if err := pprof.StartCPUProfile(&b); err != nil {
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	pprof.StopCPUProfile()
	return b.Bytes(), nil
}

func lookup(name string) (*profile.Profile, error) {
	pp := pprof.Lookup(name)
	if pp == nil {
		return nil, fmt.Errorf("no %s profile in this runtime", name)
	}
	var b bytes.Buffer
	if err := pp.WriteTo(&b, 0); err != nil {
		return nil, err
	}
	return profile.ParseData(b.Bytes())
}

// Delta implements ProfileSource: two snapshots d apart, subtracted as
// net/http/pprof does. For mutex and block it turns sampling on for the
// window (MutexProfileFraction, BlockProfileRate) unless it already was.
func (p *ProcessProfiles) Delta(ctx context.Context, name string, d time.Duration) ([]byte, error) {
	switch name {
	case "mutex":
		if prev := runtime.SetMutexProfileFraction(-1); prev == 0 {
			runtime.SetMutexProfileFraction(MutexProfileFraction)
			defer runtime.SetMutexProfileFraction(0)
		}
	case "block":
		// The block rate cannot be read back; the harness never sets it
		// otherwise, so it was off.
		runtime.SetBlockProfileRate(BlockProfileRate)
		defer runtime.SetBlockProfileRate(0)
	}
	p0, err := lookup(name)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	p1, err := lookup(name)
	if err != nil {
		return nil, err
	}
	ts, dur := p1.TimeNanos, p1.TimeNanos-p0.TimeNanos
	p0.Scale(-1)
	m, err := profile.Merge([]*profile.Profile{p0, p1})
	if err != nil {
		return nil, fmt.Errorf("delta of %s: %w", name, err)
	}
	m.TimeNanos, m.DurationNanos = ts, dur
	m.DefaultSampleType = p1.DefaultSampleType
	return EncodeProfile(m)
}

// Snapshot implements ProfileSource.
func (p *ProcessProfiles) Snapshot(_ context.Context, name string) ([]byte, error) {
	pr, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return EncodeProfile(pr)
}

// ProfileCaptureConfig says what to profile during a run, and when.
type ProfileCaptureConfig struct {
	// Kinds are the target's profiles to capture (ProfileKinds).
	Kinds []string
	// Target is the system under test's profile source (nil: none).
	Target ProfileSource
	// Self profiles the harness too (cpu, heap, allocs), or marks the
	// target's profiles as the harness's as well when the target is this
	// process.
	Self bool
	// From and To bound the window within the measured run (from the start
	// of measuring); To 0 means Measured. Whole seconds.
	From, To time.Duration
	// Measured is the run's measured length.
	Measured time.Duration
	// TriggerP99, when > 0, captures a CPU profile of the target for
	// TriggerFor (default 10 s), once, the first time an interval's p99
	// latency exceeds it.
	TriggerP99, TriggerFor time.Duration
	// Base is the path prefix of the files: Base.cpu.pb.gz, Base.self-cpu.pb.gz,
	// Base.trigger-cpu.pb.gz.
	Base string
	// Top is how many functions each summary keeps (0: DefaultProfileTop).
	Top int
}

// Validate checks the kinds and the window.
func (c *ProfileCaptureConfig) Validate() error {
	for _, k := range c.Kinds {
		if !contains(ProfileKinds, k) {
			return fmt.Errorf("profile %q: want any of %s", k, strings.Join(ProfileKinds, ","))
		}
	}
	if c.To == 0 {
		c.To = c.Measured.Truncate(time.Second)
	}
	switch {
	case c.From < 0 || c.From%time.Second != 0 || c.To%time.Second != 0:
		return fmt.Errorf("profile window %s..%s: whole seconds from 0 (pprof over HTTP takes seconds)", c.From, c.To)
	case c.To <= c.From:
		return fmt.Errorf("profile window %s..%s: the end must come after the start (and the run must measure at least 1s)", c.From, c.To)
	case c.To > c.Measured:
		return fmt.Errorf("profile window %s..%s ends after the measured %s", c.From, c.To, c.Measured)
	case c.TriggerP99 < 0 || c.TriggerFor < 0:
		return errors.New("profile trigger: durations must be >= 0")
	case (len(c.Kinds) > 0 || c.TriggerP99 > 0) && c.Target == nil:
		return errors.New("no profile source for the target")
	}
	if c.TriggerP99 > 0 && c.TriggerFor == 0 {
		c.TriggerFor = 10 * time.Second
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// ProfileCapture takes the profiles of one run: the window's from Start,
// the triggered one from Tick. Finish waits for them, writes the files and
// adds their summaries to the result.
type ProfileCapture struct {
	cfg     ProfileCaptureConfig
	self    *ProcessProfiles
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	done    []capturedProfile
	started bool
	start   time.Time // measuring begins

	fired  bool
	ticked bool
	origin int64
	h      *hdr.Histogram
}

type capturedProfile struct {
	sum  ProfileSummary
	data []byte
	err  error
	name string // file name part: "cpu", "self-cpu", "trigger-cpu"
}

// NewProfileCapture validates cfg and prepares the capture.
func NewProfileCapture(cfg ProfileCaptureConfig) (*ProfileCapture, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	pc := &ProfileCapture{cfg: cfg, ctx: ctx, cancel: cancel, self: &ProcessProfiles{}}
	if p, ok := cfg.Target.(*ProcessProfiles); ok {
		pc.self = p // one process, one CPU profiler
	}
	if cfg.TriggerP99 > 0 {
		pc.h = NewHistogram()
	}
	return pc, nil
}

// Start schedules the window's captures; measureStart is when measuring
// begins (drivers.Plan.OnStart).
func (pc *ProfileCapture) Start(measureStart time.Time) {
	pc.mu.Lock()
	pc.started, pc.start = true, measureStart
	pc.mu.Unlock()
	type job struct {
		src  ProfileSource
		kind string
		of   string
		name string
	}
	var jobs []job
	of := "target"
	inProc := pc.cfg.Target != nil && pc.cfg.Target.InProcess()
	if inProc {
		of = "target+harness"
	}
	for _, k := range pc.cfg.Kinds {
		jobs = append(jobs, job{pc.cfg.Target, k, of, k})
	}
	if pc.cfg.Self {
		for _, k := range []string{"cpu", "heap", "allocs"} {
			if inProc && contains(pc.cfg.Kinds, k) {
				continue // the target's profile is the harness's too
			}
			src, o, name := ProfileSource(pc.self), "harness", "self-"+k
			if inProc {
				o, name = "target+harness", k
			}
			jobs = append(jobs, job{src, k, o, name})
		}
	}
	from, to := pc.cfg.From, pc.cfg.To
	win := to - from
	how := fmt.Sprintf("window %s–%s of measuring", fmtSecondsAxis(from.Seconds()), fmtSecondsAxis(to.Seconds()))
	for _, j := range jobs {
		pc.wg.Add(1)
		go func() {
			defer pc.wg.Done()
			if !pc.sleepUntil(measureStart.Add(from)) {
				pc.add(capturedProfile{sum: ProfileSummary{Kind: j.kind, Of: j.of, Source: j.src.Name(), How: how}, name: j.name, err: errors.New("the run ended before the profile window began")})
				return
			}
			s := ProfileSummary{Kind: j.kind, Of: j.of, Source: j.src.Name(), How: how}
			var b []byte
			var err error
			switch j.kind {
			case "cpu":
				b, err = j.src.CPU(pc.ctx, win)
			case "allocs", "mutex", "block":
				b, err = j.src.Delta(pc.ctx, j.kind, win)
			default: // heap, goroutine: the state at the window's end
				s.How = fmt.Sprintf("snapshot at %s of measuring", fmtSecondsAxis(to.Seconds()))
				if !pc.sleepUntil(measureStart.Add(to)) {
					s.How = "snapshot when the run was cut short"
				}
				b, err = j.src.Snapshot(context.WithoutCancel(pc.ctx), j.kind)
			}
			if pc.ctx.Err() != nil && err == nil && j.kind != "heap" && j.kind != "goroutine" {
				s.How += fmt.Sprintf(", cut short at %s", fmtSecondsAxis(time.Since(measureStart).Round(time.Second).Seconds()))
			}
			pc.add(capturedProfile{sum: s, data: b, err: err, name: j.name})
		}()
	}
}

// sleepUntil waits for t; false when the capture was cancelled first.
func (pc *ProfileCapture) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return pc.ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-pc.ctx.Done():
		return false
	}
}

func (pc *ProfileCapture) add(c capturedProfile) {
	pc.mu.Lock()
	pc.done = append(pc.done, c)
	pc.mu.Unlock()
}

// Tick watches each interval's p99 for the trigger (a live consumer).
func (pc *ProfileCapture) Tick(t Tick) {
	if pc.cfg.TriggerP99 <= 0 || pc.fired {
		return
	}
	if !pc.ticked {
		pc.ticked, pc.origin = true, t.Start
	}
	pc.h.Reset()
	for i := range t.Delta.Ops {
		if l := t.Delta.Ops[i].Latency; l != nil {
			pc.h.Merge(l)
		}
	}
	if pc.h.TotalCount() == 0 {
		return
	}
	p99 := time.Duration(pc.h.ValueAtQuantile(99))
	if p99 <= pc.cfg.TriggerP99 {
		return
	}
	pc.fired = true
	at := time.Duration(t.End - pc.origin)
	how := fmt.Sprintf("triggered at %s: interval p99 %s > %s; the next %s", fmtSecondsAxis(at.Round(time.Second).Seconds()), FormatNs(int64(p99)), FormatNs(int64(pc.cfg.TriggerP99)), pc.cfg.TriggerFor)
	of := "target"
	if pc.cfg.Target.InProcess() {
		of = "target+harness"
	}
	s := ProfileSummary{Kind: "cpu", Of: of, Source: pc.cfg.Target.Name(), How: how}
	windowCPU := contains(pc.cfg.Kinds, "cpu") || (pc.cfg.Self && pc.cfg.Target.InProcess())
	if windowCPU && at >= pc.cfg.From && at < pc.cfg.To {
		// One CPU profiler per process: the window's profile covers it.
		s.Note = "the trigger fired inside the CPU profile's window, which covers these seconds: no second profile was taken"
		pc.add(capturedProfile{sum: s, name: "trigger-cpu"})
		return
	}
	pc.wg.Add(1)
	go func() {
		defer pc.wg.Done()
		b, err := pc.cfg.Target.CPU(pc.ctx, pc.cfg.TriggerFor)
		pc.add(capturedProfile{sum: s, data: b, err: err, name: "trigger-cpu"})
	}()
}

// Finish waits for the captures (up to wait after the window's end; at once
// when the run was interrupted), writes each profile to Base.NAME.pb.gz and
// adds its summary to r.Profiles and its file to r.Files (relative to
// relTo, the result's folder, when given). A capture that failed is listed
// with the error as its note; the run is not failed for it.
func (pc *ProfileCapture) Finish(r *Result, relTo string, wait time.Duration) error {
	if r.Partial {
		pc.cancel()
	}
	done := make(chan struct{})
	go func() { pc.wg.Wait(); close(done) }()
	pc.mu.Lock()
	deadline := wait
	if pc.started {
		deadline += time.Until(pc.start.Add(pc.cfg.To))
	}
	pc.mu.Unlock()
	select {
	case <-done:
	case <-time.After(max(deadline, 0)):
		pc.cancel()
		<-done
	}
	pc.cancel()
	pc.mu.Lock()
	caps := pc.done
	pc.mu.Unlock()
	order := func(c capturedProfile) int {
		i := indexOf(ProfileKinds, c.sum.Kind)
		switch {
		case strings.HasPrefix(c.name, "self-"):
			i += 100
		case strings.HasPrefix(c.name, "trigger-"):
			i += 200
		}
		return i
	}
	for i := 1; i < len(caps); i++ {
		for j := i; j > 0 && order(caps[j]) < order(caps[j-1]); j-- {
			caps[j], caps[j-1] = caps[j-1], caps[j]
		}
	}
	var firstErr error
	for _, c := range caps {
		s := c.sum
		switch {
		case c.err != nil:
			s.Note = "not captured: " + c.err.Error()
		case c.data == nil:
		default:
			path := pc.cfg.Base + "." + c.name + ".pb.gz"
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("write profile %s: %w", path, err)
				}
				s.Note = "not written: " + err.Error()
				break
			}
			s.File = relPath(relTo, path)
			if r.Files == nil {
				r.Files = map[string]string{}
			}
			r.Files["profile-"+c.name] = s.File
			p, err := profile.ParseData(c.data)
			if err != nil {
				s.Note = "unreadable: " + err.Error()
				break
			}
			if err := SummarizeProfile(&s, p, pc.cfg.Top, c.sum.Of == "target+harness"); err != nil {
				s.Note = err.Error()
			}
		}
		r.Profiles = append(r.Profiles, s)
		if s.Note != "" && strings.HasPrefix(s.Note, "not captured") {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s profile of the %s (%s): %s", s.Kind, s.Of, s.How, s.Note))
		}
	}
	return firstErr
}

// Abort cancels every capture and waits for them (the run failed).
func (pc *ProfileCapture) Abort() {
	pc.cancel()
	pc.wg.Wait()
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if x == y {
			return i
		}
	}
	return len(xs)
}

// relPath names path relative to dir ("" or unrelatable: path as is).
func relPath(dir, path string) string {
	if dir == "" {
		return path
	}
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	if rel, err := filepath.Rel(ad, ap); err == nil {
		return rel
	}
	return path
}
