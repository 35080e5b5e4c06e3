package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/reports"
)

// TestDrillBuiltin runs the built-in dr_drill end to end as an operator
// would: 10,000 preloaded memories, backups under load, the data directory
// destroyed, the newest chain restored and engramd restarted, every
// acknowledged memory read back; the result, text, Markdown and HTML carry
// the drill. It takes about 45 s here (2 shared cores); the time is logged,
// not asserted (a loaded machine is slower, and may miss the RTO target:
// exit 1 is accepted, a usage error or an invalid drill is not).
func TestDrillBuiltin(t *testing.T) {
	bin := systemstest.EngramdBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(ctx, []string{"run", "--scenario", "dr_drill", "--engramd", bin, "-q", "--max-lag", "1s",
		"--out", filepath.Join(dir, "r.json"), "--html", filepath.Join(dir, "r.html"), "--md", filepath.Join(dir, "r.md"),
		"--drill-dir", filepath.Join(dir, "work")}, &out, &errb)
	took := time.Since(t0)
	t.Logf("dr_drill took %s end to end (exit %d)\n%s", took.Round(100*time.Millisecond), code, out.String())
	if code != exitPass && code != exitFail {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	res, err := reports.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := res.Drill
	if d == nil || res.Preload.Memories < 10_000 || d.Data.Acknowledged < 10_000 {
		t.Fatalf("preload %d, drill %+v", res.Preload.Memories, d)
	}
	if d.Data.Corrupt != 0 || d.Data.LostBackedUp != 0 || d.Data.Unexpected != 0 || d.Data.ReadErrors != 0 {
		t.Errorf("integrity: %+v", d.Data)
	}
	if d.Data.Present+d.Data.Lost != d.Data.Acknowledged || d.Recovery.HealthyS == nil || d.Recovery.Backup == "" {
		t.Errorf("recovery %+v, data %+v", d.Recovery, d.Data)
	}
	if code == exitFail && d.Recovery.RTOS != nil && strings.Contains(strings.Join(res.Reasons, ";"), "rpo") {
		t.Errorf("the RPO target failed: %v", res.Reasons) // backups every 3 s cannot lose 5 s
	}
	for _, f := range []struct{ name, want string }{
		{"stdout", "disaster-recovery drill"}, {"r.md", "Disaster-recovery drill"}, {"r.html", `class="mark mark-disaster"`},
	} {
		text := out.String()
		if f.name != "stdout" {
			b, _ := os.ReadFile(filepath.Join(dir, f.name))
			text = string(b)
		}
		if !strings.Contains(text, f.want) || !strings.Contains(text, d.Recovery.Backup) {
			t.Errorf("%s lacks the drill (%q, %s)", f.name, f.want, d.Recovery.Backup)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "work", "engramd.log")); err != nil {
		t.Errorf("--drill-dir kept nothing: %v", err)
	}
}
