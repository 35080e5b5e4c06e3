package disk_test

import (
	"fmt"

	"github.com/engram-bench/engram-bench/chaos/disk"
)

func ExampleParse() {
	s, err := disk.Parse("error ops=sync files=wal prob=0.1")
	fmt.Println(s, err)
	// Output: error ops=sync files=wal prob=0.1 seed=1 <nil>
}
