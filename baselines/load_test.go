package baselines

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "BenchmarkX 10 5 ns/op\n"
	invalid := defaultSynth()
	invalid.invalid = true
	invalidRuns := invalid.write(t, dir, "invalid", 2, 1)
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.json")}, "nope.json: not found"},
		{"empty file", []string{write("empty.txt", "")}, "empty.txt: empty file"},
		{"whitespace only", []string{write("blank.json", " \n\t\n")}, "blank.json: empty file"},
		{"text with no benchmarks", []string{write("notes.txt", "hello\nworld\n")}, "notes.txt: no benchmark results: expected an engram-bench result"},
		{"a CSV file", []string{write("data.csv.txt", "op,count,p99\nstore,10,5\n")}, "data.csv.txt: no benchmark results"},
		{"foreign JSON", []string{write("foreign.json", `{"metrics": {}}`)}, `foreign.json: not an engram-bench result (no "schema" field)`},
		{"JSON array", []string{write("array.json", `[1, 2]`)}, "array.json: not an engram-bench result"},
		{"old schema", []string{write("old.json", `{"schema": "engram-bench/result/v0"}`)}, `schema "engram-bench/result/v0" is not supported by this version`},
		{"foreign schema", []string{write("k6.json", `{"schema": "k6/summary"}`)}, `schema "k6/summary" is not an engram-bench result`},
		{"truncated JSON", []string{write("trunc.json", `{"schema": "engram-bench/result/v1", "ops": {`)}, "trunc.json"},
		{"malformed benchmark line", []string{write("bad.txt", "BenchmarkX 10 abc ns/op\n")}, `bad.txt:1: parsing measurement: invalid syntax, in "BenchmarkX 10 abc ns/op"`},
		{"missing unit", []string{write("nounit.txt", "BenchmarkX 10 5\n")}, "nounit.txt:1: missing units"},
		{"directory without results", []string{filepath.Join(dir, "emptydir")}, "a directory without result files"},
		{"conflicting unit metadata across files", []string{write("u1.txt", "Unit foo better=higher\n"+good), write("u2.txt", "Unit foo better=lower\n"+good)}, "u2.txt:1: unit foo: better=lower, but"},
		{"every run invalid", invalidRuns, "every run was skipped"},
		{"no paths", nil, "no files given"},
	}
	if err := os.Mkdir(filepath.Join(dir, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load("side", tc.paths...)
			if err == nil {
				t.Fatalf("no error; %d records", len(s.Records))
			}
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v does not wrap ErrBadInput", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestLoadSkipsInvalidRuns(t *testing.T) {
	dir := t.TempDir()
	s := defaultSynth()
	paths := s.write(t, dir, "ok", 3, 1)
	bad := s
	bad.invalid = true
	paths = append(paths, bad.write(t, dir, "bad", 1, 2)...)
	set, err := Load("current", paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Skipped) != 1 || !strings.Contains(set.Skipped[0], "bad-001.json: invalid run skipped (harness-limited: test)") {
		t.Errorf("skipped %q", set.Skipped)
	}
	if len(set.Fingerprints) != 3 || len(set.Records) != 12 {
		t.Errorf("%d fingerprints, %d records; want 3 and 12 (three kinds and all, per run)", len(set.Fingerprints), len(set.Records))
	}
}

func TestLoadDirectoryAndGoTest(t *testing.T) {
	dir := t.TempDir()
	defaultSynth().write(t, dir, "run", 2, 1)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files) != 2 {
		t.Errorf("files %q, want the two .json", set.Files)
	}
	// Real `go test -bench` output of the engine's dot benchmarks.
	g, err := Load("old", "testdata/gotest-dot-old.txt")
	if err != nil {
		t.Fatal(err)
	}
	fp := g.Fingerprints[0]
	if fp.Source != "go-bench" || fp.Package != "github.com/engram-bench/engram-bench/engine" || fp.OS != "linux" || fp.Runs != 6 {
		t.Errorf("fingerprint %+v", fp)
	}
}

// FuzzLoadBench feeds arbitrary bytes to the loader as a file: never a
// panic, and every error is bad input.
func FuzzLoadBench(f *testing.F) {
	for _, seed := range []string{
		"BenchmarkX 10 5 ns/op\n",
		"goos: linux\nUnit ops/s better=higher\nBenchmarkEngram/op=store 3 1.5 ops/s 100 p99-ns\n",
		"{\"schema\": \"engram-bench/result/v1\", \"ops\": {\"store\": {\"count\": 1}}}",
		"{\"schema\": 5}",
		"Benchmark",
		"Unit x y\n",
	} {
		f.Add([]byte(seed))
	}
	b, err := os.ReadFile("testdata/gotest-dot-old.txt")
	if err == nil {
		f.Add(b)
	}
	r := defaultSynth().result(rand.New(rand.NewPCG(1, 1)))
	dir := f.TempDir()
	if err := r.WriteFile(filepath.Join(dir, "r.json")); err == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "r.json")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.txt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load("fuzz", p)
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v is not bad input", err)
			}
			return
		}
		if len(s.Records) == 0 {
			t.Fatal("loaded no records without an error")
		}
	})
}
