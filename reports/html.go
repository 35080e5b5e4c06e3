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

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

func init() {
	RegisterFormat(FormatMeta{Name: "html", Help: "one self-contained HTML page: verdict, targets, hypotheses, charts over time, percentile spectrum (works offline)", Render: WriteHTML})
}

//go:embed html/report.html.tmpl
var htmlTemplate string

//go:embed html/report.css
var htmlCSS string

//go:embed html/report.js
var htmlJS string

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ns":      func(v int64) string { return FormatNs(v) },
	"num":     func(v float64) string { return fmtNum(round3(v)) },
	"pct":     func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
	"pctf":    func(v float64) float64 { return 100 * v },
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"secs":    func(v float64) string { return time.Duration(v * 1e9).Round(time.Millisecond).String() },
	"css":     func() template.CSS { return template.CSS(htmlCSS) },
	"js":      func() template.JS { return template.JS(htmlJS) },
	"frac":    fractionCell,
	"operrs":  opErrors,
	"oplat":   opLatency,
	"grperrs": groupErrors,
	"grplat":  groupLatency,
	"bytes":   fmtBytes,
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"pv":      FormatProfileValue,
	"fn":      ShortFunc,
	"share":   func(v, total int64) string { return fmt.Sprintf("%.2f%%", pctOf(v, total)) },
	"optsecs": optSecs,
	"since":   optSecsSince,
}).Parse(htmlTemplate))

// errorsCard is the summary card of the run's errors: the rate and count of
// the errors that count, and ops the target does not support apart, as the
// per-op table's errors cell puts them ("0.01%", "2 failed + 109
// unsupported"; "n/a", "6 unsupported" when it could do none).
func errorsCard(t OpStats) htmlCard {
	u := t.ErrorsByClass[classUnsupported]
	n := t.Errors - u
	c := htmlCard{Label: "errors", Value: fmt.Sprintf("%.2f%%", 100*t.ErrorRate), Sub: fmt.Sprintf("%d failed", n), Class: "good"}
	if n > 0 {
		c.Class = "warn"
	}
	if u > 0 {
		c.Sub += fmt.Sprintf(" + %d unsupported", u)
		if u == t.Count {
			c.Value, c.Sub = "n/a", fmt.Sprintf("%d unsupported", u)
		}
	}
	return c
}

// recallCard is the summary card of the run's recall@10 over every scored
// cue, green or red when the scenario makes it a target.
func recallCard(r *Result) htmlCard {
	q := r.Quality
	c := htmlCard{Label: "recall@10", Value: fractionCell(q.RecallAt10), Sub: fmt.Sprintf("over %d scored cues", q.Scored)}
	for _, t := range r.Targets {
		if t.Name == "recall_at_10" {
			c.Class = "bad"
			if t.Pass {
				c.Class = "good"
			}
		}
	}
	return c
}

// opPalette colours op kinds (Tableau 10: distinct and colour-blind aware).
var opPalette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

type htmlPage struct {
	R            *Result
	VerdictClass string
	Generated    string
	Cards        []htmlCard
	Ops          []htmlOp
	Throughput   *chart
	P99          *chart
	Latency      []*chart
	Spectrum     *chart
	Errors       *chart
	Lag          *chart
	InFlight     *chart
	Target       []*chart
	TargetNote   string
	DrainNote    string
	Windows      []Window
	ErrorClasses []string
	Chaos        *htmlChaos
	// OpsNote explains the per-op table's "-" and "unsupported" cells,
	// when it has any.
	OpsNote string
	// HasRecall is set when some op kind has a recall@10: the per-op, phase
	// and space tables then have a recall@10 column.
	HasRecall bool
	// Recall lists the op kinds with a recall@10, for the quality section.
	Recall []htmlOp
	// Spaces are the busiest memory spaces (at most maxSpaceRows, as in the
	// text summary) of a run with more than one; SpacesMore counts the rest.
	Spaces     []htmlSpace
	SpacesMore int
}

type htmlSpace struct {
	Name string
	G    GroupStats
}

type htmlCard struct {
	Label, Value, Sub, Class string
}

type htmlOp struct {
	Name  string
	Color string
	S     OpStats
}

