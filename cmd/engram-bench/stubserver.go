package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	httpdriver "github.com/engram-bench/engram-bench/drivers/http"
)

// newStubServerCmd is "engram-bench stub-server": a trivial loopback target
// for calibrating engram-bench against its peers, optionally freezing.
func newStubServerCmd(stdout io.Writer) *cobra.Command {
	var addr, body string
	var freeze, every time.Duration
	cmd := &cobra.Command{
		Use:   "stub-server [--addr 127.0.0.1:8080] [--freeze 500ms --freeze-every 5s]",
		Short: "Serve a trivial HTTP target (optionally freezing periodically) for calibration",
		Long: `Answer every request at once with a small body, so that load generators can
be compared against the same target. With --freeze and --freeze-every the
server stalls periodically: a request arriving during a freeze is answered
when it ends, which gives a known latency distribution to check tools
against (docs/benchmarking.md). Stops on SIGTERM or Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stub, err := httpdriver.NewStub(httpdriver.StubConfig{Body: body, Freeze: freeze, FreezeEvery: every})
			if err != nil {
				return usageErr("%v", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usageErr("--addr: %v", err)
			}
			srv := &http.Server{Handler: stub, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(stdout, "stub-server: listening on http://%s", ln.Addr())
			if freeze > 0 {
				fmt.Fprintf(stdout, " (freezing %s every %s)", freeze, every)
			}
			fmt.Fprintln(stdout)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return &exitError{code: exitInvalid, err: err}
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return &exitError{code: exitInvalid, err: err}
			}
			fmt.Fprintf(stdout, "stub-server: answered %d requests\n", stub.Requests())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free one)")
	fl.StringVar(&body, "body", "ok\n", "answer body")
	fl.DurationVar(&freeze, "freeze", 0, "freeze for this long ...")
	fl.DurationVar(&every, "freeze-every", 0, "... every this long (the first freeze starts with the server)")
	return cmd
}
