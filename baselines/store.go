package baselines

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Info is a saved baseline's fingerprint.json: what it holds and where it
// came from.
type Info struct {
	// Name is the environment the baseline stands for ("ci-linux-2core").
	Name    string    `json:"name"`
	SavedAt time.Time `json:"saved_at"`
	// Runs is the number of repetitions across Files.
	Runs int `json:"runs"`
	// Files are the saved copies, relative to the baseline directory.
	Files []string `json:"files"`
	// Fingerprint is the machine, toolchain, build and workload of the runs.
	Fingerprint Fingerprint `json:"fingerprint"`
	// Builds lists the git revisions among the runs when there are several.
	Builds []string `json:"builds,omitempty"`
	// Skipped lists runs left out when saving (invalid runs).
	Skipped []string `json:"skipped,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// Save writes the runs in files as the baseline NAME under root:
// root/NAME/fingerprint.json and root/NAME/runs/NNN-<file>. The files are
// read first (Load: invalid runs are left out, bad input is an error); runs
// from different machines, toolchains or workloads are refused, since a
// baseline stands for one environment. An existing baseline is replaced
// only with replace set. Errors wrap ErrBadInput.
func Save(root, name string, files []string, replace bool, now time.Time) (*Info, error) {
	if !nameRE.MatchString(name) || name == "testdata" {
		return nil, badInput("baseline name %q: want letters, digits, '.', '_' or '-' (at most 64), e.g. ci-linux-2core", name)
	}
	set, err := Load(name, files...)
	if err != nil {
		return nil, err
	}
	for _, d := range DiffFingerprints(set.Fingerprints, set.Fingerprints) {
		if d.Loud {
			return nil, badInput("baseline %s: the runs differ in %s (%s): a baseline stands for one environment", name, d.Field, strings.Join(d.Old, " | "))
		}
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(dir); err == nil {
		if !replace {
			return nil, badInput("baseline %s: %s exists (use --force to replace it)", name, dir)
		}
		if _, err := os.Stat(filepath.Join(dir, FingerprintFile)); err != nil {
			return nil, badInput("baseline %s: %s exists and is not a saved baseline (no %s); not replacing it", name, dir, FingerprintFile)
		}
	}
	tmp, err := os.MkdirTemp(root, "."+name+".tmp-")
	if err != nil {
		if mkErr := os.MkdirAll(root, 0o755); mkErr != nil {
			return nil, fmt.Errorf("baseline %s: %w", name, mkErr)
		}
		if tmp, err = os.MkdirTemp(root, "."+name+".tmp-"); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", name, err)
		}
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, RunsDir), 0o755); err != nil {
		return nil, err
	}
	info := &Info{Name: name, SavedAt: now.UTC(), Skipped: set.Skipped}
	kept := map[string]bool{}
	for _, fp := range set.Fingerprints {
		kept[fp.File] = true
		info.Runs += fp.Runs
	}
	n := 0
	for _, f := range set.Files {
		if !kept[f] {
			continue
		}
		n++
		rel := filepath.Join(RunsDir, fmt.Sprintf("%03d-%s", n, filepath.Base(f)))
		if err := copyFile(f, filepath.Join(tmp, rel)); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", name, err)
		}
		info.Files = append(info.Files, rel)
	}
	info.Fingerprint = set.Fingerprints[0]
	info.Fingerprint.Runs = info.Runs
	for _, d := range DiffFingerprints(set.Fingerprints, set.Fingerprints) {
		if d.Field == "git revision" {
			info.Builds = d.Old
		}
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, FingerprintFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", name, err)
	}
	return info, nil
}

// ReadInfo reads a saved baseline's fingerprint.json.
func ReadInfo(dir string) (*Info, error) {
	p := filepath.Join(dir, FingerprintFile)
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, badInput("%s: not a saved baseline (no %s)", dir, FingerprintFile)
		}
		return nil, badInput("%s: %v", p, err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, badInput("%s: %v", p, err)
	}
	return &info, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
