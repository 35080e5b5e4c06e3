package baselines

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"

	"github.com/engram-bench/engram-bench/reports"
)

func TestWriteBench(t *testing.T) {
	r := defaultSynth().result(rand.New(rand.NewPCG(1, 1)))
	var buf bytes.Buffer
	if err := WriteBench(&buf, r, r); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"goos: linux\ngoarch: amd64\n",
		"Unit ops/s better=higher\n",
		"Unit svc-p50-ns better=lower\n",
		"Unit hit-rate better=higher\n",
		"Unit recall@10 better=higher\n",
		"BenchmarkEngram/scenario=quickstart/driver=embedded/rate=300/op=store 400 ",
		"BenchmarkEngram/scenario=quickstart/driver=embedded/rate=300/op=all 1200 ",
		" ops/s ", " p99-ns ", " p99.9-ns ", " svc-p50-ns ", " errors/op",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("bench output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "cpu:") || strings.Contains(text, "commit") {
		t.Errorf("the header must hold no per-machine or per-build key:\n%s", text)
	}
	// Read back through x/perf: two repetitions of three benchmarks, the
	// latency units tidied to seconds, the directions kept.
	rd := benchfmt.NewReader(strings.NewReader(text), "r.bench")
	n, units := 0, benchfmt.UnitMetadataMap{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Fatal(rec)
		case *benchfmt.UnitMetadata:
			units[rec.UnitMetadataKey] = rec
		case *benchfmt.Result:
			n++
			if v, ok := rec.Value("svc-p50-sec"); !ok || v <= 0 || v > 1 {
				t.Errorf("%s: svc-p50-sec = %v, %v", rec.Name, v, ok)
			}
			if strings.HasSuffix(string(rec.Name), "op=store") {
				if _, ok := rec.Value("hit-rate"); ok {
					t.Errorf("store has no recall quality to report")
				}
			}
		}
	}
	if n != 8 {
		t.Errorf("read %d lines, want 8 (three kinds and all, twice)", n)
	}
	for unit, want := range map[string]int{"ops/s": 1, "p99-sec": -1, "svc-p50-sec": -1, "errors/op": -1, "hit-rate": 1, "recall@10": 1} {
		if got := units.GetBetter(unit); got != want {
			t.Errorf("better of %s = %d, want %d", unit, got, want)
		}
	}
}

func TestBenchFormatRegistered(t *testing.T) {
	var buf bytes.Buffer
	r := defaultSynth().result(rand.New(rand.NewPCG(1, 1)))
	if err := reports.Render("bench", &buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "Unit ops/s better=higher") {
		t.Errorf("report --format bench:\n%s", buf.String())
	}
}

// TestStockBenchstat builds the benchstat command of the pinned x/perf and
// runs it on our files: the format must be readable by the stock tool, with
// the comparison it would print.
func TestStockBenchstat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds benchstat")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "benchstat")
	if out, err := exec.Command(gobin, "build", "-o", bin, "golang.org/x/perf/cmd/benchstat").CombinedOutput(); err != nil {
		t.Fatalf("build benchstat: %v\n%s", err, out)
	}
	base, slow := defaultSynth(), defaultSynth()
	slow.slow = 1.25
	write := func(name string, s synth, seed uint64) string {
		rng := rand.New(rand.NewPCG(seed, 1))
		var rs []*reports.Result
		for range 6 {
			rs = append(rs, s.result(rng))
		}
		var buf bytes.Buffer
		if err := WriteBench(&buf, rs...); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, cur := write("old.txt", base, 1), write("new.txt", slow, 2)
	out, err := exec.Command(bin, old, cur).CombinedOutput()
	if err != nil {
		t.Fatalf("benchstat: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"svc-p50-sec", "p99-sec", "ops/s", "errors/op", "scenario=quickstart/driver=embedded/rate=300/op=store", "p=0.002 n=6", "vs base"} {
		if !strings.Contains(text, want) {
			t.Errorf("benchstat output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "benchstat:") {
		t.Errorf("benchstat complained:\n%s", text)
	}
}
