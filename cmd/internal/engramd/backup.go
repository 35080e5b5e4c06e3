package engramd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/engram-bench/engram-bench/engine"
)

// stagingName is the directory inside the data directory where an online
// backup stages its checkpoint (hard links to the live sstables).
const stagingName = ".backup-staging"

// runBackup is `engramd backup --data DIR --out BACKUP [--incremental-from PREV]`:
// a backup of a data directory no engramd is serving (a running engramd
// holds the directory's lock: use POST /api/v1/admin/backup instead).
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("engramd backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory to back up (no engramd may be serving it)")
	out := fs.String("out", "", "directory to write the backup to (must not exist)")
	parent := fs.String("incremental-from", "", "previous backup of the chain: take an incremental backup that copies only new files")
	dim := fs.Int("dim", engine.DefaultDim, "embedding dimension of the store")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: engramd backup --data DIR --out BACKUP [--incremental-from PREV]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage(stderr, "backup: unexpected argument %q", fs.Arg(0))
	case *data == "":
		return usage(stderr, "backup: --data: required")
	case *out == "":
		return usage(stderr, "backup: --out: required")
	}
	if _, err := os.Stat(*data); err != nil {
		return usage(stderr, "backup: --data %s: %v", *data, err)
	}
	if _, err := os.Lstat(*out); err == nil {
		return usage(stderr, "backup: --out %s: already exists (a backup never overwrites one)", *out)
	}
	st, err := engine.Open(*data, engine.Options{Dim: *dim})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock") {
			fmt.Fprintf(stderr, "engramd: backup: %v\nengramd: is an engramd serving %s? back it up online with POST /api/v1/admin/backup (engramd --backup-dir)\n", err, *data)
		} else {
			fmt.Fprintf(stderr, "engramd: backup: %v\n", err)
		}
		return exitFail
	}
	m, err := st.Backup(ctx, *out, engine.BackupOptions{Parent: *parent, Staging: filepath.Join(*data, stagingName), Version: "engramd " + Version})
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "engramd: %v\n", err)
		if errors.Is(err, engine.ErrBackup) {
			return exitUsage
		}
		return exitFail
	}
	fmt.Fprintf(stdout, "engramd: %s backup %s of %d memories: %d files, %s copied of %s, in %s\n",
		m.Kind, m.ID, m.MemoryCount(), len(m.Files), sizeOf(m.CopiedBytes), sizeOf(m.TotalBytes), m.FinishedAt.Sub(m.StartedAt).Round(time.Millisecond))
	fmt.Fprintf(stdout, "engramd: wrote %s (chain of %d: %s)\n", *out, len(m.Chain), strings.Join(m.Chain, ", "))
	return exitOK
}

// runRestore is `engramd restore --from FULL[,INCREMENTAL...] --data NEWDIR`.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("engramd restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the chain to restore, oldest first: the full backup, then its incrementals, comma-separated")
	data := fs.String("data", "", "new data directory to restore into (must not exist, or be empty)")
	dryRun := fs.Bool("dry-run", false, "verify the chain and every checksum, write nothing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: engramd restore --from FULL[,INCREMENTAL...] --data NEWDIR [--dry-run]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var dirs []string
	for _, d := range strings.Split(*from, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	switch {
	case fs.NArg() > 0:
		return usage(stderr, "restore: unexpected argument %q", fs.Arg(0))
	case len(dirs) == 0:
		return usage(stderr, "restore: --from: required (the full backup, then its incrementals, comma-separated)")
	case *data == "" && !*dryRun:
		return usage(stderr, "restore: --data: required")
	}
	if *dryRun {
		t0 := time.Now()
		c, err := engine.VerifyChain(ctx, dirs)
		if err != nil {
			// As the restore itself says it: "engramd: backup refused: ...".
			fmt.Fprintf(stderr, "engramd: %v\n", err)
			return exitFail
		}
		describeChain(stdout, c, time.Since(t0))
		fmt.Fprintln(stdout, "engramd: dry run: nothing written")
		return exitOK
	}
	rep, err := engine.Restore(ctx, dirs, *data)
	if err != nil {
		fmt.Fprintf(stderr, "engramd: %v\n", err)
		fmt.Fprintf(stderr, "engramd: nothing was written to %s\n", *data)
		return exitFail
	}
	describeChain(stdout, rep.Chain, rep.Verify)
	t := rep.Chain.Target()
	fmt.Fprintf(stdout, "engramd: restored %s into %s in %s: %d memories as of %s\n",
		t.ID, *data, rep.Copy.Round(time.Millisecond), t.MemoryCount(), t.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(stdout, "engramd: start it with: engramd --data %s\n", *data)
	return exitOK
}

func describeChain(w io.Writer, c *engine.Chain, verify time.Duration) {
	t := c.Target()
	incs := len(c.Backups) - 1
	fmt.Fprintf(w, "engramd: verified chain of %s (full %s", plural(len(c.Backups), "backup"), c.Backups[0].ID)
	if incs > 0 {
		fmt.Fprintf(w, ", %s up to %s", plural(incs, "incremental"), t.ID)
	}
	fmt.Fprintf(w, "): %d files, %s, every SHA-256 matches (%s)\n", c.Files, sizeOf(c.Bytes), verify.Round(time.Millisecond))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func sizeOf(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func usage(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "engramd: "+format+"\n", args...)
	return exitUsage
}
