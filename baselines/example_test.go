package baselines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/engram-bench/engram-bench/baselines"
	"github.com/engram-bench/engram-bench/reports"
)

// Six runs of a baseline and six of a build whose median service time is
// 30% higher: the gate fails on that metric and exits 1.
func ExampleGate() {
	dir, _ := os.MkdirTemp("", "gate-example-")
	defer os.RemoveAll(dir)
	write := func(name string, svc ...float64) string {
		var b strings.Builder
		b.WriteString("Unit svc-p50-ns better=lower\n")
		for _, v := range svc {
			fmt.Fprintf(&b, "BenchmarkEngram/scenario=quickstart/op=store 400 %g svc-p50-ns\n", v)
		}
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte(b.String()), 0o644)
		return p
	}
	base, _ := baselines.Load("baseline", write("base.txt", 1.00e6, 1.02e6, 0.99e6, 1.01e6, 0.98e6, 1.03e6))
	cur, _ := baselines.Load("current", write("cur.txt", 1.31e6, 1.29e6, 1.33e6, 1.30e6, 1.28e6, 1.32e6))
	c, err := baselines.Compare([]*baselines.Set{base, cur}, baselines.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	v := baselines.Gate(c, baselines.DefaultPolicy(), baselines.GateOptions{})
	fmt.Println(v.Outcome, "exit", v.Outcome.Code())
	fmt.Println(v.Reasons[0])
	// Output:
	// FAIL exit 1
	// svc-p50-sec of Engram/scenario=quickstart/op=store: +29.9% worse (limit 10%/15%, p=0.0022, q=0.0022)
}

// A result in the Go benchmark format, as `engram-bench report --format
// bench` writes it: one line per op kind and one for the whole run (op=all);
// benchstat reads it as is.
func ExampleWriteBench() {
	ms := func(v float64) int64 { return int64(v * 1e6) }
	op := reports.OpStats{
		Count: 1200, Throughput: 300,
		Latency: reports.Percentiles{P50: ms(1.2), P99: ms(9), P999: ms(15)},
		Service: reports.Percentiles{P50: ms(1), P99: ms(8), P999: ms(14)},
	}
	r := &reports.Result{
		Schema: reports.Schema, Scenario: "quickstart", Driver: "embedded", TargetRate: 300,
		Ops: map[string]reports.OpStats{"store": op}, Total: op,
		Env: reports.Env{OS: "linux", Arch: "amd64"},
	}
	var b strings.Builder
	_ = baselines.WriteBench(&b, r)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "goos") || strings.HasPrefix(line, "Unit svc-p50") {
			fmt.Println(line)
		}
	}
	// Output:
	// Unit svc-p50-ns better=lower
	// goos: linux
	// BenchmarkEngram/scenario=quickstart/driver=embedded/rate=300/op=store 1200 300 ops/s 1.2e+06 p50-ns 9e+06 p99-ns 1.5e+07 p99.9-ns 1e+06 svc-p50-ns 8e+06 svc-p99-ns 1.4e+07 svc-p99.9-ns 0 errors/op
	// BenchmarkEngram/scenario=quickstart/driver=embedded/rate=300/op=all 1200 300 ops/s 1.2e+06 p50-ns 9e+06 p99-ns 1.5e+07 p99.9-ns 1e+06 svc-p50-ns 8e+06 svc-p99-ns 1.4e+07 svc-p99.9-ns 0 errors/op
}
