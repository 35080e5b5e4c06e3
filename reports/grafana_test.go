package reports

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard checks the shipped dashboard: valid JSON, and every
// series its queries name is one the exporter serves.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/engram-bench.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/engram-bench.json: %v", err)
	}
	e := NewExporter(ExporterConfig{Names: hlogNames})
	recordTicks(1, e.Tick)
	fams, err := e.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, f := range fams {
		n := f.GetName()
		served[n] = true
		if f.GetType().String() == "HISTOGRAM" {
			served[n+"_bucket"], served[n+"_sum"], served[n+"_count"] = true, true, true
		}
	}
	ident := regexp.MustCompile(`\b(engram_bench_[a-z_]+|process_[a-z_]+|go_[a-z_]+)\b`)
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced %q", p.Title, tg.Expr)
			}
			for _, m := range ident.FindAllString(tg.Expr, -1) {
				if !served[m] {
					t.Errorf("panel %q queries %s, which the exporter does not serve", p.Title, m)
				}
			}
		}
	}
	if exprs < 10 {
		t.Errorf("only %d queries", exprs)
	}
}
