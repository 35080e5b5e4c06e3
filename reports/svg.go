package reports

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Hand-written SVG charts for the HTML report: no dependency, no CDN, the
// file works offline and diffs as text (DEPENDENCIES.md §9). A chart is a
// few lines (polylines), optional shaded windows, and axes with "nice"
// ticks; the y axis may be logarithmic (latency) and the x axis may be the
// "nines" scale of a percentile spectrum.

// chartSeries is one line of a chart. Y values that are NaN are gaps.
type chartSeries struct {
	Name  string
	Color string
	Dash  bool
	Width float64
	X, Y  []float64
	// Marks draws a dot at every point (a sparse series: capacity steps).
	Marks bool
}

// axisKind says how an axis maps and labels values.
type axisKind int

const (
	axisLinear axisKind = iota
	axisLog             // base 10, values > 0
	axisNines           // x = −log10(1 − q): 0 = 0%, 1 = 90%, 2 = 99%, ...
)

type chart struct {
	ID     string
	Title  string
	Note   string // a line under the title
	W, H   int
	X, Y   axisKind
	XUnit  string // "s" (time) or "%"
	YUnit  string // "ms", "ops/s", "ops", "" ...
	Series []chartSeries
	Bands  []Window
	// Marks are instants drawn as vertical lines (time charts only).
	Marks []Mark
	// XMin/XMax fix the x domain (NaN: from the data).
	XMin, XMax float64
	YZero      bool // linear y axis starts at 0
}

const (
	marginL = 66
	marginR = 14
	marginT = 12
	marginB = 34
)

func newChart(id, title string, w, h int) *chart {
	return &chart{ID: id, Title: title, W: w, H: h, XMin: math.NaN(), XMax: math.NaN(), YZero: true}
}

// points counts the finite points of every series.
func (c *chart) points() int {
	n := 0
	for _, s := range c.Series {
		for _, y := range s.Y {
			if !math.IsNaN(y) && !(c.Y == axisLog && y <= 0) {
				n++
			}
		}
	}
	return n
}

func (c *chart) domain() (x0, x1, y0, y1 float64) {
	x0, x1, y0, y1 = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i, y := range s.Y {
			if math.IsNaN(y) || (c.Y == axisLog && y <= 0) {
				continue
			}
			x0, x1 = math.Min(x0, s.X[i]), math.Max(x1, s.X[i])
			y0, y1 = math.Min(y0, y), math.Max(y1, y)
		}
	}
	if !math.IsNaN(c.XMin) {
		x0 = c.XMin
	}
	if !math.IsNaN(c.XMax) {
		x1 = c.XMax
	}
	if math.IsInf(x0, 0) {
		x0, x1, y0, y1 = 0, 1, 0, 1
		if c.Y == axisLog {
			y0, y1 = 0.1, 10
		}
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	switch c.Y {
	case axisLog:
		// A value on a decade would sit on the axis: leave a decade below.
		y0 = math.Pow(10, math.Floor(math.Log10(y0*0.999)))
		y1 = math.Pow(10, math.Ceil(math.Log10(y1*1.0001)))
		if y1 <= y0 {
			y1 = y0 * 10
		}
	default:
		if c.YZero {
			y0 = math.Min(0, y0)
		}
		if y1 <= y0 {
			y1 = y0 + 1
		}
		step := niceStep((y1 - y0) / 5)
		y1 = math.Ceil(y1*1.02/step) * step
		if !c.YZero {
			y0 = math.Floor(y0/step) * step
		}
	}
	return
}

// niceStep rounds a raw step up to 1, 2 or 5 × 10^k.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// timeStep picks a tick step (seconds) giving at most ~8 ticks.
func timeStep(span float64) float64 {
	for _, s := range []float64{0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400} {
		if span/s <= 8 {
			return s
		}
	}
	return niceStep(span / 8)
}

func fmtSecondsAxis(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 60:
		return trimFloat(v) + "s"
	case math.Abs(v) < 3600:
		m, s := int(v)/60, math.Mod(v, 60)
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%s", m, trimFloat(s)) + "s"
	default:
		h, m := int(v)/3600, (int(v)%3600)/60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%02dm", h, m)
	}
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// fmtValue labels a y value in unit.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return FormatNs(int64(math.Round(v * 1e6)))
	case "B":
		return fmtBytes(int64(v))
	}
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6) + "M"
	case a >= 1e4:
		return trimFloat(v/1e3) + "k"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// ninesLabel labels x on the nines axis: 0 → "0%", 1 → "90%", 3 → "99.9%".
func ninesLabel(x float64) string {
	q := 100 * (1 - math.Pow(10, -x))
	switch {
	case x == 0:
		return "0%"
	case x == math.Trunc(x):
		return fmt.Sprintf("%.*f", max(int(x)-2, 0), q) + "%"
	default:
		return fmt.Sprintf("%.3g%%", q)
	}
}

