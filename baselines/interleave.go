package baselines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Arm is one side of an interleaved A/B experiment: a build of engram-bench
// and the extra arguments it runs with.
type Arm struct {
	// Name labels the arm and names its folder ("baseline", "candidate").
	Name string
	// Bin is the engram-bench executable of this build.
	Bin string
	// Args are appended to the shared run arguments (e.g. a planted
	// regression: --driver-opt slowdown=0.25).
	Args []string
}

// Order is how the arms alternate.
type Order string

// Orders.
const (
	// OrderABBA alternates which arm goes first in each round (A B, B A,
	// A B, …): a drift that grows steadily through the experiment costs both
	// arms the same, exactly.
	OrderABBA Order = "abba"
	// OrderABAB always runs A first (A B, A B, …).
	OrderABAB Order = "abab"
)

// Interleaving is an A/B experiment on one machine: Rounds rounds, each
// running both arms once, so that whatever the machine does in the meantime
// (other jobs, thermal drift, noisy neighbours) hits both builds alike.
type Interleaving struct {
	Arms   [2]Arm
	Rounds int
	Order  Order
	// Dir receives <arm name>/run-NNN.json for every run.
	Dir string
	// RunArgs are the shared arguments after the executable, starting with
	// the subcommand: run --scenario quickstart --duration 10s …
	RunArgs []string
	// Retries is how many invalid runs (exit 3: harness-limited on a busy
	// machine, say) may be repeated in place, in total, so that each arm
	// still ends with Rounds valid runs. 0 repeats none.
	Retries int
}

// Step is one run of an interleaving.
type Step struct {
	Round int // 1-based
	Arm   int // 0 or 1
	// Out is the result file the run writes.
	Out string
	// Argv is the command line: the arm's binary, the shared arguments, the
	// arm's arguments, then --out.
	Argv []string
	// Retry counts the repeats of this step after invalid runs (0: the first
	// attempt).
	Retry int
}

// Validate checks the interleaving.
func (it *Interleaving) Validate() error {
	if it.Rounds < 1 {
		return fmt.Errorf("rounds %d: must be >= 1", it.Rounds)
	}
	if it.Retries < 0 {
		return fmt.Errorf("retries %d: must be >= 0", it.Retries)
	}
	switch it.Order {
	case "":
		it.Order = OrderABBA
	case OrderABBA, OrderABAB:
	default:
		return fmt.Errorf("order %q: want abba or abab", it.Order)
	}
	if it.Arms[0].Name == it.Arms[1].Name || it.Arms[0].Name == "" || it.Arms[1].Name == "" {
		return fmt.Errorf("arms need two different names, got %q and %q", it.Arms[0].Name, it.Arms[1].Name)
	}
	for _, a := range it.Arms {
		if a.Bin == "" {
			return fmt.Errorf("arm %s: no executable", a.Name)
		}
	}
	if len(it.RunArgs) == 0 || it.RunArgs[0] != "run" {
		return fmt.Errorf("the shared arguments must start with the run subcommand (… -- run --scenario …), got %q", it.RunArgs)
	}
	for _, a := range append(append([]string(nil), it.RunArgs...), append(it.Arms[0].Args, it.Arms[1].Args...)...) {
		if a == "--out" || a == "-o" || len(a) > 6 && a[:6] == "--out=" {
			return errors.New("--out is set by the interleaving for every run; leave it out")
		}
	}
	if it.Dir == "" {
		return errors.New("no output directory")
	}
	return nil
}

// Steps lists the runs in the order they happen.
func (it *Interleaving) Steps() []Step {
	var steps []Step
	for r := 1; r <= it.Rounds; r++ {
		first := 0
		if it.Order == OrderABBA && r%2 == 0 {
			first = 1
		}
		for k := 0; k < 2; k++ {
			a := (first + k) % 2
			arm := it.Arms[a]
			out := filepath.Join(it.Dir, arm.Name, fmt.Sprintf("run-%03d.json", r))
			argv := append([]string{arm.Bin}, it.RunArgs...)
			argv = append(argv, arm.Args...)
			argv = append(argv, "--out", out)
			steps = append(steps, Step{Round: r, Arm: a, Out: out, Argv: argv})
		}
	}
	return steps
}

// ArmDir is where an arm's results go.
func (it *Interleaving) ArmDir(arm int) string {
	return filepath.Join(it.Dir, it.Arms[arm].Name)
}

// RunFunc executes one step and returns the process's exit code (or an
// error when it could not be started).
type RunFunc func(ctx context.Context, s Step) (exitCode int, err error)

// Interleave runs every step in order through run. A run that exits 0 or 1
// (targets met or missed) counts. One that exits 3 (invalid: harness-limited
// or interrupted; its result is written and later skipped by Load) is
// repeated at once while Retries allow, then kept as it is. Exit 2 (usage
// error), any other code or a failure to start stops the experiment, since
// every later run would fail the same way. progress, when set, hears about
// each attempt before it starts. On cancellation it returns the context's
// error after the running step.
func Interleave(ctx context.Context, it *Interleaving, run RunFunc, progress func(i, n int, s Step)) error {
	if err := it.Validate(); err != nil {
		return err
	}
	for a := range it.Arms {
		if err := os.MkdirAll(it.ArmDir(a), 0o755); err != nil {
			return err
		}
	}
	steps := it.Steps()
	retries := 0
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before round %d: %w", s.Round, err)
		}
		if progress != nil {
			progress(i+1, len(steps), s)
		}
		for {
			code, err := run(ctx, s)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", s.Round, it.Arms[s.Arm].Name, err)
			}
			if code == 3 && retries < it.Retries && ctx.Err() == nil {
				retries++
				s.Retry++
				if progress != nil {
					progress(i+1, len(steps), s)
				}
				continue
			}
			if code != 0 && code != 1 && code != 3 {
				return fmt.Errorf("round %d, %s: %q exited %d", s.Round, it.Arms[s.Arm].Name, s.Argv, code)
			}
			break
		}
	}
	return nil
}
