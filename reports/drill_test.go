package reports

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// drillResult is richResult with a disaster-recovery drill.
func drillResult(t *testing.T) *Result {
	r := richResult(t)
	healthy, recovered, rto := 13.0, 16.0, 4.0
	at := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	r.Drill = &Drill{
		Backups: []DrillBackup{
			{Kind: "full", DueS: 2, StartS: 2, EndS: 2.4, CheckpointS: 2.1, StartedAt: at, CheckpointAt: at, ID: "20261127T010002.000Z-aa", ChainLength: 1, Memories: 10_000, Files: 6, CopiedBytes: 36 << 20, TotalBytes: 36 << 20},
			{Kind: "incremental", DueS: 5, StartS: 5, EndS: 5.2, CheckpointS: 5.1, ID: "20261127T010005.000Z-bb", ChainLength: 2, Memories: 10_300, Files: 7, CopiedBytes: 7 << 20, TotalBytes: 37 << 20},
			{Kind: "incremental", DueS: 8, StartS: 8, EndS: 8.1, Error: "POST /api/v1/admin/backup: 500"},
		},
		Disaster: DrillDisaster{AtS: 12, At: at, How: "engramd killed (SIGKILL) and its data directory deleted", DestroyedBytes: 38 << 20},
		Recovery: DrillRecovery{Backup: "20261127T010005.000Z-bb", Chain: []string{"20261127T010002.000Z-aa", "20261127T010005.000Z-bb"}, BackupAgeS: 6.9,
			RestoreS: 0.2, StartS: 0.7, HealthyS: &healthy, RecoveredS: &recovered, RTOS: &rto, Criteria: "p99 ≤ 100ms, errors ≤ 1%, 3 windows of 1s in a row",
			Refused: []string{"20261127T010008.000Z-cc: backup refused: file 000009.sst is corrupt"}},
		Data: DrillData{Acknowledged: 11_000, Present: 10_400, Lost: 600, NewestSurvivorAgeS: 6.9, OldestLostAgeS: 6.8, CheckedAbsent: 620, LostExamples: []string{"default/m2236"}, CheckS: 1.3},
	}
	r.Windows = append(r.Windows, Window{Kind: WindowBackup, Name: "full backup", StartS: 2, EndS: 2.4}, Window{Kind: WindowOutage, Name: "outage", StartS: 12, EndS: 13},
		Window{Kind: WindowRecovery, Name: "back to targets", StartS: 13, EndS: 16})
	r.Marks = []Mark{{Kind: MarkDisaster, Name: "disaster", AtS: 12}, {Kind: MarkHealthy, Name: "healthy", AtS: 13}, {Kind: MarkRecovered, Name: "recovered", AtS: 16}}
	return r
}

// TestDrillReports: the drill's timeline, RTO, RPO and integrity are in
// the text, Markdown and HTML reports, and its marks on every timeline.
func TestDrillReports(t *testing.T) {
	r := drillResult(t)
	common := []string{"DISASTER: engramd killed", "20261127T010005.000Z-bb", "REFUSED: 20261127T010008.000Z-cc", "incremental backup FAILED"}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"text", []string{"disaster-recovery drill", "RTO 4.0s: restore 0.20s + start 0.70s, healthy at +1.0s, within targets at +4.0s",
			"RPO 6.9s, 600 memories: of 11000 acknowledged before the disaster, 10400 restored intact", "lost, e.g.: default/m2236"}},
		{"md", []string{"#### Disaster-recovery drill", "| RTO (disaster → within targets) | 4.0s |", "| acknowledged memories lost | 600 of 11000 |"}},
		{"html", []string{"<h2>Disaster-recovery drill</h2>", `class="mark mark-disaster"`, `class="mark mark-recovered"`, `class="band band-outage"`,
			`class="band band-backup"`, `class="band band-recovery"`, "<b>4.0s</b>", "<b>6.9 s</b>"}},
	} {
		var b bytes.Buffer
		if err := Render(tc.format, &b, r); err != nil {
			t.Fatal(err)
		}
		for _, w := range append(tc.want, common...) {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s report lacks %q", tc.format, w)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(p)
	if err != nil || back.Drill == nil || *back.Drill.Recovery.RTOS != 4 || len(back.Marks) != 3 || back.Drill.Data.Lost != 600 {
		t.Fatalf("read back: %v %+v", err, back.Drill)
	}
}

// TestDrillNotRecovered: a drill that never got back within its targets
// says so in words, not with an empty RTO.
func TestDrillNotRecovered(t *testing.T) {
	r := drillResult(t)
	r.Drill.Recovery.RecoveredS, r.Drill.Recovery.RTOS = nil, nil
	var b bytes.Buffer
	if err := Render("text", &b, r); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"RTO not reached: restore 0.20s + start 0.70s, healthy at +1.0s, within targets at +-", "not recovered within the run (p99 ≤ 100ms"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text report lacks %q:\n%s", w, b.String())
		}
	}
}

// TestDrillH2: in a drill the P99 target judges recovery windows, and H2
// says so instead of claiming the scenario set none.
func TestDrillH2(t *testing.T) {
	r := drillResult(t)
	r.Targets = nil
	if h := evalH2(r); h.Status != HypothesisNotRun || !strings.Contains(h.Detail, "judges each recovery window") {
		t.Errorf("H2 %s: %s", h.Status, h.Detail)
	}
}

func TestAddTargets(t *testing.T) {
	for _, tc := range []struct {
		name, verdict string
		ts            []Target
		want          string
		reason        string
	}{
		{"all met keep a pass", VerdictPass, []Target{{Name: "rto", Unit: "s", Target: 30, Achieved: 4, Pass: true}}, VerdictPass, ""},
		{"a miss fails", VerdictPass, []Target{{Name: "rpo", Unit: "s", Target: 5, Achieved: 9.5, Pass: false}}, VerdictFail, "rpo 9.5 s above target 5"},
		{"a given reason", VerdictPass, []Target{{Name: "rto", Unit: "s", Target: 5, Achieved: 9, Pass: false}}, VerdictFail, "not recovered"},
		{"invalid stays invalid", VerdictInvalid, []Target{{Name: "rto", Pass: false}}, VerdictInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{Verdict: tc.verdict}
			r.AddTargets(map[string]string{"rto": "not recovered"}, tc.ts...)
			if r.Verdict != tc.want || len(r.Targets) != len(tc.ts) || (tc.reason != "" && !strings.Contains(strings.Join(r.Reasons, ";"), tc.reason)) {
				t.Errorf("verdict %s reasons %v targets %d", r.Verdict, r.Reasons, len(r.Targets))
			}
		})
	}
}
