package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/cmd/internal/engramd"
)

// engramdCommand is the argv prefix that runs the engramd built into this
// binary (`engram-bench engramd`, see newEngramdCmd): what a drill, a chaos
// drill, compare-systems and sizing start when no flag names another
// engramd. Each call returns a new slice, so callers may append to it.
func engramdCommand() []string { return append(selfCommand(), "engramd") }

// newEngramdCmd is `engram-bench engramd [engramd flags]`: engramd itself,
// from the harness binary, so that chaos drills start the engine behind
// Engram's API with nothing else built. Hidden: operators run cmd/engramd.
func newEngramdCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "engramd [flags]",
		Short:              "run engramd (the engine behind Engram's REST API) from this binary",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := engramd.Run(cmd.Context(), args, stdout, stderr); code != 0 {
				return &exitError{code: code, err: nil}
			}
			return nil
		},
	}
}
