package reports

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// palette colours systems in charts, in system order.
var palette = []string{"#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568"}

// WriteComparisonHTML writes the comparison as one self-contained HTML page
// (no scripts, no external files): the table, bar charts of p99 latency per
// op kind, recall@10 (when a system measured it) and memory/disk per
// system, and the notes.
func WriteComparisonHTML(w io.Writer, c *Comparison) error {
	rows := c.Rows()
	type cellView struct {
		Text  string
		Class string
	}
	type rowView struct {
		Group, Metric string
		First         bool
		Span          int
		Cells         []cellView
	}
	var rv []rowView
	for i, r := range rows {
		v := rowView{Group: r.Group, Metric: r.Metric}
		if i == 0 || rows[i-1].Group != r.Group {
			v.First = true
			for j := i; j < len(rows) && rows[j].Group == r.Group; j++ {
				v.Span++
			}
		}
		for _, cell := range r.Cells {
			cl := ""
			if cell.NA {
				cl = "na"
			}
			v.Cells = append(v.Cells, cellView{Text: cell.Text, Class: cl})
		}
		rv = append(rv, v)
	}
	type sysView struct {
		Name, Describe, Version, Settings, MemoryHow, Color, Error string
	}
	var sv []sysView
	for i, s := range c.Systems {
		sv = append(sv, sysView{Name: s.Name, Describe: s.Describe, Version: s.Version, Settings: strings.Join(s.Settings, ", "),
			MemoryHow: s.Footprint.MemoryHow, Color: palette[i%len(palette)], Error: s.Error})
	}
	data := map[string]any{
		"Title":    "engram-bench compare-systems: " + c.Scenario,
		"Headline": c.Headline(),
		"Partial":  c.Partial,
		"Systems":  sv,
		"Rows":     rv,
		"Notes":    c.Notes(),
		"Charts":   comparisonCharts(c, rows),
		"Env":      fmt.Sprintf("%s, %d cores, %s/%s, %s, git %s", c.Env.CPUModel, c.Env.Cores, c.Env.OS, c.Env.Arch, c.Env.GoVersion, shortRev(c.Env.GitRevision)),
		"Started":  c.StartedAt.Format("2006-01-02 15:04 MST"),
	}
	return comparisonPage.Execute(w, data)
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	if r == "" {
		return "unknown"
	}
	return r
}

// comparisonCharts draws the charts as inline SVG.
func comparisonCharts(c *Comparison, rows []Row) []template.HTML {
	var names []string
	for _, s := range c.Systems {
		names = append(names, s.Name)
	}
	var out []template.HTML
	// p99 per op kind, log scale.
	var groups []barGroup
	for _, r := range rows {
		if r.Metric == "p99" && r.Group != "all ops" {
			groups = append(groups, barGroup{Label: r.Group, Cells: r.Cells})
		}
	}
	if len(groups) > 0 {
		out = append(out, barChart("p99 latency per op kind (log scale; shorter is better)", names, groups, true, func(v float64) string { return FormatNs(int64(v)) }))
	}
	groups = nil
	measured := false
	for _, r := range rows {
		if r.Metric == "recall@10" {
			groups = append(groups, barGroup{Label: r.Group + " " + r.Metric, Cells: r.Cells})
			for _, cell := range r.Cells {
				measured = measured || cell.Has && !cell.NA
			}
		}
	}
	if measured {
		out = append(out, barChart("recall@10: share of expected memories among the first 10 results (longer is better)", names, groups, false, func(v float64) string { return fmt.Sprintf("%.3f", v) }))
	}
	groups = nil
	for _, r := range rows {
		if (r.Group == "memory" && (r.Metric == "at end" || r.Metric == "peak")) || (r.Group == "disk" && r.Metric == "at end") {
			groups = append(groups, barGroup{Label: r.Group + " " + r.Metric, Cells: r.Cells})
		}
	}
	if len(groups) > 0 {
		out = append(out, barChart("memory and disk used (shorter is better)", names, groups, false, func(v float64) string { return FormatBytes(int64(v)) }))
	}
	return out
}

type barGroup struct {
	Label string
	Cells []Cell
}

