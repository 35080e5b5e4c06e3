package workloads

import (
	"fmt"
	"math"
	"time"
)

// DrillSpec is the [drill] table (extension): a disaster-recovery drill.
// While the load runs against an engramd the harness owns, backups are taken
// on this schedule; at DisasterAtS the data directory is destroyed; the
// newest chain is restored into a new directory and engramd started on it.
// Times are seconds from the start of measuring. Zero values mean the
// documented defaults (applied by Parse).
type DrillSpec struct {
	// FirstBackupS is when the first (full) backup is taken. Default 2.
	FirstBackupS float64 `toml:"first_backup_s" json:"first_backup_s"`
	// IncrementalEveryS takes an incremental backup this long after the
	// previous backup was due. Default 3; 0 takes no incrementals.
	IncrementalEveryS float64 `toml:"incremental_every_s" json:"incremental_every_s"`
	// FullEveryS starts a new chain with a full backup once this long has
	// passed since the last full one. Default 0: one full backup, then
	// incrementals only.
	FullEveryS float64 `toml:"full_every_s" json:"full_every_s,omitempty"`
	// DisasterAtS is when the data directory is destroyed (the process is
	// killed and its directory deleted). Required.
	DisasterAtS float64 `toml:"disaster_at_s" json:"disaster_at_s"`
	// RecoveryWindowS is the window the recovery is judged in: the workload
	// is back when StableWindows windows in a row meet the latency and error
	// targets. Default 1 (the reporting interval).
	RecoveryWindowS float64 `toml:"recovery_window_s" json:"recovery_window_s"`
	// StableWindows is how many windows in a row must meet the targets.
	// Default 3.
	StableWindows int `toml:"stable_windows" json:"stable_windows"`
	// RecoveryTimeoutS bounds the restore and the restart. Default 600.
	RecoveryTimeoutS float64 `toml:"recovery_timeout_s" json:"recovery_timeout_s"`
}

// Documented defaults of DrillSpec.
const (
	DefaultFirstBackupS      = 2
	DefaultIncrementalEveryS = 3
	DefaultRecoveryWindowS   = 1
	DefaultStableWindows     = 3
	DefaultRecoveryTimeoutS  = 600
	// MaxDrillBackups bounds the backups one drill takes.
	MaxDrillBackups = 10_000
)

// Backup kinds of a drill's schedule (engramd's names).
const (
	BackupFull        = "full"
	BackupIncremental = "incremental"
)

// DrillBackup is one backup of a drill's schedule.
type DrillBackup struct {
	AtS  float64 // seconds from the start of measuring
	Kind string  // BackupFull or BackupIncremental
}

// Backups returns the backups due before the disaster, in order: a full
// backup at FirstBackupS, then an incremental every IncrementalEveryS, and a
// full one instead whenever FullEveryS has passed since the last full one.
func (d *DrillSpec) Backups() []DrillBackup {
	var out []DrillBackup
	lastFull := math.Inf(-1)
	for t := d.FirstBackupS; t < d.DisasterAtS && len(out) < MaxDrillBackups; {
		kind := BackupIncremental
		if len(out) == 0 || (d.FullEveryS > 0 && t-lastFull >= d.FullEveryS-1e-9) {
			kind, lastFull = BackupFull, t
		}
		out = append(out, DrillBackup{AtS: t, Kind: kind})
		step := d.IncrementalEveryS
		if step <= 0 {
			step = d.FullEveryS
		}
		if step <= 0 {
			break
		}
		t = d.FirstBackupS + float64(len(out))*step // no drift from adding
	}
	return out
}

// Disaster is DisasterAtS as a duration.
func (d *DrillSpec) Disaster() time.Duration { return seconds(d.DisasterAtS) }

// RecoveryTimeout is RecoveryTimeoutS as a duration.
func (d *DrillSpec) RecoveryTimeout() time.Duration { return seconds(d.RecoveryTimeoutS) }

// RecoveryWindow is RecoveryWindowS as a duration.
func (d *DrillSpec) RecoveryWindow() time.Duration { return seconds(d.RecoveryWindowS) }

func (d *DrillSpec) applyDefaults(defined func(key string) bool) {
	if !defined("first_backup_s") {
		d.FirstBackupS = DefaultFirstBackupS
	}
	if !defined("incremental_every_s") {
		d.IncrementalEveryS = DefaultIncrementalEveryS
	}
	if !defined("recovery_window_s") {
		d.RecoveryWindowS = DefaultRecoveryWindowS
	}
	if !defined("stable_windows") {
		d.StableWindows = DefaultStableWindows
	}
	if !defined("recovery_timeout_s") {
		d.RecoveryTimeoutS = DefaultRecoveryTimeoutS
	}
}