// downsample keeps at most n points of (x, y): consecutive points are
// grouped and each group is replaced by its maximum (peak) or mean, so a
// spike of one interval survives in a long run's chart.
func downsample(x, y []float64, n int, peak bool) ([]float64, []float64) {
	if len(x) <= n || n < 2 {
		return x, y
	}
	k := (len(x) + n - 1) / n
	var ox, oy []float64
	for i := 0; i < len(x); i += k {
		j := min(i+k, len(x))
		agg, cnt := math.NaN(), 0
		for t := i; t < j; t++ {
			v := y[t]
			if math.IsNaN(v) {
				continue
			}
			switch {
			case cnt == 0:
				agg = v
			case peak:
				agg = math.Max(agg, v)
			default:
				agg += v
			}
			cnt++
		}
		if !peak && cnt > 0 {
			agg /= float64(cnt)
		}
		ox = append(ox, x[i])
		oy = append(oy, agg)
	}
	return ox, oy
}

// chartData is what the page's script reads for its hover read-out.
type chartData struct {
	X0, X1, Y0, Y1 float64
	XKind, YKind   int
	PL, PT, PW, PH int // the plot rectangle in SVG units
	XUnit, YUnit   string
	Series         []chartDataSeries
}

type chartDataSeries struct {
	Name  string     `json:"n"`
	Color string     `json:"c"`
	X     []float64  `json:"x"`
	Y     []*float64 `json:"y"`
}

