// Command engram-bench load-tests and benchmarks Engram-style cognitive memory
// databases: open-loop, coordinated-omission free, deterministic for a seed.
//
//	engram-bench run --scenario quickstart          # 20 s on the embedded engine
//	engram-bench list                               # scenarios and drivers
//
// Exit codes: 0 every target met; 1 a target missed; 2 usage or configuration
// error; 3 invalid run (harness-limited, interrupted, or target unreachable).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
