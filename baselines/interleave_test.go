package baselines

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newIt(dir string, rounds int, order Order) *Interleaving {
	return &Interleaving{
		Arms:    [2]Arm{{Name: "baseline", Bin: "old/engram-bench"}, {Name: "candidate", Bin: "new/engram-bench", Args: []string{"--driver-opt", "slowdown=0.25"}}},
		Rounds:  rounds,
		Order:   order,
		Dir:     dir,
		RunArgs: []string{"run", "--scenario", "quickstart", "-q"},
	}
}

func TestInterleavingSteps(t *testing.T) {
	tests := []struct {
		order Order
		want  string
	}{
		{OrderABBA, "1A 1B 2B 2A 3A 3B 4B 4A"},
		{OrderABAB, "1A 1B 2A 2B 3A 3B 4A 4B"},
	}
	for _, tc := range tests {
		t.Run(string(tc.order), func(t *testing.T) {
			it := newIt("out", 4, tc.order)
			if err := it.Validate(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range it.Steps() {
				got = append(got, fmt.Sprintf("%d%c", s.Round, "AB"[s.Arm]))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("order %s: %v, want %s", tc.order, got, tc.want)
			}
		})
	}
	s := newIt("out", 1, "").Steps()
	want := []string{"new/engram-bench", "run", "--scenario", "quickstart", "-q", "--driver-opt", "slowdown=0.25", "--out", filepath.Join("out", "candidate", "run-001.json")}
	if !slices.Equal(s[1].Argv, want) {
		t.Errorf("argv %q, want %q", s[1].Argv, want)
	}
}

func TestInterleavingValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(it *Interleaving)
		want   string
	}{
		{"no rounds", func(it *Interleaving) { it.Rounds = 0 }, "rounds 0: must be >= 1"},
		{"bad order", func(it *Interleaving) { it.Order = "aabb" }, `order "aabb": want abba or abab`},
		{"same names", func(it *Interleaving) { it.Arms[1].Name = "baseline" }, "two different names"},
		{"not run", func(it *Interleaving) { it.RunArgs = []string{"list"} }, "must start with the run subcommand"},
		{"out given", func(it *Interleaving) { it.RunArgs = append(it.RunArgs, "--out=x.json") }, "--out is set by the interleaving"},
		{"out given to an arm", func(it *Interleaving) { it.Arms[0].Args = []string{"-o", "x"} }, "--out is set by the interleaving"},
		{"negative retries", func(it *Interleaving) { it.Retries = -1 }, "retries -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := newIt("out", 2, "")
			tc.change(it)
			if err := it.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestInterleave(t *testing.T) {
	tests := []struct {
		name    string
		codes   []int // exit code of each attempt, in order; then 0
		retries int
		want    string // error substring, "" for none
		runs    int
	}{
		{"all fine", nil, 0, "", 6},
		{"missed targets count", []int{1, 1, 0, 1}, 0, "", 6},
		{"invalid run repeated", []int{0, 3, 0}, 2, "", 7},
		{"retries run out: kept invalid", []int{3, 3, 3, 3}, 2, "", 8},
		{"usage error stops", []int{0, 2}, 0, "round 1, candidate", 2},
		{"crash stops", []int{0, 0, 139}, 0, "exited 139", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := newIt(t.TempDir(), 3, OrderABBA)
			it.Retries = tc.retries
			n, retries := 0, 0
			err := Interleave(context.Background(), it, func(ctx context.Context, s Step) (int, error) {
				n++
				if n <= len(tc.codes) {
					return tc.codes[n-1], nil
				}
				return 0, nil
			}, func(i, total int, s Step) {
				if s.Retry > 0 {
					retries++
				}
			})
			if retries != tc.runs-6 && err == nil {
				t.Errorf("%d retries announced, want %d", retries, tc.runs-6)
			}
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if n != tc.runs {
				t.Errorf("%d runs, want %d", n, tc.runs)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		it := newIt(t.TempDir(), 3, OrderABBA)
		n := 0
		err := Interleave(ctx, it, func(ctx context.Context, s Step) (int, error) {
			n++
			if n == 2 {
				cancel()
			}
			return 0, nil
		}, nil)
		if !errors.Is(err, context.Canceled) || n != 2 {
			t.Errorf("err %v after %d runs", err, n)
		}
	})
	t.Run("start failure", func(t *testing.T) {
		it := newIt(t.TempDir(), 1, OrderABBA)
		err := Interleave(context.Background(), it, func(ctx context.Context, s Step) (int, error) {
			return -1, errors.New("exec: no such file")
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "round 1, baseline: exec: no such file") {
			t.Errorf("err %v", err)
		}
	})
}
