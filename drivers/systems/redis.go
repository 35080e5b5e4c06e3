package systems

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartRedis starts a fresh redis-server on a free port of 127.0.0.1 with
// persistence in an append-only file (RDB snapshots off) under a new
// directory, and waits until it answers PING.
func StartRedis(ctx context.Context, opts Options) (*System, error) {
	bin, err := redisBin(opts.Bin)
	if err != nil {
		return nil, err
	}
	version := redisVersion(bin)
	root, err := os.MkdirTemp(opts.TempDir, "engram-bench-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("redis: %w", err)
	}
	fsync := "always"
	if opts.NoSync {
		fsync = "everysec"
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
			"--dir", data, "--daemonize", "no", "--save", "",
			"--appendonly", "yes", "--appendfsync", fsync,
			"--logfile", "")
		srv, err := startProcess(cmd, filepath.Join(root, "redis.log"))
		if err != nil {
			lastErr = err
			break
		}
		err = waitReady(ctx, srv, 30*time.Second, func() error { return redisPing(addr) })
		if err != nil {
			srv.stop(context.Background(), syscall.SIGKILL, time.Second)
			lastErr = err
			if strings.Contains(err.Error(), "Address already in use") {
				continue // lost the race for the port
			}
			break
		}
		s := &System{
			Name:     "redis",
			Target:   addr,
			DataDir:  data,
			PID:      cmd.Process.Pid,
			Version:  version,
			Settings: []string{"appendonly yes", "appendfsync " + fsync, "save \"\" (no RDB snapshots)"},
		}
		s.stop = func(ctx context.Context) error {
			// SIGTERM: redis fsyncs the AOF and exits.
			err := srv.stop(ctx, syscall.SIGTERM, 30*time.Second)
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
	return nil, fmt.Errorf("redis: start %s: %w", bin, lastErr)
}

// redisBin returns bin when given, else redis-server from PATH.
func redisBin(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis: redis-server %w (apt-get install -y redis-server)", ErrNotInstalled)
	}
	return p, nil
}

// redisPing sends PING in the inline protocol and wants +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("PING answered " + strings.TrimSpace(line))
	}
	return nil
}

// redisVersion returns "redis-server 7.0.15" from `redis-server --version`.
func redisVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "redis-server (version unknown)"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "redis-server " + v
		}
	}
	return strings.TrimSpace(string(out))
}
