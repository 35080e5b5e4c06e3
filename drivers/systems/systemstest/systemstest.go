// Package systemstest starts real servers for tests: a fresh redis-server or
// PostgreSQL on 127.0.0.1, stopped (and its data removed) when the test ends.
//
// A server whose binaries are missing skips the test with the command that
// installs them, except under CI (CI=true), where .ci/run installs them and a
// missing server is a failure, so a broken install cannot pass as skips.
//
// Adding a server: register its launcher in package systems; Start finds it
// by driver name.
package systemstest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers/systems"
)

// Require skips the test (fails it under CI) when the system for the driver
// name is not installed, without starting it.
func Require(t testing.TB, name string) {
	t.Helper()
	l, ok := systems.Lookup(name)
	if !ok {
		t.Fatalf("no launcher for %q", name)
	}
	if err := l.Installed(systems.Options{}); err != nil {
		if errors.Is(err, systems.ErrNotInstalled) && os.Getenv("CI") != "true" {
			t.Skipf("%v — install it to run this test (.ci/run does)", err)
		}
		t.Fatalf("%s: %v", name, err)
	}
}

// Start starts a fresh system for the driver name and stops it at cleanup.
func Start(t testing.TB, name string, opts systems.Options) *systems.System {
	t.Helper()
	l, ok := systems.Lookup(name)
	if !ok {
		t.Fatalf("no launcher for %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := l.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, systems.ErrNotInstalled) && os.Getenv("CI") != "true" {
			t.Skipf("%v — install it to run this test (.ci/run does)", err)
		}
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return s
}

// built is the engramd binary shared by a test process that runs under Main.
var built struct {
	sync.Mutex
	main bool   // Main is running: build once into dir
	dir  string // removed when Main returns
	bin  string
}

// Main runs the package's tests (call it from TestMain: os.Exit(Main(m)))
// so that EngramdBinary builds engramd once for the whole package and
// removes it afterwards.
func Main(m *testing.M) int {
	built.Lock()
	built.main = true
	built.Unlock()
	code := m.Run()
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	return code
}

// EngramdBinary builds cmd/engramd of the module under test and returns its
// path: once per test process under Main, else into each test's temporary
// directory (the Go build cache makes every build after the first a link of
// a few seconds). It skips the test when the module has no cmd/engramd.
func EngramdBinary(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.bin != "" {
		return built.bin
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "engramd")); err != nil {
		t.Skip("cmd/engramd is not in this checkout: nothing to launch")
	}
	dir := t.TempDir()
	if built.main {
		if dir, err = os.MkdirTemp("", "engramd-test-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "engramd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/engramd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		if built.main {
			os.RemoveAll(dir)
		}
		t.Fatalf("go build ./cmd/engramd: %v\n%s", err, out)
	}
	if built.main {
		built.dir, built.bin = dir, bin
	}
	return bin
}
