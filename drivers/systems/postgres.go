package systems

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostgresDatabase and PostgresRole are the database and superuser a started
// PostgreSQL serves (trust authentication, loopback only).
const (
	PostgresDatabase = "postgres"
	PostgresRole     = "engram"
)

// StartPostgres initialises a fresh PostgreSQL cluster (initdb) in a new
// directory and starts postgres on a free port of 127.0.0.1 (no Unix
// socket), durable by default. As root it runs as Options.PostgresUser.
func StartPostgres(ctx context.Context, opts Options) (*System, error) {
	binDir, err := postgresBinDir(opts.Bin)
	if err != nil {
		return nil, err
	}
	var uid, gid uint32
	asOther := os.Geteuid() == 0
	if asOther {
		name := opts.PostgresUser
		if name == "" {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("postgres: running as root, and postgres refuses to run as root: user %q to run it as: %v (install postgresql, which creates it, or create one with useradd --system %s)", name, err, name)
		}
		id, _ := strconv.ParseUint(u.Uid, 10, 32)
		g, _ := strconv.ParseUint(u.Gid, 10, 32)
		uid, gid = uint32(id), uint32(g)
	}
	root, err := os.MkdirTemp(opts.TempDir, "engram-bench-postgres-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	fail := func(err error) (*System, error) {
		os.RemoveAll(root)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	data := filepath.Join(root, "data")
	logPath := filepath.Join(root, "postgres.log")
	if asOther {
		if err := os.Chown(root, int(uid), int(gid)); err != nil {
			return fail(err)
		}
		if err := checkTraversable(filepath.Dir(root), uid); err != nil {
			return fail(err)
		}
	}
	prep := func(cmd *exec.Cmd) {
		if asOther {
			runAs(cmd, uid, gid)
		}
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "LC_ALL=C")
	}
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", data, "-U", PostgresRole, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	prep(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 8)))
	}
	syncCommit := "on"
	if opts.NoSync {
		syncCommit = "off"
	}
	settings := []string{
		"fsync=on",
		"synchronous_commit=" + syncCommit,
		"max_connections=300",
		"shared_buffers=128MB",
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		args := []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="}
		for _, s := range settings {
			args = append(args, "-c", s)
		}
		cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
		prep(cmd)
		srv, err := startProcess(cmd, logPath)
		if err != nil {
			lastErr = err
			break
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = waitReady(ctx, srv, 60*time.Second, func() error { return postgresReady(data, addr) })
		if err != nil {
			srv.stop(context.Background(), syscall.SIGQUIT, 5*time.Second)
			lastErr = err
			if strings.Contains(err.Error(), "Address already in use") || strings.Contains(err.Error(), "could not bind") {
				continue
			}
			break
		}
		s := &System{
			Name:     "postgres",
			Target:   fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", PostgresRole, addr, PostgresDatabase),
			DataDir:  data,
			PID:      cmd.Process.Pid,
			Tree:     true,
			Version:  postgresVersion(binDir),
			Settings: settings,
		}
		s.stop = func(ctx context.Context) error {
			// SIGINT is postgres's "fast" shutdown: backends end, a
			// shutdown checkpoint is written.
			err := srv.stop(ctx, syscall.SIGINT, 60*time.Second)
			if !opts.Keep {
				if rerr := os.RemoveAll(root); err == nil {
					err = rerr
				}
			}
			return err
		}
		return s, nil
	}
	return fail(lastErr)
}

// postgresReady checks the status line of postmaster.pid ("ready") and that
// the port accepts connections.
func postgresReady(data, addr string) error {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return errors.New("no postmaster.pid yet")
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 || strings.TrimSpace(lines[7]) != "ready" {
		return errors.New("postmaster not ready yet")
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// postgresBinDir finds the directory holding initdb and postgres: dir if
// given, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin,
// else the directory of initdb on PATH.
func postgresBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("postgres: %s has no initdb and postgres: %w", dir, ErrNotInstalled)
		}
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	cands, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(cands, func(a, b int) bool { return pgMajor(cands[a]) > pgMajor(cands[b]) })
	for _, d := range cands {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", fmt.Errorf("postgres: initdb and postgres %w (apt-get install -y postgresql)", ErrNotInstalled)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func postgresVersion(binDir string) string {
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "postgres (version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// checkTraversable fails when some directory from dir up to / cannot be
// searched by uid (not owner, no x for others), which would keep the
// postgres user out of its own data directory.
func checkTraversable(dir string, uid uint32) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		perm := st.Mode().Perm()
		if ok && sys.Uid != uid && perm&0o001 == 0 {
			return fmt.Errorf("directory %s (mode %v) cannot be entered by the user postgres runs as (uid %d): choose a temporary directory under a world-searchable path", d, perm, uid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func lastLines(s string, n int) string { return tailString(s, n) }

func tailString(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
