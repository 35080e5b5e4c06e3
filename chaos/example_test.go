package chaos_test

import (
	"fmt"

	"github.com/engram-bench/engram-bench/chaos"
)

func ExampleParseSpec() {
	s, err := chaos.ParseSpec("latency at=1m duration=30s latency=200ms jitter=20ms")
	if err != nil {
		panic(err)
	}
	_, params, err := chaos.Validate(s)
	fmt.Println(s, err)
	fmt.Println("stream:", params["stream"])
	// Output:
	// latency at=1m0s duration=30s jitter=20ms latency=200ms <nil>
	// stream: downstream
}
