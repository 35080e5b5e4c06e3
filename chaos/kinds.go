package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/chaos/netproxy"
	"github.com/engram-bench/engram-bench/chaos/resource"
)

func durationIn(lo, hi time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("want a duration in [%s, %s]", lo, hi)
		}
		return nil
	}
}

func probability(v string) error {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !(p > 0 && p <= 1) {
		return errors.New("want a probability in (0, 1]")
	}
	return nil
}

func intIn(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want an integer in [%d, %d]", lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
	}
}

func sizeCheck(v string) error { _, err := ParseBytes(v); return err }

// funcFault is a Fault from two functions.
type funcFault struct {
	spec   Spec
	inject func(ctx context.Context) error
	heal   func(ctx context.Context) error
}

func (f *funcFault) String() string                   { return f.spec.String() }
func (f *funcFault) Inject(ctx context.Context) error { return f.inject(ctx) }
func (f *funcFault) Heal(ctx context.Context) error {
	if f.heal == nil {
		return nil
	}
	return f.heal(ctx)
}

// ---- network: toxics on the proxy ------------------------------------------

func streamParam() Param {
	return Param{Name: "stream", Default: "downstream", Help: "which direction: downstream (answers), upstream (requests) or both", Check: oneOf("downstream", "upstream", "both")}
}

func streams(p Params) []string {
	if p["stream"] == "both" {
		return []string{"upstream", "downstream"}
	}
	return []string{p["stream"]}
}

