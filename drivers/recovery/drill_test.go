package recovery

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/engram-bench/engram-bench/drivers/engram"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// smallDrill is a drill of a few seconds on 32-d memories.
const smallDrill = `
[duration]
total_seconds = 8
[arrival]
pattern = "constant"
rate = 150
[operations]
store_weight = 60
recall_by_id_weight = 25
embedding_search_weight = 15
min_target_age = 100
[data]
preload = 2000
embedding_dim = 32
[drill]
first_backup_s = 1
incremental_every_s = 1.5
disaster_at_s = 3.6
stable_windows = 2
recovery_timeout_s = 60
[validation]
expected_p99_latency_ms = 500
max_error_rate = 0.05
expected_rto_s = 6
expected_rpo_s = 3
`

func runSmallDrill(t *testing.T, bin string, hook func([][]string)) (*reports.Result, string) {
	t.Helper()
	sc, err := workloads.Parse("small_drill.toml", []byte(smallDrill))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var starts []time.Time // the outputs' OnStart: told once, when measuring begins
	onStart := func(at time.Time) { starts = append(starts, at) }
	res, err := Run(ctx, Config{Scenario: sc, Seed: 7, Concurrency: 16, MaxLag: time.Second, Engramd: []string{bin}, WorkDir: work, Log: &log, OnStart: onStart, beforeRestore: hook})
	if err != nil {
		t.Fatalf("drill: %v\n%s", err, log.String())
	}
	if len(starts) != 1 || starts[0].Sub(res.StartedAt).Abs() > time.Second {
		t.Errorf("OnStart told %v; want once, at the start of measuring (%v)", starts, res.StartedAt)
	}
	t.Logf("drill log:\n%s", log.String())
	return res, work
}

// TestDrill runs real drills end to end on one engramd binary.
func TestDrill(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	t.Run("a healthy drill", func(t *testing.T) { healthyDrill(t, bin) })
	t.Run("a corrupt newest backup", func(t *testing.T) { brokenBackupDrill(t, bin) })
	t.Run("a recovery that outlasts the run", func(t *testing.T) { lateRecoveryDrill(t, bin) })
}

// lateRecoveryDrill holds the restore until the load has ended: the RTO is
// not reached within the run, but the drill waits for the restored server
// and still reads the data back (RPO and integrity).
func lateRecoveryDrill(t *testing.T, bin string) {
	res, _ := runSmallDrill(t, bin, func([][]string) { time.Sleep(5 * time.Second) }) // the disaster is at 3.6 s of 8
	d := res.Drill
	rc := d.Recovery
	if rc.HealthyS == nil || *rc.HealthyS <= res.DurationS || rc.RTOS != nil {
		t.Fatalf("healthy at %v of a %.1f-s run, RTO %v: want healthy after the run, RTO not reached", rc.HealthyS, res.DurationS, rc.RTOS)
	}
	if d.Data.Acknowledged < 2000 || d.Data.Present == 0 || d.Data.Corrupt != 0 || d.Data.LostBackedUp != 0 {
		t.Errorf("read-back after the run: %+v", d.Data)
	}
	found := false
	for _, tg := range res.Targets {
		if tg.Name == "rto" {
			found = true
			if tg.Pass || tg.Achieved < *rc.HealthyS-d.Disaster.AtS-1e-9 {
				t.Errorf("rto target %+v: want a failure at least until the server answered (%.2fs)", tg, *rc.HealthyS-d.Disaster.AtS)
			}
		}
	}
	if !found || !strings.Contains(strings.Join(res.Reasons, "; "), "answered only") {
		t.Errorf("targets %+v, reasons %v", res.Targets, res.Reasons)
	}
}