// validateDrill checks the [drill] table and what a drill needs of the rest
// of the scenario; the validation keys expected_rto_s and expected_rpo_s
// need a [drill].
func (s *Scenario) validateDrill(v *validator) {
	val := &s.Validation
	d := s.Drill
	if d == nil {
		if val.ExpectedRTOS != nil {
			v.errf("validation.expected_rto_s", *val.ExpectedRTOS, "only applies to a disaster-recovery drill (add a [drill] table)")
		}
		if val.ExpectedRPOS != nil {
			v.errf("validation.expected_rpo_s", *val.ExpectedRPOS, "only applies to a disaster-recovery drill (add a [drill] table)")
		}
		return
	}
	if s.Chaos.Enabled {
		v.errf("drill", nil, "cannot be combined with [[chaos.faults]]: a drill destroys the server the faults act on (run them as two scenarios)")
	}
	if val.ExpectedRTOS != nil {
		v.positive("validation.expected_rto_s", *val.ExpectedRTOS)
	}
	if val.ExpectedRPOS != nil {
		v.nonNegative("validation.expected_rpo_s", *val.ExpectedRPOS)
	}
	total := s.Duration.TotalSeconds
	if len(s.Phases) > 0 {
		total = 0
		for _, p := range s.Phases {
			if !p.IsPreload() {
				total += p.DurationSeconds
			}
		}
	}
	if !v.defined("drill.disaster_at_s") {
		v.errf("drill.disaster_at_s", nil, "missing: when the data directory is destroyed, seconds from the start of measuring")
	} else if !(d.DisasterAtS > 0) || math.IsInf(d.DisasterAtS, 0) {
		v.errf("drill.disaster_at_s", d.DisasterAtS, "must be > 0")
	} else if d.DisasterAtS >= total {
		v.errf("drill.disaster_at_s", d.DisasterAtS, "must be before the end of the run (%gs), leaving time to recover", total)
	}
	v.nonNegative("drill.first_backup_s", d.FirstBackupS)
	if v.err == nil && d.FirstBackupS >= d.DisasterAtS {
		v.errf("drill.first_backup_s", d.FirstBackupS, "must be before drill.disaster_at_s (%g): a drill restores a backup", d.DisasterAtS)
	}
	v.nonNegative("drill.incremental_every_s", d.IncrementalEveryS)
	v.nonNegative("drill.full_every_s", d.FullEveryS)
	if d.RecoveryWindowS < 0.1 || d.RecoveryWindowS > 60 || math.IsNaN(d.RecoveryWindowS) {
		v.errf("drill.recovery_window_s", d.RecoveryWindowS, "must be in [0.1, 60]")
	}
	if d.StableWindows < 1 || d.StableWindows > 1000 {
		v.errf("drill.stable_windows", d.StableWindows, "must be in [1, 1000]")
	}
	if !(d.RecoveryTimeoutS >= 1) || math.IsInf(d.RecoveryTimeoutS, 0) {
		v.errf("drill.recovery_timeout_s", d.RecoveryTimeoutS, "must be >= 1")
	}
	if v.err == nil {
		for _, step := range []struct {
			key string
			x   float64
		}{{"drill.incremental_every_s", d.IncrementalEveryS}, {"drill.full_every_s", d.FullEveryS}} {
			if step.x > 0 && (d.DisasterAtS-d.FirstBackupS)/step.x > MaxDrillBackups {
				v.errf(step.key, step.x, "schedules more than %d backups before the disaster", MaxDrillBackups)
			}
		}
	}
	for i, p := range s.Phases {
		if !p.IsPreload() && !p.Recorded() {
			v.errf(fmt.Sprintf("phases[%d].record", i), false, "every phase of a drill is recorded: acknowledged writes of an unrecorded phase would not be accounted for")
		}
	}
	if s.Duration.WarmupSeconds > 0 {
		v.errf("duration.warmup_seconds", s.Duration.WarmupSeconds, "must be 0 in a drill: every acknowledged write is accounted for, and warm-up ops are not recorded")
	}
	// The read-back check expects every acknowledged memory as it was
	// written: no op may change or delete one.
	check := func(prefix string, o *OperationsSpec) {
		for _, k := range []Kind{KindForget, KindUpdate, KindReadModify} {
			if w := o.Weights()[k]; w > 0 {
				v.errf(prefix+"."+weightKey(k), w, "must be 0 in a drill: the read-back check expects every acknowledged memory as it was written")
			}
		}
	}
	check("operations", &s.Operations)
	for i := range s.Phases {
		if s.Phases[i].Operations != nil {
			check(fmt.Sprintf("phases[%d].operations", i), s.Phases[i].Operations)
		}
	}
}

func (d *DrillSpec) clone() *DrillSpec {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}
