package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// throughputTarget reads the throughput target a result was judged against.
func throughputTarget(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Targets []struct {
			Name   string
			Target float64
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for _, tg := range r.Targets {
		if tg.Name == "throughput" {
			return tg.Target
		}
	}
	t.Fatalf("%s: no throughput target", path)
	return 0
}

// --rate scales the throughput target (quickstart's 990 of 1,000 ops/s
// becomes 297 at 300), and the scaled target follows the run into a merge
// of its shards and into a replay of its trace: both used to judge against
// the scenario file's 990.
func TestRateScaledTargetSurvivesMergeAndReplay(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	sh := func(i string) string { return filepath.Join(dir, "s"+i) }
	for _, i := range []string{"0", "1"} {
		code := run(ctx, []string{"run", "--scenario", "quickstart", "--driver", "null", "--rate", "300", "--duration", "1s", "--warmup", "0s",
			"--shard", i + "/2", "--hlog", sh(i) + ".hlog", "--out", sh(i) + ".json", "-q", "--max-lag", "1s"}, &stdout, &stderr)
		if code == exitUsage {
			t.Fatalf("shard %s: exit %d: %s", i, code, stderr.String())
		}
	}
	merged := filepath.Join(dir, "m.json")
	if code := run(ctx, []string{"merge", sh("0") + ".json", sh("1") + ".json", "--out", merged}, &stdout, &stderr); code == exitUsage {
		t.Fatalf("merge: exit %d: %s", code, stderr.String())
	}
	if got := throughputTarget(t, merged); got != 297 {
		t.Errorf("merged run judged against %g ops/s, want 297", got)
	}
	trace := filepath.Join(dir, "t.jsonl.gz")
	if code := run(ctx, []string{"record", "--scenario", "quickstart", "--rate", "300", "--duration", "1s", "--warmup", "0s", "--out", trace}, &stdout, &stderr); code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr.String())
	}
	out := filepath.Join(dir, "r.json")
	if code := run(ctx, []string{"replay", "--trace", trace, "--driver", "null", "--rate-multiplier", "2", "--out", out, "-q", "--max-lag", "1s"}, &stdout, &stderr); code == exitUsage {
		t.Fatalf("replay: exit %d: %s", code, stderr.String())
	}
	if got := throughputTarget(t, out); got != 594 {
		t.Errorf("replay ×2 of a 300 ops/s recording judged against %g ops/s, want 594", got)
	}
}

// checkWritable leaves no file behind (a run interrupted in its preload
// left an empty --out and --html) and leaves an existing one as it was.
func TestCheckWritableLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "new.json")
	if err := checkWritable("out", p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the check left %s behind: %v", p, err)
	}
	old := filepath.Join(dir, "old.json")
	os.WriteFile(old, []byte("kept"), 0o644)
	if err := checkWritable("out", old); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(old); string(b) != "kept" {
		t.Errorf("the check changed an existing file: %q", b)
	}
	if err := checkWritable("out", filepath.Join(dir, "no", "such", "dir.json")); err == nil {
		t.Error("an unwritable path passed the check")
	}
}