// toxicFault adds one toxic per stream at Inject and removes it at Heal.
func toxicFault(s Spec, p Params, env *Env, i int, typ string, toxicity float64, attrs map[string]any) Fault {
	var names []string
	return &funcFault{spec: s,
		inject: func(context.Context) error {
			for _, st := range streams(p) {
				name := fmt.Sprintf("f%d_%s_%s", i, typ, st)
				if err := env.Proxy.AddToxic(netproxy.Toxic{Name: name, Type: typ, Stream: st, Toxicity: toxicity, Attributes: attrs}); err != nil {
					return err
				}
				names = append(names, name)
			}
			return nil
		},
		heal: func(ctx context.Context) error {
			var errs []error
			for _, n := range names {
				errs = append(errs, env.Proxy.RemoveToxic(ctx, n))
			}
			return errors.Join(errs...)
		}}
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func init() {
	register(&Kind{Name: "latency", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "add latency (with jitter) to every packet through the proxy",
		Params: []Param{
			{Name: "latency", Default: "100ms", Help: "added delay", Check: durationIn(time.Millisecond, time.Minute)},
			{Name: "jitter", Default: "0s", Help: "± random part of the delay", Check: durationIn(0, time.Minute)},
			streamParam(),
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return toxicFault(s, p, env, i, "latency", 1, map[string]any{"latency": ms(p.Duration("latency")), "jitter": ms(p.Duration("jitter"))}), nil
		}})
	register(&Kind{Name: "bandwidth", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "limit the bandwidth through the proxy",
		Params: []Param{
			{Name: "rate_kbps", Default: "100", Help: "kilobytes per second", Check: intIn(1, 10_000_000)},
			streamParam(),
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return toxicFault(s, p, env, i, "bandwidth", 1, map[string]any{"rate": p.Int("rate_kbps")}), nil
		}})
	register(&Kind{Name: "stall", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "stall a share of connections: no data passes until the fault heals (packet-loss-like: clients time out)",
		Params: []Param{
			{Name: "prob", Default: "0.3", Help: "share of connections stalled", Check: probability},
			streamParam(),
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return toxicFault(s, p, env, i, "timeout", p.Float("prob"), map[string]any{"timeout": 0}), nil
		}})
	register(&Kind{Name: "reset", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "reset a share of connections (TCP RST, \"connection reset by peer\")",
		Params: []Param{
			{Name: "prob", Default: "0.2", Help: "share of connections reset", Check: probability},
			{Name: "after", Default: "0s", Help: "how long after the data starts", Check: durationIn(0, time.Minute)},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			p["stream"] = "upstream"
			return toxicFault(s, p, env, i, "reset_peer", p.Float("prob"), map[string]any{"timeout": ms(p.Duration("after"))}), nil
		}})
	register(&Kind{Name: "timeout", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "stop all data and close each connection after a delay (requests time out, then fail)",
		Params: []Param{
			{Name: "after", Default: "500ms", Help: "how long a connection hangs before it is closed", Check: durationIn(time.Millisecond, time.Minute)},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			p["stream"] = "upstream"
			return toxicFault(s, p, env, i, "timeout", 1, map[string]any{"timeout": ms(p.Duration("after"))}), nil
		}})
	register(&Kind{Name: "partition", Class: "network", Duration: "required", Needs: NeedsProxy,
		Help: "cut the target off: refuse connections (mode=refuse) or swallow every packet (mode=blackhole)",
		Params: []Param{
			{Name: "mode", Default: "refuse", Help: "refuse: connections refused and cut; blackhole: everything hangs", Check: oneOf("refuse", "blackhole")},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			if p["mode"] == "blackhole" {
				p["stream"] = "both"
				return toxicFault(s, p, env, i, "timeout", 1, map[string]any{"timeout": 0}), nil
			}
			return &funcFault{spec: s,
				inject: func(context.Context) error { env.Proxy.Disable(); return nil },
				heal:   func(context.Context) error { return env.Proxy.Enable() }}, nil
		}})

	// ---- process ------------------------------------------------------------
	register(&Kind{Name: "kill", Class: "process", Duration: "optional", Needs: NeedsProcess,
		Help: "SIGKILL engramd (no flush, like a crash or an OOM kill); restart it after duration (0: at once)",
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return &funcFault{spec: s,
				inject: func(context.Context) error { return env.Process.Kill() },
				heal: func(ctx context.Context) error {
					took, err := env.Process.Restart(ctx)
					if err == nil {
						env.note(i, "restarted in %s", took.Round(time.Millisecond))
					}
					return err
				}}, nil
		}})
	register(&Kind{Name: "pause", Class: "process", Duration: "required", Needs: NeedsProcess,
		Help: "SIGSTOP engramd for duration, then SIGCONT (a frozen process: connections open, nothing answers)",
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return &funcFault{spec: s,
				inject: func(context.Context) error { return env.Process.Pause() },
				heal:   func(context.Context) error { return env.Process.Resume() }}, nil
		}})
	register(&Kind{Name: "crashloop", Class: "process", Duration: "required", Needs: NeedsProcess,
		Help:   "kill engramd, restart it, and kill it again every interval for duration (a crash loop)",
		Params: []Param{{Name: "every", Default: "2s", Help: "from one kill to the next", Check: durationIn(100*time.Millisecond, time.Hour)}},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			every := p.Duration("every")
			var stop context.CancelFunc
			var wg sync.WaitGroup
			kills := 0
			return &funcFault{spec: s,
				inject: func(ctx context.Context) error {
					if err := env.Process.Kill(); err != nil {
						return err
					}
					kills = 1
					lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
					stop = cancel
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-lctx.Done():
								return
							case <-time.After(every / 2):
							}
							if _, err := env.Process.Restart(lctx); err != nil {
								if lctx.Err() == nil {
									env.note(i, "restart failed: %v", err)
								}
								continue
							}
							select {
							case <-lctx.Done():
								return
							case <-time.After(every - every/2):
							}
							if env.Process.Kill() == nil {
								kills++
							}
						}
					}()
					return nil
				},
				heal: func(ctx context.Context) error {
					stop()
					wg.Wait()
					env.note(i, "%d kills", kills)
					if env.Process.Running() {
						return nil
					}
					took, err := env.Process.Restart(ctx)
					if err == nil {
						env.note(i, "restarted in %s after the loop", took.Round(time.Millisecond))
					}
					return err
				}}, nil
		}})

	// ---- disk ---------------------------------------------------------------
	filesParam := Param{Name: "files", Default: "all", Help: "which files: all, wal, sst, manifest", Check: oneOf("all", "wal", "sst", "manifest")}
	register(&Kind{Name: "disk_error", Class: "disk", Duration: "required", Needs: NeedsDisk,
		Help: "fail the engine's disk operations with I/O errors (a failed WAL write or sync is fatal to the store until it is restarted)",
		Params: []Param{
			{Name: "ops", Default: "sync,write", Help: "read, write, sync (comma-separated) or all", Check: func(v string) error { _, err := disk.Parse("error ops=" + v); return err }},
			filesParam,
			{Name: "prob", Default: "1", Help: "share of matching operations that fail", Check: probability},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			ds, err := disk.Parse(fmt.Sprintf("error ops=%s files=%s prob=%s seed=%d", p["ops"], p["files"], p["prob"], env.Seed+uint64(i)))
			if err != nil {
				return nil, err
			}
			return &funcFault{spec: s,
				inject: func(ctx context.Context) error { return env.Disk.Set(ctx, ds) },
				heal:   func(ctx context.Context) error { return env.Disk.Clear(ctx) }}, nil
		}})
	register(&Kind{Name: "disk_slow", Class: "disk", Duration: "required", Needs: NeedsDisk,
		Help: "delay the engine's disk operations (exponential, mean latency, capped at 20×)",
		Params: []Param{
			{Name: "latency", Default: "20ms", Help: "mean added delay per operation", Check: durationIn(time.Microsecond, time.Minute)},
			{Name: "ops", Default: "sync", Help: "read, write, sync (comma-separated) or all", Check: func(v string) error { _, err := disk.Parse("error ops=" + v); return err }},
			filesParam,
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			ds, err := disk.Parse(fmt.Sprintf("slow latency=%s ops=%s files=%s seed=%d", p["latency"], p["ops"], p["files"], env.Seed+uint64(i)))
			if err != nil {
				return nil, err
			}
			return &funcFault{spec: s,
				inject: func(ctx context.Context) error { return env.Disk.Set(ctx, ds) },
				heal:   func(ctx context.Context) error { return env.Disk.Clear(ctx) }}, nil
		}})

	// ---- data ---------------------------------------------------------------
	register(&Kind{Name: "corrupt_wal", Class: "data", Duration: "none", Needs: NeedsProcess, LossAllowed: true,
		Help: "SIGKILL engramd, flip bytes in the tail of its newest WAL, restart: it must refuse with a clear error or recover to the last good state, never serve corrupt data",
		Params: []Param{
			{Name: "bytes", Default: "16", Help: "bytes flipped", Check: intIn(1, 1<<20)},
			{Name: "tail", Default: "4096", Help: "flipped within this many bytes of the WAL's end", Check: intIn(1, 1<<30)},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return corruptFault(s, env, i, false, p.Int("bytes"), int64(p.Int("tail"))), nil
		}})
	register(&Kind{Name: "corrupt_sst", Class: "data", Duration: "none", Needs: NeedsProcess, LossAllowed: true,
		Help: "stop engramd cleanly (its memtable becomes an sstable), flip bytes in the middle of its largest sstable, restart: it must refuse with a clear error or recover, never serve corrupt data",
		Params: []Param{
			{Name: "bytes", Default: "16", Help: "bytes flipped", Check: intIn(1, 1<<20)},
		},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return corruptFault(s, env, i, true, p.Int("bytes"), 0), nil
		}})

	// ---- resources ----------------------------------------------------------
	register(&Kind{Name: "memory", Class: "resources", Duration: "required", Needs: NeedsHelper,
		Help:   "memory pressure: a ballast process allocates and touches this much memory for duration",
		Params: []Param{{Name: "bytes", Default: "1GiB", Help: "ballast size (capped at half the memory available)", Check: sizeCheck}},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			var h *resource.Helper
			return &funcFault{spec: s,
				inject: func(ctx context.Context) error {
					n := p.Bytes("bytes")
					limit := env.MaxBallast
					if limit <= 0 {
						limit = memAvailable() / 2
					}
					if limit > 0 && n > limit {
						env.note(i, "ballast capped at %d MiB (half the memory available)", limit>>20)
						n = limit
					}
					var err error
					h, err = resource.Ballast(ctx, env.Helper, n, s.Duration+time.Minute)
					if err == nil {
						env.note(i, "ballast of %d MiB resident (pid %d)", n>>20, h.PID())
					}
					return err
				},
				heal: func(context.Context) error {
					if h != nil {
						h.Stop()
					}
					return nil
				}}, nil
		}})
	register(&Kind{Name: "cpu", Class: "resources", Duration: "required", Needs: NeedsHelper,
		Help:   "CPU contention: processes that each keep a core busy for duration",
		Params: []Param{{Name: "procs", Default: "2", Help: "spinning processes", Check: intIn(1, 256)}},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			var hs []*resource.Helper
			return &funcFault{spec: s,
				inject: func(ctx context.Context) error {
					for n := 0; n < p.Int("procs"); n++ {
						h, err := resource.Spin(ctx, env.Helper, s.Duration+time.Minute)
						if err != nil {
							return err
						}
						hs = append(hs, h)
					}
					return nil
				},
				heal: func(context.Context) error {
					for _, h := range hs {
						h.Stop()
					}
					return nil
				}}, nil
		}})

	// ---- thundering herd ----------------------------------------------------
	register(&Kind{Name: "herd", Class: "herd", Duration: "required", Needs: NeedsProxy | NeedsHerd,
		Help:   "partition the target for duration (connections refused and cut), then at the heal N clients reconnect and send a request at once",
		Params: []Param{{Name: "clients", Default: "1000", Help: "clients that reconnect at once", Check: intIn(1, 20_000)}},
		New: func(s Spec, p Params, env *Env, i int) (Fault, error) {
			return &funcFault{spec: s,
				inject: func(context.Context) error { env.Proxy.Disable(); return nil },
				heal: func(ctx context.Context) error {
					if err := env.Proxy.Enable(); err != nil {
						return err
					}
					hs := env.Herd(ctx, p.Int("clients"))
					if hs != nil {
						if env.HerdDone != nil {
							env.HerdDone(i, hs)
						}
					}
					return nil
				}}, nil
		}})
}

