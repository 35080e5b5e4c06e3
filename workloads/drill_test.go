package workloads

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const drillBase = `[duration]
total_seconds = 30
[arrival]
pattern = "constant"
rate = 10
[operations]
store_weight = 1
recall_by_id_weight = 1
`

func TestDrillSpec(t *testing.T) {
	sc, err := Parse("drill.toml", []byte(drillBase+"[drill]\ndisaster_at_s = 12\n[validation]\nexpected_rto_s = 10\nexpected_rpo_s = 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Drill
	if d.FirstBackupS != DefaultFirstBackupS || d.IncrementalEveryS != DefaultIncrementalEveryS || d.StableWindows != DefaultStableWindows ||
		d.RecoveryWindowS != DefaultRecoveryWindowS || d.RecoveryTimeoutS != DefaultRecoveryTimeoutS || d.DisasterAtS != 12 {
		t.Errorf("defaults not applied: %+v", d)
	}
	if *sc.Validation.ExpectedRTOS != 10 || *sc.Validation.ExpectedRPOS != 5 {
		t.Errorf("validation: %+v", sc.Validation)
	}
	c := sc.Clone()
	c.Drill.DisasterAtS = 1
	*c.Validation.ExpectedRTOS = 1
	if sc.Drill.DisasterAtS != 12 || *sc.Validation.ExpectedRTOS != 10 {
		t.Error("Clone shares the drill or its targets")
	}
	if b, _ := LoadBuiltin("dr_drill"); b == nil || b.Drill == nil || b.PreloadCount() < 10_000 {
		t.Errorf("built-in dr_drill: %+v", b)
	}
}

func TestDrillBackups(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec DrillSpec
		want string
	}{
		{"a full, then incrementals until the disaster", DrillSpec{FirstBackupS: 2, IncrementalEveryS: 3, DisasterAtS: 12}, "2 full, 5 incremental, 8 incremental, 11 incremental"},
		{"a backup due at the disaster is not taken", DrillSpec{FirstBackupS: 2, IncrementalEveryS: 5, DisasterAtS: 12}, "2 full, 7 incremental"},
		{"a new chain every 6 s", DrillSpec{FirstBackupS: 1, IncrementalEveryS: 2, FullEveryS: 6, DisasterAtS: 14}, "1 full, 3 incremental, 5 incremental, 7 full, 9 incremental, 11 incremental, 13 full"},
		{"fulls only", DrillSpec{FirstBackupS: 0, FullEveryS: 4, DisasterAtS: 10}, "0 full, 4 full, 8 full"},
		{"one full backup", DrillSpec{FirstBackupS: 3, DisasterAtS: 10}, "3 full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, b := range tc.spec.Backups() {
				got = append(got, fmt.Sprintf("%g %s", b.AtS, b.Kind))
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("backups %s, want %s", s, tc.want)
			}
		})
	}
}

func TestBadDrills(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"no disaster time", drillBase + "[drill]\nfirst_backup_s = 1\n", []string{"drill.toml:9", "drill.disaster_at_s", "missing"}},
		{"disaster after the run", drillBase + "[drill]\ndisaster_at_s = 40\n", []string{"drill.toml:10", "drill.disaster_at_s", "before the end of the run (30s)", "got 40"}},
		{"first backup after the disaster", drillBase + "[drill]\ndisaster_at_s = 5\nfirst_backup_s = 6\n", []string{"drill.toml:11", "drill.first_backup_s", "must be before drill.disaster_at_s"}},
		{"negative interval", drillBase + "[drill]\ndisaster_at_s = 5\nincremental_every_s = -1\n", []string{"drill.toml:11", "drill.incremental_every_s", "got -1"}},
		{"too many backups", drillBase + "[drill]\ndisaster_at_s = 20\nincremental_every_s = 0.001\n", []string{"drill.incremental_every_s", "more than 10000 backups"}},
		{"no stable window", drillBase + "[drill]\ndisaster_at_s = 5\nstable_windows = 0\n", []string{"drill.stable_windows", "got 0"}},
		{"a tiny window", drillBase + "[drill]\ndisaster_at_s = 5\nrecovery_window_s = 0.01\n", []string{"drill.recovery_window_s", "[0.1, 60]"}},
		{"an unknown drill key", drillBase + "[drill]\ndisaster_at_s = 5\nflood = true\n", []string{"drill.flood", "unknown key"}},
		{"warm-up in a drill", strings.Replace(drillBase, "total_seconds = 30", "total_seconds = 30\nwarmup_seconds = 2", 1) + "[drill]\ndisaster_at_s = 5\n", []string{"drill.toml:3", "duration.warmup_seconds", "must be 0 in a drill"}},
		{"forget in a drill", drillBase + "forget_weight = 1\n[drill]\ndisaster_at_s = 5\n", []string{"drill.toml:9", "operations.forget_weight", "must be 0 in a drill"}},
		{"updates in a drill", drillBase + "update_weight = 1\n[drill]\ndisaster_at_s = 5\n", []string{"operations.update_weight", "must be 0 in a drill"}},
		{"an RTO target without a drill", drillBase + "[validation]\nexpected_rto_s = 30\n", []string{"drill.toml:10", "validation.expected_rto_s", "only applies to a disaster-recovery drill"}},
		{"an RPO target without a drill", drillBase + "[validation]\nexpected_rpo_s = 30\n", []string{"validation.expected_rpo_s", "add a [drill] table"}},
		{"a zero RTO", drillBase + "[drill]\ndisaster_at_s = 5\n[validation]\nexpected_rto_s = 0\n", []string{"drill.toml:12", "validation.expected_rto_s", "must be > 0"}},
		{"a drill with chaos faults", drillBase + "[drill]\ndisaster_at_s = 5\n[[chaos.faults]]\nkind = \"kill\"\nat = \"2s\"\n", []string{"drill.toml:9", "drill: cannot be combined with [[chaos.faults]]"}},
		{"a negative RPO", drillBase + "[drill]\ndisaster_at_s = 5\n[validation]\nexpected_rpo_s = -1\n", []string{"validation.expected_rpo_s", "must be >= 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("drill.toml", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SpecError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
