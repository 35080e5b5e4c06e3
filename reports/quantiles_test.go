package reports

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 1000; i++ {
		h.RecordValue(i * 1_000_000) // 1 ms … 1000 ms
	}
	r := &Result{Ops: map[string]OpStats{"http": {Count: 1000, LatencyHDR: EncodeHistogram(h)}}}
	var b bytes.Buffer
	if err := WriteQuantiles(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"p95", "p99.9", "http   1000", "950.0", "999.2", "1000.3"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
