package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

//go:embed html/capacity.html.tmpl
var capacityTemplate string

var capacityTmpl = template.Must(template.New("capacity").Funcs(template.FuncMap{
	"ns":    func(v int64) string { return FormatNs(v) },
	"num":   func(v float64) string { return fmtNum(round3(v)) },
	"pct":   func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"secs":  func(v float64) string { return time.Duration(v * 1e9).Round(time.Millisecond).String() },
	"css":   func() template.CSS { return template.CSS(htmlCSS) },
	"js":    func() template.JS { return template.JS(htmlJS) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(capacityTemplate))

// WriteCapacityHTML writes a capacity search as one self-contained HTML page:
// the knee, the latency-against-throughput curve (one point per step, the
// SLO's bounds and the knee marked), achieved against offered rate, and every
// step with its verdict and reasons.
func WriteCapacityHTML(w io.Writer, c *Capacity) error {
	slo, _ := ParseSLO(c.SLO)
	steps := append([]CapacityStep(nil), c.Steps...)
	sort.SliceStable(steps, func(a, b int) bool { return steps[a].Offered < steps[b].Offered })
	class, headline := "invalid", "NO KNEE"
	switch {
	case c.Knee.Found:
		class, headline = "pass", fmtValue(round3(c.Knee.Pass), "")+" ops/s"
	case c.Knee.Pass > 0:
		class, headline = "pass", "≥ "+fmtValue(round3(c.Knee.Pass), "")+" ops/s"
	}
	if c.Partial {
		class = "invalid"
	}

	// Latency against achieved throughput.
	curve := newChart("curve", "Latency against throughput", 1100, 360)
	curve.Y, curve.XUnit, curve.YUnit = axisLog, "ops/s achieved", "ms"
	xs := make([]float64, len(steps))
	for i, s := range steps {
		xs[i] = s.Achieved
	}
	for _, pk := range []struct {
		name, color string
		get         func(Percentiles) int64
	}{
		{"p50", "#4e79a7", func(p Percentiles) int64 { return p.P50 }},
		{"p99", "#f28e2b", func(p Percentiles) int64 { return p.P99 }},
		{"p99.9", "#e15759", func(p Percentiles) int64 { return p.P999 }},
	} {
		ys := make([]float64, len(steps))
		for i, s := range steps {
			ys[i] = math.NaN()
			if s.Count > s.Errors {
				ys[i] = float64(pk.get(s.Latency)) / 1e6
			}
		}
		curve.Series = append(curve.Series, chartSeries{Name: pk.name, Color: pk.color, X: xs, Y: ys, Marks: true})
	}
	xmax := 0.0
	for _, s := range steps {
		xmax = math.Max(xmax, math.Max(s.Achieved, s.Offered))
	}
	curve.XMin, curve.XMax = 0, math.Max(xmax*1.05, 1)
	for i, o := range slo.Latency {
		v := float64(o.Max) / 1e6
		curve.Series = append(curve.Series, chartSeries{Name: "SLO " + o.Name(), Color: opPalette[(i+6)%len(opPalette)], Dash: true, Width: 1,
			X: []float64{0, curve.XMax}, Y: []float64{v, v}})
	}
	if c.Knee.Found {
		curve.Bands = []Window{{Kind: "knee", Name: "knee", StartS: c.Knee.Pass, EndS: c.Knee.Fail}}
	}

	// Achieved against offered.
	rates := newChart("rates", "Achieved against offered", 1100, 280)
	rates.XUnit, rates.YUnit = "ops/s offered", "ops/s"
	offered := make([]float64, len(steps))
	achieved := make([]float64, len(steps))
	for i, s := range steps {
		offered[i], achieved[i] = s.Offered, s.Achieved
	}
	rates.XMin, rates.XMax = 0, curve.XMax
	rates.Series = []chartSeries{
		{Name: "achieved = offered", Color: "#7f7f7f", Dash: true, Width: 1, X: []float64{0, curve.XMax}, Y: []float64{0, curve.XMax}},
		{Name: "achieved", Color: "#4e79a7", Width: 2, X: offered, Y: achieved, Marks: true},
	}
	rates.Bands = curve.Bands

	passing, failing := 0, 0
	for _, s := range c.Steps {
		if s.Verdict == VerdictPass {
			passing++
		} else {
			failing++
		}
	}
	cards := []htmlCard{
		{"capacity under the SLO", headline, "the highest offered rate shown to meet it", class},
		{"first failing", fmtValue(round3(c.Knee.Fail), "") + " ops/s", fmt.Sprintf("knee width ±%.1f%%", 50*c.Knee.Width()), ""},
		{"steps", fmt.Sprint(len(c.Steps)), fmt.Sprintf("%d passed, %d did not", passing, failing), ""},
		{"search time", time.Duration(c.DurationS * 1e9).Round(time.Second).String(), dataNote(c.Method.Data), ""},
		{"SLO", c.SLO, fmt.Sprintf("latency judged at %.0f%% confidence", 100*JudgeConfidence), ""},
	}
	if c.Knee.Fail == 0 {
		cards[1] = htmlCard{"first failing", "none", "no step failed", ""}
	}
	return capacityTmpl.Execute(w, map[string]any{
		"C": c, "Class": class, "Headline": headline, "Knee": KneeLine(c), "Cards": cards,
		"Curve": curve, "Rates": rates, "Confidence": fmt.Sprintf("%.0f", 100*JudgeConfidence),
		"Generated": time.Now().UTC().Format("2006-01-02 15:04 UTC"),
	})
}

// dataNote says what data the steps ran on, for the page's card.
func dataNote(d string) string {
	switch d {
	case "fresh":
		return "a fresh target and preload per step"
	case "continue", "":
		return "one preload, every step on the same data"
	}
	return d + " data"
}