// SVG renders the chart as an inline <svg> element.
func (c *chart) SVG() template.HTML {
	x0, x1, y0, y1 := c.domain()
	pl, pt := marginL, marginT
	pw, ph := c.W-marginL-marginR, c.H-marginT-marginB
	fx := func(v float64) float64 {
		if c.X == axisLog {
			return float64(pl) + float64(pw)*(math.Log10(v)-math.Log10(x0))/(math.Log10(x1)-math.Log10(x0))
		}
		return float64(pl) + float64(pw)*(v-x0)/(x1-x0)
	}
	fy := func(v float64) float64 {
		if c.Y == axisLog {
			v = math.Max(v, y0)
			return float64(pt) + float64(ph)*(1-(math.Log10(v)-math.Log10(y0))/(math.Log10(y1)-math.Log10(y0)))
		}
		return float64(pt) + float64(ph)*(1-(v-y0)/(y1-y0))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" data-points="%d">`,
		html.EscapeString(c.ID), c.W, c.H, html.EscapeString(c.Title), c.points())
	fmt.Fprintf(&b, `<rect class="plot" x="%d" y="%d" width="%d" height="%d"/>`, pl, pt, pw, ph)
	fmt.Fprintf(&b, `<clipPath id="%s-clip"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>`, html.EscapeString(c.ID), pl, pt, pw, ph)

	// Shaded windows, under everything else.
	for _, w := range c.Bands {
		a, z := math.Max(w.StartS, x0), math.Min(w.EndS, x1)
		if z <= a {
			continue
		}
		cls := "band band-other"
		switch w.Kind {
		case WindowPhase:
			cls = "band band-phase"
		case WindowFault:
			cls = "band band-fault"
		case WindowBackup, WindowOutage, WindowRecovery:
			cls = "band band-" + w.Kind
		}
		from, to := fmtSecondsAxis(w.StartS), fmtSecondsAxis(w.EndS)
		if c.XUnit != "s" {
			from, to = fmtValue(w.StartS, c.XUnit), fmtValue(w.EndS, c.XUnit)
		}
		fmt.Fprintf(&b, `<g class="%s"><rect x="%.1f" y="%d" width="%.1f" height="%d"><title>%s %s: %s–%s</title></rect>`,
			cls, fx(a), pt, math.Max(fx(z)-fx(a), 1), ph, html.EscapeString(w.Kind), html.EscapeString(w.Name), from, to)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text></g>`, fx(a)+3, pt+11, html.EscapeString(w.Name))
	}

	// Marks: a vertical line at each instant, labelled at the top.
	for _, m := range c.Marks {
		if m.AtS < x0 || m.AtS > x1 {
			continue
		}
		x := fx(m.AtS)
		fmt.Fprintf(&b, `<g class="mark mark-%s"><line x1="%.1f" x2="%.1f" y1="%d" y2="%d"><title>%s at %s</title></line><text x="%.1f" y="%d">%s</text></g>`,
			html.EscapeString(m.Kind), x, x, pt, pt+ph, html.EscapeString(m.Name), fmtSecondsAxis(m.AtS), x+3, pt+ph-4, html.EscapeString(m.Name))
	}

	// Grid and y ticks.
	var yt []float64
	if c.Y == axisLog {
		for v := y0; v <= y1*1.0001 && len(yt) < 40; v *= 10 {
			yt = append(yt, v)
		}
		// Sub-ticks at 2 and 5 when there are few decades.
		if len(yt) <= 3 {
			var more []float64
			for _, v := range yt {
				more = append(more, v)
				if v*2 < y1 {
					more = append(more, v*2)
				}
				if v*5 < y1 {
					more = append(more, v*5)
				}
			}
			yt = more
		}
	} else {
		step := niceStep((y1 - y0) / 5)
		for k := 0; k < 20; k++ { // by count: y0 + step may equal y0 far from 0
			v := y0 + float64(k)*step
			if v > y1+step*1e-9 {
				break
			}
			yt = append(yt, v)
		}
	}
	for _, v := range yt {
		y := fy(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, pl, pl+pw, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, pl-6, y+4, html.EscapeString(fmtValue(v, c.YUnit)))
	}
	// X ticks.
	var xt []float64
	switch c.X {
	case axisNines:
		for v := math.Ceil(x0); v <= x1+1e-9 && len(xt) < 20; v++ {
			xt = append(xt, v)
		}
	default:
		step := timeStep(x1 - x0)
		if c.XUnit != "s" {
			step = niceStep((x1 - x0) / 6)
		}
		first := math.Ceil(x0/step) * step
		for k := 0; k < 40; k++ {
			v := first + float64(k)*step
			if v > x1+step*1e-9 {
				break
			}
			xt = append(xt, v)
		}
	}
	for _, v := range xt {
		x := fx(v)
		label := trimFloat(v)
		switch {
		case c.X == axisNines:
			label = ninesLabel(v)
		case c.XUnit == "s":
			label = fmtSecondsAxis(v)
		}
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, pt, pt+ph)
		anchor := "middle"
		if x > float64(pl+pw)-20 {
			anchor = "end" // keep the last label inside the picture
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, pt+ph+15, anchor, html.EscapeString(label))
	}
	xlabel := "time since measuring began"
	if c.X == axisNines {
		xlabel = "percentile"
	} else if c.XUnit != "s" {
		xlabel = c.XUnit
	}
	fmt.Fprintf(&b, `<text class="axis-label" x="%d" y="%d" text-anchor="middle">%s</text>`, pl+pw/2, c.H-4, html.EscapeString(xlabel))
	if c.YUnit != "" {
		fmt.Fprintf(&b, `<text class="axis-label" x="12" y="%d" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`, pt+ph/2, pt+ph/2, html.EscapeString(c.YUnit))
	}

	// Lines.
	data := chartData{X0: x0, X1: x1, Y0: y0, Y1: y1, XKind: int(c.X), YKind: int(c.Y), PL: pl, PT: pt, PW: pw, PH: ph, XUnit: c.XUnit, YUnit: c.YUnit}
	fmt.Fprintf(&b, `<g clip-path="url(#%s-clip)">`, html.EscapeString(c.ID))
	for _, s := range c.Series {
		var d strings.Builder
		pen := false
		ds := chartDataSeries{Name: s.Name, Color: s.Color, X: make([]float64, len(s.X)), Y: make([]*float64, len(s.Y))}
		for i, y := range s.Y {
			ds.X[i] = round6(s.X[i])
			if math.IsNaN(y) || (c.Y == axisLog && y <= 0) {
				pen = false
				continue
			}
			v := round6(y)
			ds.Y[i] = &v
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, fx(s.X[i]), fy(y))
			pen = true
		}
		data.Series = append(data.Series, ds)
		w := s.Width
		if w == 0 {
			w = 1.5
		}
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<path class="line" data-series="%s" d="%s" stroke="%s" stroke-width="%.1f"%s/>`,
			html.EscapeString(s.Name), d.String(), html.EscapeString(s.Color), w, dash)
		// A point with no neighbour draws no line: mark it with a dot.
		valid := func(i int) bool {
			return i >= 0 && i < len(s.Y) && !math.IsNaN(s.Y[i]) && !(c.Y == axisLog && s.Y[i] <= 0)
		}
		for i, y := range s.Y {
			if valid(i) && (s.Marks || (!valid(i-1) && !valid(i+1))) {
				fmt.Fprintf(&b, `<circle class="dot" data-series="%s" cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`,
					html.EscapeString(s.Name), fx(s.X[i]), fy(y), html.EscapeString(s.Color))
			}
		}
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<line class="cursor" x1="0" x2="0" y1="%d" y2="%d" visibility="hidden"/>`, pt, pt+ph)
	js, _ := json.Marshal(data)
	fmt.Fprintf(&b, `<script type="application/json" class="chart-data">%s</script>`, jsonForScript(js))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Legend renders the chart's legend as HTML (toggles in the page script).
func (c *chart) Legend() template.HTML {
	var b strings.Builder
	b.WriteString(`<div class="legend">`)
	for _, s := range c.Series {
		style := "background:" + html.EscapeString(s.Color)
		if s.Dash {
			style = "background:repeating-linear-gradient(90deg," + html.EscapeString(s.Color) + " 0 5px,transparent 5px 8px)"
		}
		fmt.Fprintf(&b, `<button type="button" class="key" data-chart="%s" data-series="%s"><i style="%s"></i>%s</button>`,
			html.EscapeString(c.ID), html.EscapeString(s.Name), style, html.EscapeString(s.Name))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

func round6(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, 6-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// jsonForScript makes JSON safe inside a <script> element.
func jsonForScript(b []byte) string {
	s := string(b)
	s = strings.ReplaceAll(s, "</", `<\/`)
	s = strings.ReplaceAll(s, "<!--", `<\!--`)
	return s
}
