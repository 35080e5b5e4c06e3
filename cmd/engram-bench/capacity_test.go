package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestFlagErrorsNameTheFlag gives capacity, scaling and sizing flags out of
// range and checks the usage error names the flag the operator typed, with
// its value, not the library's config field ("start rate", "max rate").
func TestFlagErrorsNameTheFlag(t *testing.T) {
	capacity := []string{"capacity", "--driver", "null", "--slo", "p99=10ms", "-q"}
	scaling := []string{"scaling", "--driver", "null", "-q"}
	sizing := []string{"sizing", "--driver", "embedded", "-q"}
	with := func(base []string, args ...string) []string { return append(append([]string{}, base...), args...) }
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"capacity NaN start", with(capacity, "--start", "NaN"), "--start NaN: give the first step's offered rate"},
		{"capacity huge start", with(capacity, "--start", "2e9"), "--start 2e+09: must be > 0 and at most 1e9 ops/s"},
		{"capacity NaN factor", with(capacity, "--start", "10", "--factor", "NaN"), "--factor NaN: must be > 1 and at most 100"},
		{"capacity factor 1", with(capacity, "--start", "10", "--factor", "1"), "--factor 1: must be > 1"},
		{"capacity factor 0", with(capacity, "--start", "10", "--factor", "0"), "--factor 0: must be > 0 (leave it out for the default, 2)"},
		{"capacity negative max rate", with(capacity, "--start", "10", "--max-rate", "-1"), "--max-rate -1: must be at least the start rate 10"},
		{"capacity max rate 0", with(capacity, "--start", "10", "--max-rate", "0"), "--max-rate 0: must be > 0"},
		{"capacity negative step", with(capacity, "--start", "10", "--step", "-5"), "--step -5: must be >= 0"},
		{"capacity max steps 0", with(capacity, "--start", "10", "--max-steps", "0"), "--max-steps 0: must be > 0"},
		{"capacity too many steps", with(capacity, "--start", "10", "--max-steps", "5000"), "--max-steps 5000: must be in [1, 1000]"},
		{"capacity short steps", with(capacity, "--start", "10", "--step-duration", "500ms"), "--step-duration 500ms: must be at least 1s"},
		{"capacity negative min capacity", with(capacity, "--start", "10", "--min-capacity", "-1"), "--min-capacity -1: must be > 0 ops/s"},
		{"capacity min capacity 0", with(capacity, "--start", "10", "--min-capacity", "0"), "--min-capacity 0: must be > 0 ops/s"},
		{"capacity concurrency 0", with(capacity, "--start", "10", "-c", "0"), "--concurrency 0: must be > 0"},
		{"scaling concurrency 0", with(scaling, "--concurrency", "0"), "--concurrency 0: must be > 0"},
		{"run concurrency 0", []string{"run", "--driver", "null", "-q", "--concurrency", "0"}, "--concurrency 0: must be > 0"},
		{"compare-systems concurrency 0", []string{"compare-systems", "--drivers", "null", "-q", "-c", "0"}, "--concurrency 0: must be > 0"},
		{"capacity negative collapse", with(capacity, "--start", "10", "--collapse-intervals", "-1"), "--collapse-intervals -1: must be >= 1"},
		{"scaling one point", with(scaling, "--points", "4"), "--points 4: a scaling curve needs at least 2"},
		{"scaling point twice", with(scaling, "--points", "2,2"), "--points 2,2: point 2 given twice"},
		{"scaling bad axis", with(scaling, "--axis", "nodes"), `--axis "nodes": want workers or cores`},
		{"scaling cores on a server", with([]string{"scaling", "--driver", "engram", "--target", "http://127.0.0.1:1", "-q"}, "--axis", "cores"), `--axis "cores": cores sets GOMAXPROCS`},
		{"scaling cores above the machine", with([]string{"scaling", "--driver", "embedded", "-q"}, "--axis", "cores", "--points", fmt.Sprintf("1,%d", runtime.NumCPU()+1)), fmt.Sprintf("--points 1,%d: point %d: this machine has", runtime.NumCPU()+1, runtime.NumCPU()+1)},
		{"scaling short", with(scaling, "--duration", "10ms"), "--duration 10ms: must be at least 1s"},
		{"scaling negative warm-up", with(scaling, "--warmup", "-1s"), "--warmup -1s: must be >= 0"},
		{"scaling negative workers", with(scaling, "--workers", "-2"), "--workers -2: must be > 0"},
		{"sizing NaN rate", with(sizing, "--memories", "5000", "--rate", "NaN"), "--rate NaN: give the steady rate"},
		{"sizing few memories", with(sizing, "--memories", "10", "--rate", "10"), "--memories 10: load at least 1,000"},
		{"sizing short", with(sizing, "--memories", "5000", "--rate", "10", "--duration", "1s"), "--duration 1s: at least 2s"},
		{"sizing negative warm-up", with(sizing, "--memories", "5000", "--rate", "10", "--warmup", "-1s"), "--warmup -1s: must be >= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantUsage(t, c.args, c.want) })
	}
}

// wantUsage runs the command line args and checks it is refused as a usage
// error (exit 2) whose message names want.
func wantUsage(t *testing.T, args []string, want string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr %q; want %d naming %q", code, stderr.String(), exitUsage, want)
	}
}