// barChart draws horizontal bars: one block per group, one bar per system.
// Cells without a value are written as their text (n/a, all failed).
func barChart(title string, systems []string, groups []barGroup, logScale bool, format func(float64) string) template.HTML {
	const (
		labelW = 110
		plotW  = 460
		valueW = 90
		barH   = 14
		gap    = 10
		top    = 28
		labelH = 16 // the group's label gets its own line
	)
	maxV, minV := 0.0, math.Inf(1)
	for _, g := range groups {
		for _, cell := range g.Cells {
			if cell.Has && !cell.NA && cell.Value > 0 {
				maxV = math.Max(maxV, cell.Value)
				minV = math.Min(minV, cell.Value)
			}
		}
	}
	scale := func(v float64) float64 {
		if maxV <= 0 || v <= 0 {
			return 0
		}
		if logScale {
			lo := math.Log10(minV) - 0.5
			hi := math.Log10(maxV)
			if hi <= lo {
				return plotW
			}
			return math.Max(2, plotW*(math.Log10(v)-lo)/(hi-lo))
		}
		return math.Max(2, plotW*v/maxV)
	}
	height := top + len(groups)*(len(systems)*barH+gap+labelH) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`, labelW+plotW+valueW, height, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" class="ct">%s</text>`, html.EscapeString(title))
	y := top
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="0" y="%d" class="gl">%s</text>`, y+barH-3, html.EscapeString(g.Label))
		y += labelH
		for i, cell := range g.Cells {
			color := palette[i%len(palette)]
			name := ""
			if i < len(systems) {
				name = systems[i]
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="sl">%s</text>`, labelW-6, y+barH-3, html.EscapeString(name))
			if cell.Has && !cell.NA {
				wd := scale(cell.Value)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s</title></rect>`,
					labelW, y+1, wd, barH-2, color, html.EscapeString(g.Label), html.EscapeString(name), html.EscapeString(format(cell.Value)))
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="v">%s</text>`, float64(labelW)+wd+4, y+barH-3, html.EscapeString(format(cell.Value)))
			} else {
				fmt.Fprintf(&b, `<text x="%d" y="%d" class="v na">%s</text>`, labelW+4, y+barH-3, html.EscapeString(cell.Text))
			}
			y += barH
		}
		y += gap
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var comparisonPage = template.Must(template.New("comparison").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1a202c;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#4a5568}.warn{color:#c53030;font-weight:600}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #e2e8f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.na{color:#a0aec0;text-align:right;font-style:italic}
th{text-align:right;background:#f7fafc}th.l,td.g,td.m{text-align:left}td.g{font-weight:600;vertical-align:top}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
svg{display:block;margin:12px 0}svg text{font:12px sans-serif;fill:#1a202c}svg .ct{font-weight:600;font-size:13px}
svg .sl{text-anchor:end;fill:#4a5568}svg .gl{font-weight:600}svg .na{fill:#a0aec0;font-style:italic}
ul.notes li{margin:2px 0;color:#2d3748}
</style></head><body>
<h1>{{.Title}}</h1>
<div class="sub">{{.Headline}}</div>
<div class="sub">started {{.Started}} · {{.Env}}</div>
{{if .Partial}}<p class="warn">Interrupted: partial comparison.</p>{{end}}
<h2>Systems</h2>
<table><tr><th class="l">system</th><th class="l">what ran</th><th class="l">settings</th><th class="l">memory measured as</th></tr>
{{range .Systems}}<tr><td class="m"><span class="sw" style="background:{{.Color}}"></span>{{.Name}}</td><td class="m">{{if .Describe}}{{.Describe}}{{else}}{{.Version}}{{end}}{{if .Error}} <span class="warn">not run: {{.Error}}</span>{{end}}</td><td class="m">{{.Settings}}</td><td class="m">{{.MemoryHow}}</td></tr>
{{end}}</table>
<h2>Side by side</h2>
<table><tr><th class="l">op kind</th><th class="l">metric</th>{{range .Systems}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{if .First}}<td class="g" rowspan="{{.Span}}">{{.Group}}</td>{{end}}<td class="m">{{.Metric}}</td>{{range .Cells}}<td class="{{if .Class}}{{.Class}}{{else}}n{{end}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table>
<h2>Charts</h2>
{{range .Charts}}{{.}}{{end}}
<h2>Notes</h2>
<ul class="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>
</body></html>
`))
