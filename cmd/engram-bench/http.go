package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	httpdriver "github.com/engram-bench/engram-bench/drivers/http"
	"github.com/engram-bench/engram-bench/workloads"
)

// newHTTPCmd is "engram-bench http": the generic HTTP driver without a
// scenario file — a rate, a duration and targets, like vegeta attack.
func newHTTPCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &runFlags{}
	var targets, arrival, timeout string
	cmd := &cobra.Command{
		Use:   "http --targets FILE | --target URL --rate N --duration D",
		Short: "Load-test any HTTP service open-loop from a targets file (vegeta's format)",
		Long: `Send requests open-loop at a fixed rate: request i is due at i/rate whether or
not earlier ones finished, and its latency is measured from that time. Targets
come from a file in vegeta's http or JSON format (see docs/http-driver.md), or
--target URL sends GET URL. Request i sends target i mod n.

Exit codes: 0 the run is valid; 3 invalid (harness-limited, interrupted, or
target unreachable); 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if targets == "" && f.target == "" {
				return usageErr("give --targets FILE or --target URL")
			}
			if err := checkRateFlag("--rate", f.rate, false); err != nil {
				return err
			}
			if f.duration <= 0 {
				return usageErr("--duration %s: must be > 0", f.duration)
			}
			if arrival != "constant" && arrival != "poisson" {
				return usageErr("--arrival %q: want constant or poisson", arrival)
			}
			warm := max(f.warmup, 0)
			text := fmt.Sprintf("name = \"http\"\ndescription = \"generic HTTP load\"\n[duration]\ntotal_seconds = %g\nwarmup_seconds = %g\n[arrival]\npattern = %q\nrate = %g\n[operations]\nstore_weight = 1.0\n[data]\npreload = 0\n",
				f.duration.Seconds(), warm.Seconds(), arrival, f.rate)
			sc, err := workloads.Parse("http", []byte(text))
			if err != nil {
				return usageErr("%v", err)
			}
			sc.ID = "http"
			f.sc = sc
			f.driver = "http"
			f.rate, f.duration, f.warmup = 0, 0, -1 // already in the scenario
			f.opNames = []string{httpdriver.OpName}
			if targets != "" {
				f.options = append(f.options, "targets="+targets)
			}
			if timeout != "" {
				if t, err := time.ParseDuration(timeout); err != nil || t <= 0 {
					return usageErr("--timeout %q: want a positive duration, e.g. 5s", timeout)
				}
				f.options = append(f.options, "timeout="+timeout)
			}
			return runRun(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&targets, "targets", "", "targets file (vegeta's http or JSON format)")
	fl.StringVar(&f.target, "target", "", "a single URL to GET (instead of --targets)")
	fl.Float64Var(&f.rate, "rate", 0, "requests per second (required)")
	fl.DurationVar(&f.duration, "duration", 0, "measured duration, e.g. 30s (required)")
	fl.DurationVar(&f.warmup, "warmup", 0, "load before measuring, not recorded")
	fl.StringVar(&arrival, "arrival", "constant", "arrival process: constant (i/rate) or poisson")
	fl.StringVar(&timeout, "timeout", "", "per-request timeout (default 30s)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", drivers.DefaultConcurrency, "most requests in flight (and keep-alive connections per host)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed (poisson gaps)")
	fl.StringVarP(&f.out, "out", "o", "", "write the JSON result to this file")
	fl.DurationVar(&f.maxLag, "max-lag", drivers.DefaultMaxLag, "harness dispatch-lag p99 above which the run is invalid (harness-limited)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress")
	return cmd
}
