// Command engramd serves the engine over HTTP with Engram's REST API, so that
// every network scenario runs on one machine with no outside server.
//
//	engramd --addr 127.0.0.1:7432 --data ./engramd-data
//	engram-bench run --scenario quickstart --driver engram --target http://127.0.0.1:7432
//
// SIGTERM or SIGINT stops accepting connections, drains the requests in
// flight, flushes the store and exits 0. With --sync (the default) a memory
// is on disk before its remember is answered 2xx, so even SIGKILL loses no
// acknowledged write. See docs/engramd.md.
//
// Backups (docs/disaster-recovery.md): with --backup-dir, POST
// /api/v1/admin/backup takes a consistent backup while serving, and
//
//	engramd backup --data DIR --out BACKUP [--incremental-from PREV]
//	engramd restore --from FULL[,INCREMENTAL...] --data NEWDIR
//
// back up a directory no engramd serves and restore a verified chain.
package main

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
	"syscall"
	"time"

	"github.com/engram-bench/engram-bench/engine"
	"github.com/engram-bench/engram-bench/engine/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes: 0 clean shutdown, 1 a failure while serving or draining, 2 a
// usage or configuration error.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
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
	backupDir    string
	version      bool
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
	fs.StringVar(&c.backupDir, "backup-dir", "", "directory for online backups (POST /api/v1/admin/backup); empty: backups off")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
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
	}
	return c, nil
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
		fmt.Fprintln(stdout, "engramd", version)
		return exitOK
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
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
	st, err := engine.Open(c.data, engine.Options{Dim: c.dim, NoSync: !c.sync})
	if err != nil {
		fmt.Fprintf(stderr, "engramd: %v\n", err)
		return exitFail
	}
	staging := filepath.Join(c.data, stagingName)
	os.RemoveAll(staging) // left by a backup interrupted by a crash
	srv, err := server.New(server.Config{Store: st, Keys: keys, MaxInflight: c.maxInflight, MaxBodyBytes: c.maxBody, Version: version, Logger: log,
		BackupDir: c.backupDir, BackupStaging: staging})
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
