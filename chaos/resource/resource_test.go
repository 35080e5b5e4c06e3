package resource

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsHelper() {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			var n int64
			for _, c := range f[1] {
				n = n*10 + int64(c-'0')
			}
			return n << 10
		}
	}
	return -1
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// A ballast holds the memory it was asked for, resident, until Stop; a
// spinner runs until Stop; neither outlives it.
func TestHelpers(t *testing.T) {
	ctx := context.Background()
	self := []string{os.Args[0]}
	b, err := Ballast(ctx, self, 48<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil {
		if got := rss(b.PID()); got < 48<<20 {
			t.Errorf("ballast RSS %d, want at least 48 MiB", got)
		}
	}
	s, err := Spin(ctx, self, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b.Stop()
	s.Stop()
	s.Stop() // twice is fine
	if b.Alive() || s.Alive() {
		t.Error("a helper outlived Stop")
	}
	if _, err := Ballast(ctx, self, 0, time.Second); err == nil {
		t.Error("a ballast of 0 bytes was accepted")
	}
	if _, err := start(ctx, self, "melt", "1", "1s"); err == nil || !strings.Contains(err.Error(), "unknown mode") {
		t.Errorf("bad mode: %v", err)
	}
}
