package capacity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/workloads"
)

// TestSizeChecksTargetFirst gives Size a process or a data directory that
// cannot be measured and checks it fails at once, naming what is wrong,
// before loading anything (the null driver would accept the load).
func TestSizeChecksTargetFirst(t *testing.T) {
	sc, err := workloads.Parse("tiny.toml", []byte(tinyScenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		pid    int
		dir    string
		want   string
		noProc bool
	}{
		{"no such process", 1 << 30, dir, "the process to measure: pid 1073741824: no such process", true},
		{"missing directory", os.Getpid(), filepath.Join(dir, "missing"), "the data directory to measure: stat " + filepath.Join(dir, "missing"), false},
		{"not a directory", os.Getpid(), file, file + " is not a directory", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := drivers.Plan{Scenario: sc, Seed: 1, Driver: "null", Concurrency: 4, MaxLag: time.Second}
			cfg := SizingConfig{Memories: 1000, Rate: 10, Duration: 2 * time.Second, PID: c.pid, DataDir: c.dir}
			start := time.Now()
			s, res, err := Size(context.Background(), p, cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Size = %v, want an error naming %q", err, c.want)
			}
			if errors.Is(err, systems.ErrNoProcess) != c.noProc {
				t.Errorf("errors.Is(%v, ErrNoProcess) != %v", err, c.noProc)
			}
			if s != nil || res != nil {
				t.Errorf("Size returned a sizing or a result for a target it cannot measure")
			}
			t.Logf("failed after %s", time.Since(start))
		})
	}
}
