package workloads

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every complete scenario shown in docs/scenarios.md (a TOML block with an
// [operations] table) parses and builds: the reference stays true.
func TestDocsScenariosParse(t *testing.T) {
	b, err := os.ReadFile("../docs/scenarios.md")
	if err != nil {
		t.Skip(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	n := 0
	for _, m := range blocks {
		if !strings.Contains(m[1], "[operations]") {
			continue
		}
		n++
		sc, err := Parse("docs/scenarios.md", []byte(m[1]))
		if err != nil {
			t.Errorf("block %d: %v\n%s", n, err, m[1])
			continue
		}
		if _, err := NewGenerator(sc, 1); err != nil {
			t.Errorf("block %d: %v", n, err)
		}
	}
	if n < 3 {
		t.Errorf("only %d complete scenarios found in docs/scenarios.md", n)
	}
}
