package systems_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
)

func TestLaunchers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inProc   bool
		settings string // a setting that must be listed
	}{
		{name: "redis", settings: "appendfsync always"},
		{name: "postgres", settings: "synchronous_commit=on"},
		{name: "embedded", inProc: true, settings: "pebble Sync"},
	} {
		t.Run(tc.name+" starts fresh, is measurable, and stops cleanly", func(t *testing.T) {
			s := systemstest.Start(t, tc.name, systems.Options{})
			if tc.inProc != s.InProcess {
				t.Errorf("InProcess = %v", s.InProcess)
			}
			if tc.inProc {
				if s.PID != os.Getpid() || s.Target != "" {
					t.Errorf("in-process system: pid %d target %q", s.PID, s.Target)
				}
			} else {
				if !strings.Contains(s.Target, "127.0.0.1:") {
					t.Errorf("target %q is not on loopback", s.Target)
				}
				if s.PID == os.Getpid() || s.PID <= 0 {
					t.Errorf("pid %d", s.PID)
				}
				if _, err := os.Stat(s.DataDir); err != nil {
					t.Errorf("data dir: %v", err)
				}
			}
			if !strings.Contains(strings.Join(s.Settings, ";"), tc.settings) {
				t.Errorf("settings %q lack %q", s.Settings, tc.settings)
			}
			m, err := systems.MeasureMemory(s.PID, s.Tree)
			if err != nil {
				t.Fatal(err)
			}
			if m.Bytes < 1<<20 || m.Processes < 1 {
				t.Errorf("memory %+v: implausible for a running server", m)
			}
			if tc.name == "postgres" && m.Processes < 3 {
				t.Errorf("postgres tree has %d processes; want the postmaster and its helpers", m.Processes)
			}
			if !tc.inProc {
				du, err := systems.DiskUsage(s.DataDir)
				if err != nil {
					t.Fatal(err)
				}
				if du <= 0 {
					t.Errorf("disk usage %d of a started server's data dir", du)
				}
			}
			dir := s.DataDir
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
				t.Errorf("directory %s left behind after Stop (%v)", filepath.Dir(dir), err)
			}
			if !tc.inProc {
				if _, err := os.FindProcess(s.PID); err == nil {
					if _, err := os.Stat("/proc/" + strconv.Itoa(s.PID)); err == nil {
						t.Errorf("server pid %d still running after Stop", s.PID)
					}
				}
			}
		})
	}
}

func TestDiskUsageCountsBlocks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "b"), make([]byte, 50_000), 0o644); err != nil {
		t.Fatal(err)
	}
	du, err := systems.DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if du < 150_000 || du > 400_000 {
		t.Errorf("disk usage %d for 150 kB of files", du)
	}
	if _, err := systems.DiskUsage(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing directory is empty, got %v", err)
	}
}

func TestSamplerKeepsStartEndAndPeak(t *testing.T) {
	dir := t.TempDir()
	s := systems.NewSampler(context.Background(), systems.SamplerConfig{PID: os.Getpid(), Dir: dir, Interval: 10 * time.Millisecond})
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i) | 1 // touch every page
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), buf[:1<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	s.Mark()
	keep := buf[len(buf)-1]
	if err := os.Remove(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	fp := s.Stop()
	if fp.MemoryErr != nil || fp.DiskErr != nil {
		t.Fatal(fp.MemoryErr, fp.DiskErr)
	}
	if fp.Samples < 2 || fp.PeakMemory < 64<<20 || fp.PeakMemory < fp.End.Memory.Bytes {
		t.Errorf("samples %d, end %d, peak %d: the 64 MiB buffer should show in the peak (%d)", fp.Samples, fp.End.Memory.Bytes, fp.PeakMemory, keep)
	}
	if fp.Start.DiskBytes > 8192 || fp.End.DiskBytes < 1<<20 || fp.PeakDisk < 1<<20 {
		t.Errorf("disk start %d end (at Mark) %d peak %d, want an empty directory, 1 MiB, 1 MiB", fp.Start.DiskBytes, fp.End.DiskBytes, fp.PeakDisk)
	}
	if again := s.Stop(); again.Samples != fp.Samples {
		t.Errorf("second Stop changed the footprint")
	}
}

func TestSamplerWithNothingToMeasure(t *testing.T) {
	fp := systems.NewSampler(context.Background(), systems.SamplerConfig{}).Stop()
	if fp.MemoryErr == nil || fp.DiskErr == nil {
		t.Errorf("errors %v, %v: want both to say there was nothing to measure", fp.MemoryErr, fp.DiskErr)
	}
}

// engramdBinary builds cmd/engramd when the module has it (it comes with
// the engramd branch); otherwise the engram launcher test skips.
func TestEngramdLauncher(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	s := systemstest.Start(t, "engram", systems.Options{Bin: bin, Dim: 64})
	if !strings.HasPrefix(s.Target, "http://127.0.0.1:") || s.PID <= 0 || s.InProcess {
		t.Errorf("system %+v", s)
	}
	resp, err := http.Get(s.Target + "/health/alive")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", err, resp)
	}
	resp.Body.Close()
	if m, err := systems.MeasureMemory(s.PID, false); err != nil || m.Bytes < 1<<20 {
		t.Errorf("memory %+v %v", m, err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(s.DataDir)); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
}

func TestEngramdMissingBinary(t *testing.T) {
	l, _ := systems.Lookup("engram")
	err := l.Installed(systems.Options{Bin: "/nonexistent/engramd"})
	if !errors.Is(err, systems.ErrNotInstalled) {
		t.Errorf("err %v, want ErrNotInstalled", err)
	}
}

func TestCheckProcess(t *testing.T) {
	cases := []struct {
		name   string
		pid    int
		noProc bool
		want   string
	}{
		{"this process", os.Getpid(), false, ""},
		{"no such process", 1 << 30, true, "pid 1073741824: no such process"},
		{"zero", 0, false, "pid 0: not a process id"},
		{"negative", -5, false, "pid -5: not a process id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := systems.CheckProcess(c.pid)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckProcess(%d) = %v", c.pid, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckProcess(%d) = %v, want %q", c.pid, err, c.want)
			}
			if errors.Is(err, systems.ErrNoProcess) != c.noProc {
				t.Errorf("errors.Is(%v, ErrNoProcess) = %v, want %v", err, !c.noProc, c.noProc)
			}
		})
	}
}
