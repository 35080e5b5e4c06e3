package baselines

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/engram-bench/engram-bench/reports"
)

// ErrBadInput marks an error in the files given to Load, Save or a Policy:
// empty, foreign, malformed, or nothing to compare. The CLI exits 2 on it.
var ErrBadInput = errors.New("bad input")

type inputError struct{ err error }

func (e *inputError) Error() string   { return e.err.Error() }
func (e *inputError) Unwrap() []error { return []error{e.err, ErrBadInput} }

func badInput(format string, args ...any) error {
	return &inputError{fmt.Errorf(format, args...)}
}

// FingerprintFile is the file that marks a saved baseline directory.
const FingerprintFile = "fingerprint.json"

// RunsDir is where a saved baseline keeps its runs.
const RunsDir = "runs"

// Set is one side of a comparison: the repeated runs of one build on one
// machine, as benchmark records. Every engram-bench result is one run (one
// record per op kind); a Go benchmark file holds as many repetitions as it
// has lines per benchmark.
type Set struct {
	// Label names the side in tables ("baseline", a file name).
	Label string
	// Files are the files read, in order.
	Files []string
	// Records are the benchmark lines, units tidied (ns → sec).
	Records []*benchfmt.Result
	// Units is the merged unit metadata (better=, assume=) of every file.
	Units benchfmt.UnitMetadataMap
	// Fingerprints describe where each file came from, one per file.
	Fingerprints []Fingerprint
	// Skipped says which runs were left out and why (invalid or partial runs).
	Skipped []string
}

// Load reads one side of a comparison from paths: engram-bench result files
// (JSON), files in the Go benchmark format (`go test -bench` output or
// `engram-bench report --format bench`), or directories of them — a saved
// baseline (with fingerprint.json, its runs/ are read) or any directory,
// whose *.json, *.txt, *.bench and *.out files are read. Errors wrap
// ErrBadInput and name the file.
//
// A result whose verdict is "invalid" (harness-limited, interrupted, nothing
// finished) is skipped and listed in Set.Skipped: its numbers measure the
// harness or a fragment, not the build.
func Load(label string, paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, badInput("%s: no files given", label)
	}
	s := &Set{Label: label, Units: benchfmt.UnitMetadataMap{}}
	var files []string
	for _, p := range paths {
		fs, err := expand(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		if err := s.readFile(f); err != nil {
			return nil, err
		}
	}
	if len(s.Records) == 0 {
		if len(s.Skipped) > 0 {
			return nil, badInput("%s: every run was skipped: %s", label, strings.Join(s.Skipped, "; "))
		}
		return nil, badInput("%s: no benchmark results in %s", label, strings.Join(files, ", "))
	}
	return s, nil
}

// expand turns a path into the files it stands for.
func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, badInput("%s: not found", p)
		}
		return nil, badInput("%s: %v", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	dir := p
	if _, err := os.Stat(filepath.Join(p, FingerprintFile)); err == nil {
		dir = filepath.Join(p, RunsDir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, badInput("%s: %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || name == FingerprintFile {
			continue
		}
		switch filepath.Ext(name) {
		case ".json", ".txt", ".bench", ".out":
			out = append(out, filepath.Join(dir, name))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, badInput("%s: a directory without result files (*.json, *.txt, *.bench, *.out)", dir)
	}
	return out, nil
}

func (s *Set) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return badInput("%s: %v", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badInput("%s: empty file", path)
	}
	fp := Fingerprint{}
	if t := bytes.TrimSpace(b); t[0] == '{' || t[0] == '[' {
		r, err := reports.Decode(path, b)
		if err != nil {
			return badInput("%v", err)
		}
		if r.Verdict == reports.VerdictInvalid || r.Partial {
			why := strings.Join(r.Reasons, "; ")
			if why == "" {
				why = "partial result"
			}
			s.Files = append(s.Files, path)
			s.Skipped = append(s.Skipped, fmt.Sprintf("%s: invalid run skipped (%s)", path, why))
			return nil
		}
		var buf bytes.Buffer
		if err := WriteBench(&buf, r); err != nil {
			return badInput("%s: %v", path, err)
		}
		b = buf.Bytes()
		fp = FingerprintOf(r)
	}
	n, err := s.parse(path, b, &fp)
	if err != nil {
		return err
	}
	if n == 0 {
		return badInput("%s: no benchmark results: expected an engram-bench result (JSON, schema %s) or Go benchmark format lines (\"BenchmarkName N value unit ...\")", path, reports.Schema)
	}
	s.Files = append(s.Files, path)
	fp.File = path
	fp.Runs = n
	s.Fingerprints = append(s.Fingerprints, fp)
	return nil
}

// lineText is line n (from 1) of b, cut to 80 characters: the value an
// error names.
func lineText(b []byte, n int) string {
	for i := 1; i < n && len(b) > 0; i++ {
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			b = b[j+1:]
		} else {
			b = nil
		}
	}
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		b = b[:j]
	}
	if r := []rune(string(b)); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return string(b)
}

// parse reads Go benchmark lines; it returns how many runs the file holds
// (the most lines any one benchmark has).
func (s *Set) parse(path string, b []byte, fp *Fingerprint) (int, error) {
	rd := benchfmt.NewReader(bytes.NewReader(b), path)
	lines := map[string]int{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return 0, badInput("%s, in %q", rec.Error(), lineText(b, rec.Line))
		case *benchfmt.UnitMetadata:
			if have, ok := s.Units[rec.UnitMetadataKey]; ok && have.Value != rec.Value {
				hf, hl := have.Pos()
				return 0, badInput("%s:%d: unit %s: %s=%s, but %s:%d says %s=%s: mismatched unit metadata", path, lineOf(rec), rec.OrigUnit, rec.Key, rec.Value, hf, hl, rec.Key, have.Value)
			}
			s.Units[rec.UnitMetadataKey] = rec
		case *benchfmt.Result:
			if fp.Source == "" {
				fp.fromConfig(rec)
			}
			c := rec.Clone()
			s.Records = append(s.Records, c)
			lines[string(c.Name.Full())]++
		}
	}
	if err := rd.Err(); err != nil {
		return 0, badInput("%v", err)
	}
	n := 0
	for _, v := range lines {
		n = max(n, v)
	}
	return n, nil
}

func lineOf(m *benchfmt.UnitMetadata) int {
	_, l := m.Pos()
	return l
}
