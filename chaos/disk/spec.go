package disk

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Mode is what a disk fault does.
type Mode string

// Modes.
const (
	// ModeError fails matching operations with an I/O error (ErrInjected).
	ModeError Mode = "error"
	// ModeSlow delays matching operations: an exponential delay with mean
	// Latency, capped at 20× the mean (a slow or overloaded disk).
	ModeSlow Mode = "slow"
	// ModeLie makes WAL files lie about durability: writes are held in
	// memory and reach the file only every Flush, and every sync returns at
	// once, so a process killed meanwhile loses writes it acknowledged. It
	// exists to prove that the acknowledged-write check catches such a
	// target; it is switched on only when a file is created (engramd's
	// hidden --unsafe-ack-before-durable).
	ModeLie Mode = "lie"
)

// Op classes a fault can match.
const (
	OpRead  = "read"  // Read, ReadAt, Open
	OpWrite = "write" // Write, WriteAt, Create, Preallocate, ReuseForWrite
	OpSync  = "sync"  // Sync, SyncData, SyncTo, Flush
)

// File classes a fault can match.
const (
	FilesAll      = "all"
	FilesWAL      = "wal"      // write-ahead log files (*.log)
	FilesSST      = "sst"      // sstables (*.sst)
	FilesManifest = "manifest" // MANIFEST-*
)

// Spec is one disk fault. Its text form (String, Parse) is
//
//	error ops=sync,write files=wal prob=1 seed=1
//	slow latency=5ms ops=sync files=all seed=1
//	lie flush=5s
//
// and every field is always written, so Parse(s.String()) == s.
type Spec struct {
	Mode Mode
	// Ops is the sorted set of op classes hit (error, slow). Default for
	// error: sync and write; for slow: sync and write.
	Ops []string
	// Files is the file class hit (error, slow). Default all.
	Files string
	// Prob is the probability that a matching op fails (error). Default 1.
	Prob float64
	// Latency is the mean added delay (slow). Required for slow.
	Latency time.Duration
	// Flush is how often a lying WAL writes its buffer out (lie). Default 5 s.
	Flush time.Duration
	// Seed drives Prob and the delays. Default 1.
	Seed uint64
}

// String is the spec's text form.
func (s Spec) String() string {
	switch s.Mode {
	case ModeLie:
		return fmt.Sprintf("lie flush=%s", s.Flush)
	case ModeSlow:
		return fmt.Sprintf("slow latency=%s ops=%s files=%s seed=%d", s.Latency, strings.Join(s.Ops, ","), s.Files, s.Seed)
	}
	return fmt.Sprintf("%s ops=%s files=%s prob=%s seed=%d", s.Mode, strings.Join(s.Ops, ","), s.Files, strconv.FormatFloat(s.Prob, 'g', -1, 64), s.Seed)
}

// Parse reads a spec's text form. Keys left out take their defaults;
// errors name the key and value.
func Parse(text string) (Spec, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return Spec{}, fmt.Errorf("disk fault: empty (want error, slow or lie, then key=value settings)")
	}
	s := Spec{Mode: Mode(f[0]), Files: FilesAll, Prob: 1, Seed: 1, Flush: 5 * time.Second}
	switch s.Mode {
	case ModeError, ModeSlow:
		s.Ops = []string{OpSync, OpWrite}
	case ModeLie:
	default:
		return Spec{}, fmt.Errorf("disk fault %q: unknown mode (want error, slow or lie)", f[0])
	}
	seen := map[string]bool{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return Spec{}, fmt.Errorf("disk fault %q: want key=value", kv)
		}
		if seen[k] {
			return Spec{}, fmt.Errorf("disk fault: %s given twice", k)
		}
		seen[k] = true
		allowed := map[Mode]string{ModeError: "ops files prob seed", ModeSlow: "latency ops files seed", ModeLie: "flush"}[s.Mode]
		if !strings.Contains(" "+allowed+" ", " "+k+" ") {
			return Spec{}, fmt.Errorf("disk fault %s: unknown key %q (have %s)", s.Mode, k, allowed)
		}
		switch k {
		case "ops":
			ops := strings.Split(v, ",")
			set := map[string]bool{}
			for _, o := range ops {
				switch o {
				case OpRead, OpWrite, OpSync:
					set[o] = true
				case "all":
					set[OpRead], set[OpWrite], set[OpSync] = true, true, true
				default:
					return Spec{}, fmt.Errorf("disk fault ops=%s: unknown op %q (want read, write, sync or all)", v, o)
				}
			}
			s.Ops = s.Ops[:0:0]
			for o := range set {
				s.Ops = append(s.Ops, o)
			}
			sort.Strings(s.Ops)
		case "files":
			switch v {
			case FilesAll, FilesWAL, FilesSST, FilesManifest:
				s.Files = v
			default:
				return Spec{}, fmt.Errorf("disk fault files=%s: want all, wal, sst or manifest", v)
			}
		case "prob":
			p, err := strconv.ParseFloat(v, 64)
			if err != nil || !(p > 0 && p <= 1) {
				return Spec{}, fmt.Errorf("disk fault prob=%s: want a probability in (0, 1]", v)
			}
			s.Prob = p
		case "seed":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return Spec{}, fmt.Errorf("disk fault seed=%s: want an unsigned integer", v)
			}
			s.Seed = n
		case "latency", "flush":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > time.Minute {
				return Spec{}, fmt.Errorf("disk fault %s=%s: want a duration in (0, 1m]", k, v)
			}
			if k == "latency" {
				s.Latency = d
			} else {
				s.Flush = d
			}
		}
	}
	sort.Strings(s.Ops)
	if s.Mode == ModeSlow && s.Latency <= 0 {
		return Spec{}, fmt.Errorf("disk fault slow: latency=DURATION is required")
	}
	if math.IsNaN(s.Prob) {
		return Spec{}, fmt.Errorf("disk fault prob: NaN")
	}
	return s, nil
}
