package systems

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// StartEngramd starts a fresh engramd (the engine behind Engram's REST API)
// on a free port of 127.0.0.1 with its data in a new directory, and waits
// until GET /health/alive answers 200. The binary is Options.Bin, else
// engramd on PATH (go build -o bin/engramd ./cmd/engramd), else
// Options.EngramdCommand.
func StartEngramd(ctx context.Context, opts Options) (*System, error) {
	command, err := engramdCommand(opts)
	if err != nil {
		return nil, err
	}
	bin := strings.Join(command, " ")
	root, err := os.MkdirTemp(opts.TempDir, "engram-bench-engramd-")
	if err != nil {
		return nil, fmt.Errorf("engramd: %w", err)
	}
	syncFlag := "--sync=true"
	if opts.NoSync {
		syncFlag = "--sync=false"
	}
	e, err := OwnEngramd(ctx, EngramdConfig{Command: command, DataDir: filepath.Join(root, "data"), NoSync: opts.NoSync, Dim: opts.Dim,
		Args: []string{"--max-inflight", "-1"}, LogPath: filepath.Join(root, "engramd.log")})
	if err != nil {
		if e != nil {
			e.Stop(context.Background(), time.Second)
		}
		os.RemoveAll(root)
		return nil, fmt.Errorf("engramd: start %s: %w", bin, err)
	}
	s := &System{
		Name:     "engram",
		Target:   e.URL(),
		DataDir:  e.DataDir(),
		PID:      e.PID(),
		Version:  engramdVersion(command),
		Settings: []string{syncFlag, "--max-inflight -1 (no server-side shedding, like the other systems)"},
	}
	s.stop = func(ctx context.Context) error {
		// SIGTERM: engramd drains in-flight requests and closes the engine.
		err := e.Stop(ctx, 60*time.Second)
		if !opts.Keep {
			if rerr := os.RemoveAll(root); err == nil {
				err = rerr
			}
		}
		return err
	}
	return s, nil
}

// engramdCommand is the command that runs engramd: Options.Bin, else
// engramd on PATH, else Options.EngramdCommand.
func engramdCommand(o Options) ([]string, error) {
	if o.Bin != "" {
		if _, err := os.Stat(o.Bin); err != nil {
			return nil, fmt.Errorf("engramd: %s: %w", o.Bin, ErrNotInstalled)
		}
		return []string{o.Bin}, nil
	}
	if p, err := exec.LookPath("engramd"); err == nil {
		return []string{p}, nil
	}
	if len(o.EngramdCommand) > 0 {
		return o.EngramdCommand, nil
	}
	return nil, fmt.Errorf("engramd: no engramd on PATH (%w): build it with go build -o bin/engramd ./cmd/engramd and pass --bin engram=bin/engramd", ErrNotInstalled)
}

func httpAlive(url string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func engramdVersion(command []string) string {
	out, err := exec.Command(command[0], append(command[1:len(command):len(command)], "--version")...).Output()
	if err != nil {
		return "engramd (version unknown)"
	}
	return "engramd " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "engramd"))
}
