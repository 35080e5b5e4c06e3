package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestEngramdCommand: the one argv every command starts the built-in
// engramd with runs engramd (here the test binary, which serves the
// subcommand as engram-bench does), and each call gives a slice of its own.
func TestEngramdCommand(t *testing.T) {
	a, b := engramdCommand(), engramdCommand()
	if want := append(selfCommand(), "engramd"); !slices.Equal(a, want) {
		t.Fatalf("engramdCommand() = %q, want %q", a, want)
	}
	a[len(a)-1] = "changed"
	if b[len(b)-1] != "engramd" {
		t.Fatalf("two calls share their slice: %q", b)
	}
	b = append(b, "--help")
	out, _ := exec.Command(b[0], b[1:]...).CombinedOutput() // --help may exit 0 or 2
	if !strings.Contains(string(out), "--backup-dir") {
		t.Errorf("%q printed no engramd usage:\n%s", b, out)
	}
}
