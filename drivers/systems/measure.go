package systems

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Memory is what a process (tree) holds in RAM, in bytes.
type Memory struct {
	// Bytes is the proportional set size (PSS: private pages plus each shared
	// page divided by the processes sharing it), summed over the processes.
	// Where PSS cannot be read (another user's process without privileges)
	// it is the resident set size, which counts shared pages once per process.
	Bytes int64
	// Processes is how many processes were summed.
	Processes int
	// PSS is false when at least one process was measured by RSS instead.
	PSS bool
}

// ErrNoProcess is returned (wrapped) by CheckProcess when no process has
// the pid.
var ErrNoProcess = errors.New("no such process")

// CheckProcess returns nil when process pid is running and its memory and
// CPU time can be read from /proc, else an error naming the pid: one
// wrapping ErrNoProcess when no process has it, which a caller checks before
// a measurement that would otherwise read nothing.
func CheckProcess(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: not a process id (must be > 0)", pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	if _, _, err := processMemory(pid); err != nil {
		return fmt.Errorf("pid %d: cannot read its memory: %w", pid, err)
	}
	if _, err := CPUTime(pid); err != nil {
		return fmt.Errorf("pid %d: cannot read its CPU time: %w", pid, err)
	}
	return nil
}

// MeasureMemory measures process pid, and with tree its descendants too.
func MeasureMemory(pid int, tree bool) (Memory, error) {
	pids := []int{pid}
	if tree {
		pids = append(pids, descendants(pid)...)
	}
	m := Memory{PSS: true}
	for n, p := range pids {
		b, pss, err := processMemory(p)
		if err != nil {
			if n == 0 {
				return Memory{}, fmt.Errorf("measure memory of pid %d: %w", pid, err)
			}
			continue // a backend that exited meanwhile
		}
		m.Bytes += b
		m.Processes++
		m.PSS = m.PSS && pss
	}
	return m, nil
}

// processMemory returns the PSS of pid from smaps_rollup, else its VmRSS.
func processMemory(pid int) (int64, bool, error) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		if v, ok := kbField(b, "Pss:"); ok {
			return v, true, nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false, err
	}
	if v, ok := kbField(b, "VmRSS:"); ok {
		return v, false, nil
	}
	return 0, false, errors.New("no VmRSS in /proc status (a kernel thread or a zombie)")
}

// kbField finds "Name:   1234 kB" in b and returns it in bytes.
func kbField(b []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(name)) {
			continue
		}
		f := bytes.Fields(line[len(name):])
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return v * 1024, true
	}
	return 0, false
}

// descendants lists every process below pid, from /proc/*/stat.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the parent pid from /proc/<pid>/stat ("pid (comm) state ppid ...";
// comm may hold spaces and parentheses, so parse after the last ')').
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

// DiskUsage returns the bytes allocated on disk to the files under dir (as
// du counts them: blocks, so sparse and preallocated files count for what
// they occupy). Files that vanish during the walk are skipped.
func DiskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else if info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return total, nil
}

// Usage is one measurement of a system: its memory and its data directory.
type Usage struct {
	Memory    Memory
	DiskBytes int64
	At        time.Time
}

// Footprint is what a Sampler saw over a run.
type Footprint struct {
	// Start is the first measurement (the system before any load).
	Start Usage
	// End is the measurement current at the last Mark (the end of the
	// measured run), or the last one when Mark was never called.
	End Usage
	// PeakMemory and PeakDisk are the largest values seen, in bytes.
	PeakMemory, PeakDisk int64
	// Samples counts successful memory measurements.
	Samples int
	// MemoryErr and DiskErr are the first failures, when nothing could be
	// measured (no process to measure, no data directory given).
	MemoryErr, DiskErr error
}

// SamplerConfig says what a Sampler measures. A zero PID skips memory, an
// empty Dir skips disk.
type SamplerConfig struct {
	PID  int
	Tree bool
	Dir  string
	// Interval between measurements. Default 1 s.
	Interval time.Duration
}

// Sampler measures a system's memory and disk every interval in its own
// goroutine, keeping the first, the peak and the latest values.
type Sampler struct {
	cfg SamplerConfig

	mu       sync.Mutex
	fp       Footprint
	last     Usage
	marked   bool
	memOK    bool
	diskOK   bool
	started  bool
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// NewSampler takes a first measurement and starts sampling. Call Stop.
func NewSampler(ctx context.Context, cfg SamplerConfig) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	s := &Sampler{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go s.loop(ctx)
	return s
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Sampler) sample() {
	u := Usage{At: time.Now()}
	var memErr, diskErr error
	memOK, diskOK := false, false
	if s.cfg.PID > 0 {
		u.Memory, memErr = MeasureMemory(s.cfg.PID, s.cfg.Tree)
		memOK = memErr == nil
	}
	if s.cfg.Dir != "" {
		u.DiskBytes, diskErr = DiskUsage(s.cfg.Dir)
		diskOK = diskErr == nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if memErr != nil && s.fp.MemoryErr == nil {
		s.fp.MemoryErr = memErr
	}
	if diskErr != nil && s.fp.DiskErr == nil {
		s.fp.DiskErr = diskErr
	}
	if !memOK {
		u.Memory = s.last.Memory
	}
	if !diskOK {
		u.DiskBytes = s.last.DiskBytes
	}
	if memOK {
		s.fp.Samples++
		s.memOK = true
		s.fp.PeakMemory = max(s.fp.PeakMemory, u.Memory.Bytes)
	}
	if diskOK {
		s.diskOK = true
		s.fp.PeakDisk = max(s.fp.PeakDisk, u.DiskBytes)
	}
	if !s.started {
		s.fp.Start, s.started = u, true
	}
	s.last = u
}

// Mark takes a measurement now and keeps it as the end of the run (later
// samples still count for the peaks).
func (s *Sampler) Mark() {
	s.sample()
	s.mu.Lock()
	s.fp.End, s.marked = s.last, true
	s.mu.Unlock()
}

// Stop ends sampling and returns the footprint. Calls after the first return
// the same footprint.
func (s *Sampler) Stop() Footprint {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.sample()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.marked {
		s.fp.End = s.last
	}
	fp := s.fp
	if s.memOK {
		fp.MemoryErr = nil
	} else if fp.MemoryErr == nil && s.cfg.PID <= 0 {
		fp.MemoryErr = errors.New("no process to measure")
	}
	if s.diskOK {
		fp.DiskErr = nil
	} else if fp.DiskErr == nil && s.cfg.Dir == "" {
		fp.DiskErr = errors.New("no data directory to measure")
	}
	return fp
}

// CPUTime returns the CPU time process pid has used, user and system: the
// sum of its threads' scheduler run times (/proc/PID/task/*/schedstat, in
// nanoseconds), or, where those cannot be read, utime + stime from
// /proc/PID/stat (clock ticks, assumed 100 per second as on every Linux
// configuration Go supports).
func CPUTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err == nil {
		var total int64
		ok := true
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue // the thread exited
			}
			f := bytes.Fields(b)
			if len(f) < 1 {
				ok = false
				break
			}
			ns, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				ok = false
				break
			}
			total += ns
		}
		if ok && total > 0 {
			return time.Duration(total), nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time of pid %d: unreadable /proc stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time of pid %d: short /proc stat", pid)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu time of pid %d: unreadable utime/stime", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}
