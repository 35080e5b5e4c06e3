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
// back up a directory no engramd serves and restore a verified chain. The
// program itself lives in
// cmd/internal/engramd, which `engram-bench engramd` runs too.
package main

import (
	"context"
	"io"
	"os"

	"github.com/engram-bench/engram-bench/cmd/internal/engramd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	engramd.Version = version
	os.Exit(engramd.Main(os.Args[1:], os.Stdout, os.Stderr))
}

// run is engramd.Run (the tests call it directly).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	engramd.Version = version
	return engramd.Run(ctx, args, stdout, stderr)
}

const (
	exitOK    = engramd.ExitOK
	exitUsage = engramd.ExitUsage
)
