package baselines

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSave(t *testing.T) {
	dir := t.TempDir()
	s := defaultSynth()
	runs := s.write(t, dir, "run", 6, 1)
	bad := s
	bad.invalid = true
	runs = append(runs, bad.write(t, dir, "bad", 1, 2)...)
	root := filepath.Join(dir, "baselines")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	info, err := Save(root, "ci-linux", runs, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if info.Runs != 6 || len(info.Files) != 6 || len(info.Skipped) != 1 || info.Fingerprint.CPUModel != "AMD EPYC" || info.Fingerprint.TargetRate != 300 {
		t.Errorf("info %+v", info)
	}
	back, err := ReadInfo(filepath.Join(root, "ci-linux"))
	if err != nil {
		t.Fatal(err)
	}
	if !back.SavedAt.Equal(now) || back.Runs != 6 || back.Files[0] != filepath.Join("runs", "001-run-001.json") {
		t.Errorf("read back %+v", back)
	}
	// A saved baseline loads as a directory: its runs/, not fingerprint.json.
	set, err := Load("baseline", filepath.Join(root, "ci-linux"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files) != 6 {
		t.Errorf("loaded %d files", len(set.Files))
	}

	if _, err := Save(root, "ci-linux", runs, false, now); err == nil || !strings.Contains(err.Error(), "exists (use --force to replace it)") {
		t.Errorf("second save: %v", err)
	}
	if info, err := Save(root, "ci-linux", runs[:3], true, now); err != nil || info.Runs != 3 {
		t.Errorf("replace: %v %+v", err, info)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "ci-linux", RunsDir)); len(ents) != 3 {
		t.Errorf("after replace %d runs on disk", len(ents))
	}

	other := s
	other.env.CPUModel = "Intel Xeon"
	mixed := append(s.write(t, dir, "m", 2, 3), other.write(t, dir, "o", 2, 4)...)
	tests := []struct {
		name, env string
		files     []string
		want      string
	}{
		{"mixed machines", "mixed", mixed, "the runs differ in cpu model (AMD EPYC | Intel Xeon)"},
		{"bad name", "../up", runs, `baseline name "../up"`},
		{"testdata is reserved", "testdata", runs, "baseline name"},
		{"no runs", "none", []string{filepath.Join(dir, "missing.json")}, "missing.json: not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Save(root, tc.env, tc.files, false, now)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := os.MkdirAll(filepath.Join(root, "notmine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Save(root, "notmine", runs, true, now); err == nil || !strings.Contains(err.Error(), "is not a saved baseline") {
		t.Errorf("replacing a foreign directory: %v", err)
	}
	if _, err := ReadInfo(dir); err == nil || !strings.Contains(err.Error(), "not a saved baseline") {
		t.Errorf("ReadInfo of a plain dir: %v", err)
	}
}
