package systems_test

import (
	"os"
	"testing"

	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
)

// TestMain builds engramd once for the package's tests.
func TestMain(m *testing.M) { os.Exit(systemstest.Main(m)) }