// corruptFault stops the process (SIGKILL, or SIGTERM for sstables so the
// memtable is flushed), flips bytes in a file of its data directory and
// starts it again. A refusal to start is the detection the drill looks for:
// it is noted, and Inject returns an error wrapping ErrRefused.
func corruptFault(s Spec, env *Env, i int, sst bool, n int, tail int64) Fault {
	return &funcFault{spec: s, inject: func(ctx context.Context) error {
		if sst {
			if err := env.Process.Stop(ctx, 30*time.Second); err != nil {
				return err
			}
		} else if err := env.Process.Kill(); err != nil {
			return err
		}
		suffix := ".log"
		if sst {
			suffix = ".sst"
		}
		path, size, err := pickFile(env.Process.DataDir(), suffix, sst)
		if err != nil {
			return err
		}
		off := size / 2
		if !sst {
			// pebble preallocates WAL files: the tail of the file may be
			// zeros nothing was written to. Aim at the last bytes written.
			end, err := lastNonZero(path, size)
			if err != nil {
				return err
			}
			off = max(end-tail, 0)
			n = int(min(int64(n), end-off))
		}
		flipped, err := flipBytes(path, off, n, env.Seed+uint64(i))
		if err != nil {
			return err
		}
		env.note(i, "flipped %d bytes of %s (%d bytes) at offset %d", flipped, filepath.Base(path), size, off)
		took, err := env.Process.Restart(ctx)
		if err != nil {
			env.note(i, "engramd refused to start: %v", err)
			return fmt.Errorf("%w: %v", ErrRefused, err)
		}
		env.note(i, "engramd started on the corrupted data in %s", took.Round(time.Millisecond))
		return nil
	}}
}

