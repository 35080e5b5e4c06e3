// Package engramd is engramd's whole program: flags, the store, the HTTP
// server, graceful drain, and the backup and restore subcommands. cmd/engramd runs it as its main, and
// `engram-bench engramd` runs the same code, so chaos drills can start
// engramd from the harness binary with nothing else built.
//
// It is cmd wiring: it imports the engine, its server and the chaos disk
// wrapper, and holds no logic a room below could test.
package engramd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/engram-bench/engram-bench/chaos/disk"
	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/engine/server"
)

// Main runs engramd with args until SIGTERM or SIGINT and returns the exit
// code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdout, stderr)
}

// Exit codes: 0 clean shutdown, 1 a failure while serving or draining, 2 a
// usage or configuration error.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

const (
	exitOK    = ExitOK
	exitFail  = ExitFail
	exitUsage = ExitUsage
)

type config struct {
	addr         string
	data         string
	sync         bool
	apiKeyFile   string
	maxInflight  int
	maxBody      int64
	readTimeout  time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
	drainTimeout time.Duration
	dim          int
	version      bool
	mutexFrac    int
	blockRate    int
	admin        bool
	diskFault    string
	unsafeFlush  time.Duration
	backupDir    string
	index        engine.IndexOptions
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("engramd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7432", "listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&c.data, "data", "engramd-data", "data directory of the engine (created if missing)")
	fs.BoolVar(&c.sync, "sync", true, "fsync every write before answering (--sync=false acknowledges before fsync: faster, may lose the last writes on a crash)")
	fs.StringVar(&c.apiKeyFile, "api-key-file", "", "file of API keys, one \"engram_key_<id>_<secret> [space,...]\" per line; when set every route but /health/alive needs Authorization: Bearer <key>")
	fs.IntVar(&c.maxInflight, "max-inflight", server.DefaultMaxInflight, "most requests handled at once; beyond it 503 with Retry-After (health, metrics and pprof exempt)")
	fs.Int64Var(&c.maxBody, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body accepted, bytes (larger: 413)")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "time to read a whole request, headers and body")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 60*time.Second, "time from the end of the request headers to the end of the answer")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 5*time.Minute, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	fs.IntVar(&c.dim, "dim", engine.DefaultDim, "embedding dimension of every memory")
	fs.IntVar(&c.index.M, "index-m", engine.DefaultIndexM, "HNSW links per node on the upper layers (3× on layer 0); more: better recall on dense data, slower inserts, more memory")
	fs.IntVar(&c.index.EfConstruction, "ef-construction", engine.DefaultEfConstruction, "HNSW candidate list while inserting; more: better recall, slower inserts")
	fs.IntVar(&c.index.EfSearch, "ef-search", engine.DefaultEfSearch, "HNSW candidate list per search (a search for k uses max(2k, this)); more: better recall, slower searches")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.IntVar(&c.mutexFrac, "mutex-profile-fraction", 0, "sample 1 in N mutex contention events for /debug/pprof/mutex (0: off, Go's default; 10 is light)")
	fs.IntVar(&c.blockRate, "block-profile-rate", 0, "sample goroutine blocking events for /debug/pprof/block, one per N ns blocked (0: off, Go's default; 10000 is light)")
	fs.StringVar(&c.backupDir, "backup-dir", "", "directory for online backups (POST /api/v1/admin/backup); empty: backups off (docs/disaster-recovery.md)")
	fs.BoolVar(&c.admin, "admin", false, "serve "+disk.AdminPath+": GET shows, PUT sets, DELETE clears a disk fault at run time (chaos drills; behind --api-key-file like every route)")
	fs.StringVar(&c.diskFault, "disk-fault", "", "start with this disk fault active, e.g. \"slow latency=5ms ops=sync\" or \"error ops=sync files=wal prob=0.1\" (docs/chaos.md)")
	fs.DurationVar(&c.unsafeFlush, "unsafe-ack-before-durable", 0, "")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage of engramd:")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" { // hidden: test modes
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  --%s %s\n    \t%s", f.Name, name, usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.data == "":
		return nil, errors.New("--data: must not be empty")
	case c.maxInflight == 0 || c.maxInflight < -1:
		return nil, fmt.Errorf("--max-inflight %d: must be > 0 (or -1 for no limit)", c.maxInflight)
	case c.maxBody <= 0:
		return nil, fmt.Errorf("--max-body-bytes %d: must be > 0", c.maxBody)
	case c.readTimeout <= 0:
		return nil, fmt.Errorf("--read-timeout %s: must be > 0", c.readTimeout)
	case c.writeTimeout <= 0:
		return nil, fmt.Errorf("--write-timeout %s: must be > 0", c.writeTimeout)
	case c.idleTimeout <= 0:
		return nil, fmt.Errorf("--idle-timeout %s: must be > 0", c.idleTimeout)
	case c.drainTimeout <= 0:
		return nil, fmt.Errorf("--drain-timeout %s: must be > 0", c.drainTimeout)
	case c.dim < 1 || c.dim > 65536:
		return nil, fmt.Errorf("--dim %d: must be in [1, 65536]", c.dim)
	case c.mutexFrac < 0:
		return nil, fmt.Errorf("--mutex-profile-fraction %d: must be >= 0", c.mutexFrac)
	case c.blockRate < 0:
		return nil, fmt.Errorf("--block-profile-rate %d: must be >= 0", c.blockRate)
	case c.unsafeFlush < 0:
		return nil, fmt.Errorf("--unsafe-ack-before-durable %s: must be > 0", c.unsafeFlush)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--index-m", c.index.M}, {"--ef-construction", c.index.EfConstruction}, {"--ef-search", c.index.EfSearch}} {
		if f.v < 1 {
			return nil, fmt.Errorf("%s %d: must be > 0", f.name, f.v)
		}
	}
	var ve *engine.ValidationError
	if err := c.index.Validate(); errors.As(err, &ve) {
		flag := map[string]string{"index.m": "--index-m", "index.ef_construction": "--ef-construction", "index.ef_search": "--ef-search"}[ve.Field]
		return nil, fmt.Errorf("%s %s: %s", flag, ve.Value, ve.Reason)
	} else if err != nil {
		return nil, err
	}
	if c.diskFault != "" {
		sp, err := disk.Parse(c.diskFault)
		if err != nil {
			return nil, fmt.Errorf("--disk-fault: %w", err)
		}
		if sp.Mode == disk.ModeLie {
			return nil, errors.New("--disk-fault lie: not a run-time fault")
		}
	}
	return c, nil
}

// Version is reported by --version and /health; cmd/engramd sets it from its
// build-time version.
var Version = "dev"

// Run runs engramd with args until ctx is done, then drains and returns the
// exit code.
//
// `engramd backup ...` and `engramd restore ...` run the backup and restore
// subcommands instead (backup.go).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "backup":
			return runBackup(ctx, args[1:], stdout, stderr)
		case "restore":
			return runRestore(ctx, args[1:], stdout, stderr)
		}
	}
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "engramd:", err)
		return exitUsage
	}
	if c.version {
		fmt.Fprintln(stdout, "engramd", Version)
		return exitOK
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if c.mutexFrac > 0 {
		runtime.SetMutexProfileFraction(c.mutexFrac)
	}
	if c.blockRate > 0 {
		runtime.SetBlockProfileRate(c.blockRate)
	}
	var keys *server.KeySet
	if c.apiKeyFile != "" {
		b, err := os.ReadFile(c.apiKeyFile)
		if err != nil {
			fmt.Fprintf(stderr, "engramd: --api-key-file: %v\n", err)
			return exitUsage
		}
		if keys, err = server.ParseKeys(c.apiKeyFile, b); err != nil {
			fmt.Fprintf(stderr, "engramd: --api-key-file: %v\n", err)
			return exitUsage
		}
	}
	if err := os.MkdirAll(c.data, 0o755); err != nil {
		fmt.Fprintf(stderr, "engramd: --data: %v\n", err)
		return exitUsage
	}
	opts := engine.Options{Dim: c.dim, NoSync: !c.sync, Index: c.index}
	var dfs *disk.FS
	if c.admin || c.diskFault != "" || c.unsafeFlush > 0 {
		// The engine's files go through the chaos disk wrapper: a pass-through
		// until a fault is set.
		dfs = disk.New(nil)
		if c.diskFault != "" {
			sp, _ := disk.Parse(c.diskFault)
			dfs.Set(sp)
		}
		if c.unsafeFlush > 0 {
			// A test mode: WAL writes wait in memory for up to this long while
			// every fsync claims success, so a 2xx no longer means durable.
			dfs.Set(disk.Spec{Mode: disk.ModeLie, Flush: c.unsafeFlush})
			fmt.Fprintf(stderr, "engramd: UNSAFE: acknowledging writes up to %s before they are durable (--unsafe-ack-before-durable): a crash loses them\n", c.unsafeFlush)
		}
		opts.FS = dfs
	}
	st, err := engine.Open(c.data, opts)
	if err != nil {
		fmt.Fprintf(stderr, "engramd: %v\n", err)
		return exitFail
	}
	staging := filepath.Join(c.data, stagingName)
	os.RemoveAll(staging) // left by a backup interrupted by a crash
	scfg := server.Config{Store: st, Keys: keys, MaxInflight: c.maxInflight, MaxBodyBytes: c.maxBody, Version: Version, Logger: log,
		BackupDir: c.backupDir, BackupStaging: staging}
	if c.admin {
		mux := http.NewServeMux()
		mux.Handle(disk.AdminPath, disk.Handler(dfs))
		scfg.Admin = mux
	}
	srv, err := server.New(scfg)
	if err != nil {
		st.Close()
		fmt.Fprintf(stderr, "engramd: %v\n", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		st.Close()
		fmt.Fprintf(stderr, "engramd: --addr: %v\n", err)
		return exitUsage
	}
	hs := &http.Server{
		Handler:           srv,
		ReadTimeout:       c.readTimeout,
		ReadHeaderTimeout: min(c.readTimeout, 10*time.Second),
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    1 << 20, // a recall cue of 768 floats in the URL is 8–12 KB
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	auth := "off"
	if keys.Enabled() {
		auth = fmt.Sprintf("on (%d keys)", keys.Len())
	}
	mems := 0
	for _, sp := range st.Spaces() {
		mems += st.Count(sp)
	}
	backups := "off"
	if c.backupDir != "" {
		backups = c.backupDir
	}
	fmt.Fprintf(stdout, "engramd: listening on http://%s (data %s, %d memories, sync %v, auth %s, max in-flight %d, backups %s, recovered in %s)\n",
		ln.Addr(), c.data, mems, c.sync, auth, c.maxInflight, backups, st.RecoveryTime().Round(time.Millisecond))
	if rec := st.Recovery(); rec.Memories > 0 {
		fmt.Fprintf(stdout, "engramd: index: %d memories reused from its snapshot, %d being re-indexed in the background\n", rec.IndexReused, rec.Reindexed)
		for _, note := range rec.IndexNotes {
			fmt.Fprintf(stdout, "engramd: index: %s\n", note)
		}
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	code := exitOK
	select {
	case err := <-serveErr:
		fmt.Fprintf(stderr, "engramd: serve: %v\n", err)
		code = exitFail
	case <-ctx.Done():
		fmt.Fprintf(stdout, "engramd: shutting down: draining %d requests in flight (up to %s)\n", srv.Inflight(), c.drainTimeout)
		dctx, cancel := context.WithTimeout(context.Background(), c.drainTimeout)
		err := hs.Shutdown(dctx)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "engramd: drain: %v; closing the remaining connections\n", err)
			hs.Close()
			code = exitFail
		}
	}
	if err := st.Close(); err != nil {
		fmt.Fprintf(stderr, "engramd: close store: %v\n", err)
		return exitFail
	}
	if code == exitOK {
		fmt.Fprintln(stdout, "engramd: stopped cleanly")
	}
	return code
}