// healthyDrill: engramd under load, backups, the disaster, restore,
// restart, read-back, and the result's every part.
func healthyDrill(t *testing.T, bin string) {
	res, work := runSmallDrill(t, bin, nil)
	d := res.Drill
	if d == nil {
		t.Fatal("no drill in the result")
	}
	var text bytes.Buffer
	reports.WriteText(&text, res)
	t.Logf("report:\n%s", text.String())
	if res.Verdict == reports.VerdictInvalid {
		t.Fatalf("invalid drill: %v", res.Reasons)
	}
	// Backups: a full one, then incrementals, every one complete.
	if len(d.Backups) < 2 || d.Backups[0].Kind != "full" || d.Backups[1].Kind != "incremental" {
		t.Fatalf("backups: %+v", d.Backups)
	}
	for _, b := range d.Backups {
		if b.Error != "" || b.ID == "" || b.CheckpointS < b.StartS || b.EndS < b.CheckpointS || b.Memories < 2000 {
			t.Errorf("backup %+v", b)
		}
	}
	last := d.Backups[len(d.Backups)-1]
	rc := d.Recovery
	if rc.Backup != last.ID || len(rc.Chain) != last.ChainLength || rc.Error != "" || len(rc.Refused) > 0 {
		t.Errorf("restored %s (chain %v), want the newest backup %s; error %q refused %v", rc.Backup, rc.Chain, last.ID, rc.Error, rc.Refused)
	}
	if d.Disaster.DestroyedBytes == 0 || d.Disaster.AtS < 3.6 || d.Disaster.AtS > 4.4 {
		t.Errorf("disaster %+v", d.Disaster)
	}
	if _, err := os.Stat(filepath.Join(work, "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory survived the disaster: %v", err)
	}
	// RTO: measured, in order.
	if rc.HealthyS == nil || rc.RecoveredS == nil || rc.RTOS == nil {
		t.Fatalf("recovery not measured: %+v", rc)
	}
	if !(*rc.HealthyS > d.Disaster.AtS && *rc.RecoveredS >= *rc.HealthyS && *rc.RTOS > rc.RestoreS) {
		t.Errorf("recovery out of order: disaster %.2f healthy %.2f recovered %.2f rto %.2f restore %.2f", d.Disaster.AtS, *rc.HealthyS, *rc.RecoveredS, *rc.RTOS, rc.RestoreS)
	}
	// RPO and integrity: every acknowledged memory accounted for.
	dt := d.Data
	if dt.Corrupt != 0 || dt.LostBackedUp != 0 || dt.Unexpected != 0 || dt.ReadErrors != 0 {
		t.Errorf("integrity: %+v", dt)
	}
	if dt.Acknowledged < 2000 || dt.Present+dt.Lost != dt.Acknowledged {
		t.Errorf("accounting: %d acknowledged = %d present + %d lost?", dt.Acknowledged, dt.Present, dt.Lost)
	}
	if dt.Lost == 0 || dt.CheckedAbsent == 0 {
		t.Errorf("writes after the last backup: %d lost, %d checked absent (the load stores ~90/s)", dt.Lost, dt.CheckedAbsent)
	}
	// The data-loss window reaches back to about the restored backup's point.
	if age := d.Disaster.AtS - last.CheckpointS; dt.NewestSurvivorAgeS > age+0.2 || dt.OldestLostAgeS > d.Disaster.AtS-last.StartS+0.1 {
		t.Errorf("RPO %.2fs, oldest lost %.2fs; the backup was consistent %.2fs before the disaster", dt.NewestSurvivorAgeS, dt.OldestLostAgeS, age)
	}
	// The result carries targets, windows and marks, and every report shows the drill.
	names := map[string]bool{}
	for _, tg := range res.Targets {
		names[tg.Name] = true
	}
	for _, n := range []string{"rto", "rpo", "corrupt_memories", "lost_backed_up", "unexpected_memories"} {
		if !names[n] {
			t.Errorf("no %s target in %+v", n, res.Targets)
		}
	}
	kinds := map[string]bool{}
	for _, w := range res.Windows {
		kinds[w.Kind] = true
	}
	for _, m := range res.Marks {
		kinds[m.Kind] = true
	}
	for _, k := range []string{reports.WindowBackup, reports.WindowOutage, reports.MarkDisaster, reports.MarkHealthy, reports.MarkRecovered} {
		if !kinds[k] {
			t.Errorf("no %s window or mark", k)
		}
	}
	for _, f := range []string{"text", "md", "html"} {
		var b bytes.Buffer
		if err := reports.Render(f, &b, res); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"DISASTER", last.ID} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s report lacks %q", f, want)
			}
		}
	}
	// A saved result reads back with its drill.
	p := filepath.Join(work, "result.json")
	if err := res.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	back, err := reports.ReadFile(p)
	if err != nil || back.Drill == nil || back.Drill.Recovery.RTOS == nil || len(back.Marks) != len(res.Marks) {
		t.Fatalf("read back: %v", err)
	}
}

// brokenBackupDrill corrupts a file of the newest backup between the
// disaster and the restore: the restore refuses it, the drill restores the
// next older backup, and the verdict is FAIL naming the refused backup.
func brokenBackupDrill(t *testing.T, bin string) {
	var broke string
	res, _ := runSmallDrill(t, bin, func(chains [][]string) {
		if len(chains) < 2 {
			t.Errorf("need two backups to fall back on, have %d", len(chains))
			return
		}
		newest := chains[0][len(chains[0])-1]
		files, _ := filepath.Glob(filepath.Join(newest, "files", "*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Size() > 0 {
				b, _ := os.ReadFile(f)
				b[len(b)/2] ^= 0xff
				os.WriteFile(f, b, 0o644)
				broke = filepath.Base(f)
				return
			}
		}
	})
	d := res.Drill
	if broke == "" || len(d.Recovery.Refused) != 1 || !strings.Contains(d.Recovery.Refused[0], broke) || !strings.Contains(d.Recovery.Refused[0], "corrupt") {
		t.Fatalf("refused %v (corrupted %s)", d.Recovery.Refused, broke)
	}
	if d.Recovery.Backup != d.Backups[len(d.Backups)-2].ID {
		t.Errorf("restored %s, want the next older backup %s", d.Recovery.Backup, d.Backups[len(d.Backups)-2].ID)
	}
	if res.Verdict != reports.VerdictFail || !strings.Contains(strings.Join(res.Reasons, ";"), "refused at restore") {
		t.Errorf("verdict %s %v", res.Verdict, res.Reasons)
	}
	if d.Data.Corrupt != 0 || d.Data.LostBackedUp != 0 || d.Data.Unexpected != 0 {
		t.Errorf("the older backup restored with problems: %+v", d.Data)
	}
}
