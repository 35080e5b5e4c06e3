package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// cleanupM removes the shared engramd build once the tests have run
// (testscript.Main exits the process, so a defer in TestMain would not).
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if engramdBuild.dir != "" {
		os.RemoveAll(engramdBuild.dir)
	}
	return code
}

func TestMain(m *testing.M) {
	// A test calling run in-process starts engramd and chaos helpers as
	// this binary (selfCommand) with those subcommands: serve them as
	// engram-bench would, instead of running the whole suite again.
	if len(os.Args) > 1 && (os.Args[1] == "engramd" || os.Args[1] == "chaos") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	testscript.Main(cleanupM{m}, map[string]func(){
		"engram-bench": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// $REPO is the checkout, for scripts under scripts/.
		Setup: func(env *testscript.Env) error { env.Setenv("REPO", repo); return nil },
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// passorfail PROG ARGS... runs PROG and accepts exit status 0 or 1
			// (targets met or missed) but nothing else.
			"passorfail": func(ts *testscript.TestScript, neg bool, args []string) {
				err := ts.Exec(args[0], args[1:]...)
				var ee *exec.ExitError
				if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
					ts.Fatalf("%s: %v", args[0], err)
				}
			},
			// ran (alias finished) PROG ARGS... runs PROG and accepts any
			// verdict (exit 0, 1 or 3: a loaded machine may judge a short run
			// harness-limited) but no usage error; the script then checks the
			// result file itself.
			"ran":      anyVerdict,
			"finished": anyVerdict,
			// startat VAR SECONDS and mergecheck: see distributed_test.go.
			"startat":    startAt,
			"mergecheck": mergeCheck,
			"k8sscript":  k8sScript,
			// exits CODES PROG ARGS... runs PROG and accepts only the exit
			// codes in the comma-separated list CODES (e.g. 0,4).
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: exits CODES PROG ARGS...")
				}
				err := ts.Exec(args[1], args[2:]...)
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("%s: %v", args[1], err)
				}
				for _, c := range strings.Split(args[0], ",") {
					if c == fmt.Sprint(code) {
						return
					}
				}
				ts.Fatalf("%s exited %d, want one of %s", args[1], code, args[0])
			},
			// jsonhas FILE PATH... checks that each dotted path exists in the JSON file.
			"jsonhas": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: jsonhas FILE PATH...")
				}
				var v any
				if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
					ts.Fatalf("%s: %v", args[0], err)
				}
				for _, p := range args[1:] {
					_, ok := lookup(v, p)
					if ok == neg {
						ts.Fatalf("%s: path %s present=%v", args[0], p, ok)
					}
				}
			},
			// jsoneq FILE PATH VALUE checks a value's text form.
			"jsoneq": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: jsoneq FILE PATH VALUE")
				}
				var v any
				if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
					ts.Fatalf("%s: %v", args[0], err)
				}
				got, ok := lookup(v, args[1])
				if !ok {
					ts.Fatalf("%s: no %s", args[0], args[1])
				}
				if (fmt.Sprint(got) == args[2]) == neg {
					ts.Fatalf("%s: %s = %v, want %s", args[0], args[1], got, args[2])
				}
			},
			// jsonge FILE PATH MIN checks that a number is at least MIN.
			"jsonge": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: jsonge FILE PATH MIN")
				}
				var v any
				if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
					ts.Fatalf("%s: %v", args[0], err)
				}
				got, ok := lookup(v, args[1])
				f, isNum := got.(float64)
				min, err := strconv.ParseFloat(args[2], 64)
				if !ok || !isNum || err != nil {
					ts.Fatalf("%s: %s = %v (want a number), min %q", args[0], args[1], got, args[2])
				}
				if (f >= min) == neg {
					ts.Fatalf("%s: %s = %v, want >= %s", args[0], args[1], f, args[2])
				}
			},
		},
	})
}

func anyVerdict(ts *testscript.TestScript, neg bool, args []string) {
	err := ts.Exec(args[0], args[1:]...)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && (ee.ExitCode() == 1 || ee.ExitCode() == 3)) {
		ts.Fatalf("%s: %v", args[0], err)
	}
}

func lookup(v any, path string) (any, bool) {
	for _, p := range strings.Split(path, ".") {
		if a, ok := v.([]any); ok {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(a) {
				return nil, false
			}
			v = a[n]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}