// WriteHTML writes r as one self-contained HTML page (no external file,
// script or font): verdict and targets, hypothesis tests, throughput (target
// vs achieved), latency percentiles per op kind over time, the percentile
// spectrum on a "nines" axis, errors over time, the harness's lag, scraped
// target metrics, with phase and fault windows shaded, then the environment
// and scenario. Charts are inline SVG drawn here; a small inline script adds
// hover read-outs and legend toggles, and the page reads fully without it.
func WriteHTML(w io.Writer, r *Result) error {
	p, err := buildPage(r)
	if err != nil {
		return err
	}
	return pageTmpl.Execute(w, p)
}

func buildPage(r *Result) (*htmlPage, error) {
	p := &htmlPage{R: r, Generated: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Windows: r.Windows, Chaos: buildChaosHTML(r)}
	if noneOK, unsup := tableMarks(r); noneOK || unsup {
		p.OpsNote = "Latency is end − intended start of successful ops"
		if noneOK {
			p.OpsNote += " (- where none succeeded)"
		}
		p.OpsNote += "."
		if unsup {
			p.OpsNote += " " + unsupportedNote
		}
	}
	switch r.Verdict {
	case VerdictPass:
		p.VerdictClass = "pass"
	case VerdictFail:
		p.VerdictClass = "fail"
	default:
		p.VerdictClass = "invalid"
	}
	names := r.OpNames()
	color := map[string]string{}
	for i, n := range names {
		color[n] = opPalette[i%len(opPalette)]
		p.Ops = append(p.Ops, htmlOp{Name: n, Color: color[n], S: r.Ops[n]})
		if r.Ops[n].RecallAt10 != nil {
			p.Recall = append(p.Recall, p.Ops[i])
		}
	}
	p.HasRecall = len(p.Recall) > 0 || r.Quality != nil && r.Quality.RecallAt10 != nil
	if len(r.Spaces) > 1 {
		for i, n := range spacesByLoad(r) {
			if i == maxSpaceRows {
				p.SpacesMore = len(r.Spaces) - maxSpaceRows
				break
			}
			p.Spaces = append(p.Spaces, htmlSpace{Name: n, G: r.Spaces[n].Total})
		}
	}
	classes := map[string]bool{}
	for _, n := range names {
		for c := range r.Ops[n].ErrorsByClass {
			classes[c] = true
		}
	}
	for c := range classes {
		p.ErrorClasses = append(p.ErrorClasses, c)
	}
	sort.Strings(p.ErrorClasses)

	rateClass := "good"
	if r.TargetRate > 0 && r.AchievedRate < 0.99*r.TargetRate {
		rateClass = "bad"
	}
	errCard := errorsCard(r.Total)
	lagClass := "good"
	if r.Harness.Limited {
		lagClass = "bad"
	}
	p.Cards = []htmlCard{
		{"achieved rate", fmtNum(round3(r.AchievedRate)) + " ops/s", "target " + fmtNum(round3(r.TargetRate)) + " ops/s", rateClass},
		{"latency p99", opLatency(r.Total, r.Total.Latency.P99), "p50 " + opLatency(r.Total, r.Total.Latency.P50) + " · max " + opLatency(r.Total, r.Total.Latency.Max), ""},
		{"ops", fmt.Sprint(r.Total.Count), "over " + time.Duration(r.DurationS*1e9).Round(time.Millisecond).String(), ""},
		errCard,
		{"harness lag p99", FormatNs(r.Harness.LagP99Ns), fmt.Sprintf("queued %d · cpu %.0f%%", r.Harness.Queued, r.Harness.CPUPercent), lagClass},
	}
	if q := r.Quality; q != nil && q.RecallAt10 != nil {
		p.Cards = append(p.Cards, recallCard(r))
	}

	iv := r.Intervals
	const maxPts = 1200
	xs := make([]float64, len(iv))
	for i, v := range iv {
		xs[i] = (v.StartS + v.EndS) / 2
	}
	bands := r.Windows
	xmax := r.DurationS
	if len(iv) > 0 {
		xmax = math.Max(xmax, iv[len(iv)-1].EndS)
	}
	timeChart := func(id, title, unit string, w, h int) *chart {
		c := newChart(id, title, w, h)
		c.XUnit, c.YUnit, c.Bands, c.Marks = "s", unit, bands, r.Marks
		c.XMin, c.XMax = 0, math.Max(xmax, 1)
		return c
	}

	// Throughput: achieved against the schedule's target.
	p.Throughput = timeChart("throughput", "Throughput: target vs achieved", "ops/s", 1100, 280)
	ach := make([]float64, len(iv))
	tgt := make([]float64, len(iv))
	scheduled := false
	for i, v := range iv {
		ach[i] = v.Throughput
		tgt[i] = r.TargetRate
		if v.Scheduled > 0 {
			scheduled = true
		}
	}
	if scheduled {
		for i, v := range iv {
			if d := v.EndS - v.StartS; d > 0 {
				tgt[i] = float64(v.Scheduled) / d
			}
		}
	}
	// The last interval may be a short drain (ops finishing after the
	// schedule ended): as a rate it is noise, so the rate lines leave it out.
	rx := xs
	if n := len(iv); n >= 2 {
		if last := iv[n-1].EndS - iv[n-1].StartS; last < 0.5*(iv[n-2].EndS-iv[n-2].StartS) {
			rx, ach, tgt = xs[:n-1], ach[:n-1], tgt[:n-1]
			p.DrainNote = fmt.Sprintf("The last %s interval (the drain: ops finishing after the schedule ended) is left out of the rate lines.", fmtSecondsAxis(round3(last)))
		}
	}
	tx, ty := downsample(rx, tgt, maxPts, false)
	ax, ay := downsample(rx, ach, maxPts, false)
	p.Throughput.Series = []chartSeries{
		{Name: "target", Color: "#7f7f7f", Dash: true, X: tx, Y: ty},
		{Name: "achieved", Color: "#4e79a7", Width: 2, X: ax, Y: ay},
	}
	p.Throughput.Note = "target: ops the arrival schedule made due per second; achieved: ops finished per second"
	if !scheduled {
		p.Throughput.Note = "target: the arrival's mean rate; achieved: ops finished per second"
	}

	// p99 of every op kind on one chart, then one chart per kind.
	p.P99 = timeChart("p99", "Latency p99 by op kind", "ms", 1100, 280)
	p.P99.Y = axisLog
	for _, n := range names {
		c := timeChart("lat-"+n, n, "ms", 540, 240)
		c.Y = axisLog
		type pick struct {
			name, color string
			dash        bool
			get         func(IntervalOpStat) int64
		}
		for _, pk := range []pick{
			{"p50", "#4e79a7", false, func(s IntervalOpStat) int64 { return s.P50Ns }},
			{"p99", "#f28e2b", false, func(s IntervalOpStat) int64 { return s.P99Ns }},
			{"p99.9", "#e15759", false, func(s IntervalOpStat) int64 { return s.P999Ns }},
			{"max", "#7f7f7f", true, func(s IntervalOpStat) int64 { return s.MaxNs }},
		} {
			ys := make([]float64, len(iv))
			for i, v := range iv {
				ys[i] = math.NaN()
				if s, ok := v.Ops[n]; ok && s.Count > s.Errors {
					ys[i] = float64(pk.get(s)) / 1e6
				}
			}
			sx, sy := downsample(xs, ys, maxPts, true)
			c.Series = append(c.Series, chartSeries{Name: pk.name, Color: pk.color, Dash: pk.dash, X: sx, Y: sy})
			if pk.name == "p99" {
				p.P99.Series = append(p.P99.Series, chartSeries{Name: n, Color: color[n], X: sx, Y: sy})
			}
		}
		p.Latency = append(p.Latency, c)
	}

	// The percentile spectrum, like HdrHistogram's plotter.
	p.Spectrum = newChart("spectrum", "Latency by percentile", 1100, 320)
	p.Spectrum.X, p.Spectrum.Y, p.Spectrum.XUnit, p.Spectrum.YUnit = axisNines, axisLog, "%", "ms"
	all := NewHistogram()
	maxN := int64(0)
	spec := func(name, col string, h *hdr.Histogram, width float64, dash bool) {
		if h.TotalCount() == 0 {
			return
		}
		s := chartSeries{Name: name, Color: col, Width: width, Dash: dash}
		for _, br := range h.CumulativeDistributionWithTicks(5) {
			if br.Quantile >= 100 {
				continue
			}
			s.X = append(s.X, -math.Log10(1-br.Quantile/100))
			s.Y = append(s.Y, float64(br.ValueAt)/1e6)
		}
		if lim := math.Log10(float64(h.TotalCount())); len(s.X) == 0 || lim > s.X[len(s.X)-1] {
			s.X = append(s.X, lim)
			s.Y = append(s.Y, float64(h.Max())/1e6)
		}
		maxN = max(maxN, h.TotalCount())
		p.Spectrum.Series = append(p.Spectrum.Series, s)
	}
	for _, n := range names {
		h, err := DecodeHistogram(r.Ops[n].LatencyHDR)
		if err != nil {
			return nil, fmt.Errorf("ops.%s.latency_hdr: %w", n, err)
		}
		all.Merge(h)
		spec(n, color[n], h, 1.5, false)
	}
	if len(names) > 1 {
		spec("all ops", "#222", all, 1.5, true)
	}
	p.Spectrum.XMin = 0
	p.Spectrum.XMax = math.Max(1, math.Min(6, math.Ceil(math.Log10(math.Max(float64(maxN), 10)))))

	// Errors per interval.
	p.Errors = timeChart("errors", "Errors per second", "errors/s", 540, 240)
	tot := make([]float64, len(iv))
	for i, v := range iv {
		if d := v.EndS - v.StartS; d > 0 {
			tot[i] = float64(v.Errors) / d
		}
	}
	for _, n := range names {
		if r.Ops[n].Errors == 0 {
			continue
		}
		ys := make([]float64, len(iv))
		for i, v := range iv {
			if d := v.EndS - v.StartS; d > 0 {
				ys[i] = float64(v.Ops[n].Errors) / d
			}
		}
		sx, sy := downsample(rx, ys[:len(rx)], maxPts, true)
		p.Errors.Series = append(p.Errors.Series, chartSeries{Name: n, Color: color[n], X: sx, Y: sy})
	}
	ex, ey := downsample(rx, tot[:len(rx)], maxPts, true)
	p.Errors.Series = append(p.Errors.Series, chartSeries{Name: "all ops", Color: "#e15759", Width: 2, X: ex, Y: ey})

	// The harness: dispatch lag and in-flight ops.
	p.Lag = timeChart("lag", "Harness dispatch lag p99", "ms", 540, 240)
	p.Lag.Y = axisLog
	p.InFlight = timeChart("inflight", "Ops in flight", "ops", 540, 240)
	lag := make([]float64, len(iv))
	inf := make([]float64, len(iv))
	for i, v := range iv {
		lag[i] = float64(v.LagP99Ns) / 1e6
		inf[i] = float64(v.InFlight)
	}
	lx, ly := downsample(xs, lag, maxPts, true)
	p.Lag.Series = []chartSeries{{Name: "lag p99", Color: "#b07aa1", X: lx, Y: ly}}
	if r.Harness.MaxLagNs > 0 {
		p.Lag.Series = append(p.Lag.Series, chartSeries{Name: "--max-lag", Color: "#e15759", Dash: true, Width: 1,
			X: []float64{0, math.Max(xmax, 1)}, Y: []float64{float64(r.Harness.MaxLagNs) / 1e6, float64(r.Harness.MaxLagNs) / 1e6}})
	}
	fx, fy := downsample(xs, inf, maxPts, true)
	p.InFlight.Series = []chartSeries{{Name: "in flight", Color: "#76b7b2", X: fx, Y: fy}}

	// Series scraped from the target.
	if tm := r.TargetMetrics; tm != nil {
		for i, s := range tm.Series {
			if i == 12 {
				p.TargetNote = fmt.Sprintf("%d more series in the result's target_metrics", len(tm.Series)-12)
				break
			}
			title := s.Name
			if len(s.Labels) > 0 {
				var ls []string
				for k, v := range s.Labels {
					ls = append(ls, k+"="+v)
				}
				sort.Strings(ls)
				title += "{" + strings.Join(ls, ",") + "}"
			}
			unit := ""
			if strings.HasSuffix(s.Name, "_bytes") {
				unit = "B"
			}
			c := timeChart(fmt.Sprintf("target-%d", i), title, unit, 540, 200)
			c.XMin = math.Min(0, minOf(s.T))
			c.YZero = false
			sx, sy := downsample(s.T, s.V, maxPts, false)
			c.Series = []chartSeries{{Name: s.Name, Color: opPalette[(i+4)%len(opPalette)], X: sx, Y: sy}}
			p.Target = append(p.Target, c)
		}
	}
	return p, nil
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	if math.IsInf(m, 1) {
		return 0
	}
	return m
}