// ErrRefused wraps a restart refused after a data fault: the corruption
// was detected, and the target stays down.
var ErrRefused = errors.New("target refused to start on corrupted data")

// pickFile returns the newest (WAL) or largest (sstable) file with suffix.
func pickFile(dir, suffix string, largest bool) (string, int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, err
	}
	type f struct {
		name string
		size int64
		mod  time.Time
	}
	var fs []f
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		in, err := e.Info()
		if err != nil || in.Size() == 0 {
			continue
		}
		fs = append(fs, f{e.Name(), in.Size(), in.ModTime()})
	}
	if len(fs) == 0 {
		return "", 0, fmt.Errorf("no non-empty *%s file in %s to corrupt", suffix, dir)
	}
	sort.Slice(fs, func(a, b int) bool {
		if largest {
			return fs[a].size > fs[b].size
		}
		return fs[a].name > fs[b].name // pebble numbers files: the newest is the highest
	})
	return filepath.Join(dir, fs[0].name), fs[0].size, nil
}

// flipBytes inverts n bytes of path from off (fewer at the end of the file).
func flipBytes(path string, off int64, n int, seed uint64) (int, error) {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	b := make([]byte, n)
	got, err := fh.ReadAt(b, off)
	if got == 0 {
		return 0, fmt.Errorf("read %s at %d: %v", path, off, err)
	}
	b = b[:got]
	for j := range b {
		b[j] ^= 0xff
	}
	if _, err := fh.WriteAt(b, off); err != nil {
		return 0, err
	}
	return got, fh.Sync()
}

// lastNonZero returns the offset just past the last non-zero byte of path.
func lastNonZero(path string, size int64) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := fh.ReadAt(b, start); err != nil {
			return 0, err
		}
		for j := len(b) - 1; j >= 0; j-- {
			if b[j] != 0 {
				return start + int64(j) + 1, nil
			}
		}
		end = start
	}
	return 0, fmt.Errorf("%s holds only zeros", path)
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes (0 if unknown).
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
