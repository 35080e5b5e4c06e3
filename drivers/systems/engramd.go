package systems

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartEngramd starts a fresh engramd (the engine behind Engram's REST API)
// on a free port of 127.0.0.1 with its data in a new directory, and waits
// until GET /health/alive answers 200. The binary is Options.Bin, else
// engramd on PATH (go build -o bin/engramd ./cmd/engramd).
func StartEngramd(ctx context.Context, opts Options) (*System, error) {
	bin, err := engramdBin(opts.Bin)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp(opts.TempDir, "engram-bench-engramd-")
	if err != nil {
		return nil, fmt.Errorf("engramd: %w", err)
	}
	data := filepath.Join(root, "data")
	dim := opts.Dim
	if dim <= 0 {
		dim = 768
	}
	syncFlag := "--sync=true"
	if opts.NoSync {
		syncFlag = "--sync=false"
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--addr", addr, "--data", data, syncFlag, "--dim", strconv.Itoa(dim), "--max-inflight", "-1")
		srv, err := startProcess(cmd, filepath.Join(root, "engramd.log"))
		if err != nil {
			lastErr = err
			break
		}
		url := "http://" + addr
		err = waitReady(ctx, srv, 60*time.Second, func() error { return httpAlive(url + "/health/alive") })
		if err != nil {
			srv.stop(context.Background(), syscall.SIGKILL, time.Second)
			lastErr = err
			if strings.Contains(err.Error(), "address already in use") {
				continue
			}
			break
		}
		s := &System{
			Name:     "engram",
			Target:   url,
			DataDir:  data,
			PID:      cmd.Process.Pid,
			Version:  engramdVersion(bin),
			Settings: []string{syncFlag, "--max-inflight -1 (no server-side shedding, like the other systems)"},
		}
		s.stop = func(ctx context.Context) error {
			// SIGTERM: engramd drains in-flight requests and closes the engine.
			err := srv.stop(ctx, syscall.SIGTERM, 60*time.Second)
			if !opts.Keep {
				if rerr := os.RemoveAll(root); err == nil {
					err = rerr
				}
			}
			return err
		}
		return s, nil
	}
	os.RemoveAll(root)
	return nil, fmt.Errorf("engramd: start %s: %w", bin, lastErr)
}

func engramdBin(bin string) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("engramd: %s: %w", bin, ErrNotInstalled)
		}
		return bin, nil
	}
	p, err := exec.LookPath("engramd")
	if err != nil {
		return "", fmt.Errorf("engramd: no engramd on PATH (%w): build it with go build -o bin/engramd ./cmd/engramd and pass --bin engram=bin/engramd", ErrNotInstalled)
	}
	return p, nil
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

func engramdVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "engramd (version unknown)"
	}
	return "engramd " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "engramd"))
}
