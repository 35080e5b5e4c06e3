package baselines

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
)

// Options tune a comparison. The zero value means benchstat's defaults.
type Options struct {
	// Alpha is the significance level of each Mann-Whitney U test. 0 means 0.05.
	Alpha float64
	// Confidence is the level of the median's confidence interval. 0 means 0.95.
	Confidence float64
	// Filter keeps only matching benchmarks and units, in benchstat's filter
	// syntax (golang.org/x/perf/benchproc): e.g. `.unit:(ops/s OR p99-sec)`
	// or `/op:store` (a name part). "" keeps everything.
	Filter string
}

func (o Options) withDefaults() Options {
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Confidence == 0 {
		o.Confidence = 0.95
	}
	return o
}

// Cell is one side's sample of one metric.
type Cell struct {
	// Values are the measurements, one per run, sorted ascending.
	Values []float64
	// Summary is the median with its confidence interval (benchmath).
	Summary benchmath.Summary
}

// N is the number of runs in the cell.
func (c *Cell) N() int {
	if c == nil {
		return 0
	}
	return len(c.Values)
}

// Delta compares one column with the first.
type Delta struct {
	// P is the two-sided Mann-Whitney U p-value (benchmath.AssumeNothing),
	// or 1 when the unit is declared assume=exact and the values are equal.
	P float64
	// Change is new/old − 1 of the medians (+0.25 = 25% higher); NaN when the
	// old median is 0.
	Change float64
	// Significant is P ≤ alpha (uncorrected: one test at a time, as benchstat).
	Significant bool
	// Text is benchstat's rendering: "+25.00%", or "~" when not significant.
	Text string
	// Warnings are benchmath's (too few samples, all values equal...).
	Warnings []string
}

// Row is one metric (benchmark × unit) across the columns.
type Row struct {
	// Benchmark is the full benchmark name without "Benchmark", prefixed by
	// "pkg:" when the input named a package.
	Benchmark string
	// Unit is the tidied unit (ns → sec): "ops/s", "p99-sec", "sec/op".
	Unit string
	// Better is +1 when higher values are better, -1 when lower are.
	Better int
	// Cells holds one sample per column; nil where the column lacks the metric.
	Cells []*Cell
	// Deltas compare column i+1 with column 0; nil where either lacks it.
	Deltas []*Delta
}

// Comparison is the benchstat table of several sides: the first is the base.
type Comparison struct {
	Labels     []string
	Sets       []*Set
	Rows       []Row
	Alpha      float64
	Confidence float64
	// Units lists the units in order of first appearance.
	Units []string
	// Env lists the fingerprint differences of each side against the base.
	Env [][]EnvDiff
	// Notes are things the reader should know (skipped runs, one-sided rows).
	Notes []string
}

// Compare builds the benchstat comparison of sets (the first is the base)
// with golang.org/x/perf: rows are benchmarks (.fullname), one table per unit,
// medians with confidence intervals from benchmath and Mann-Whitney U tests
// of every column against the base. It does no statistics of its own.
//
// Errors wrap ErrBadInput: a bad filter, or nothing in common to compare
// (different benchmarks, or the same benchmarks in mismatched units).
func Compare(sets []*Set, opt Options) (*Comparison, error) {
	opt = opt.withDefaults()
	if len(sets) < 2 {
		return nil, badInput("compare: need at least two sides, got %d", len(sets))
	}
	var filter *benchproc.Filter
	if opt.Filter != "" {
		f, err := benchproc.NewFilter(opt.Filter)
		if err != nil {
			return nil, badInput("filter %q: %v", opt.Filter, err)
		}
		filter = f
	}
	var pp benchproc.ProjectionParser
	rowBy, err := pp.Parse("pkg,.fullname", filter)
	if err != nil {
		return nil, badInput("%v", err)
	}
	unitBy, unitField, err := pp.ParseWithUnit("", filter)
	if err != nil {
		return nil, badInput("%v", err)
	}

	type key struct{ row, unit string }
	var order []key
	var unitOrder []string
	seenUnit := map[string]bool{}
	samples := map[key][][]float64{}
	units := benchfmt.UnitMetadataMap{}
	perSide := make([]map[string]map[string]bool, len(sets)) // side → benchmark → units
	for i, s := range sets {
		perSide[i] = map[string]map[string]bool{}
		for k, v := range s.Units {
			units[k] = v
		}
		for _, rec := range s.Records {
			res := rec
			if filter != nil {
				res = rec.Clone()
				m, err := filter.Match(res)
				if err != nil {
					return nil, badInput("filter %q: %v", opt.Filter, err)
				}
				if !m.Apply(res) {
					continue
				}
			}
			rk := rowBy.Project(res)
			name := rowName(rk.Get(rowField(rowBy, "pkg")), rk.Get(rowField(rowBy, ".fullname")))
			for j, uk := range unitBy.ProjectValues(res) {
				u := uk.Get(unitField)
				k := key{name, u}
				if _, ok := samples[k]; !ok {
					order = append(order, k)
					samples[k] = make([][]float64, len(sets))
				}
				if !seenUnit[u] {
					seenUnit[u] = true
					unitOrder = append(unitOrder, u)
				}
				samples[k][i] = append(samples[k][i], res.Values[j].Value)
				if perSide[i][name] == nil {
					perSide[i][name] = map[string]bool{}
				}
				perSide[i][name][u] = true
			}
		}
	}
	if err := checkCommon(sets, perSide); err != nil {
		return nil, err
	}

	c := &Comparison{Alpha: opt.Alpha, Confidence: opt.Confidence, Sets: sets, Units: unitOrder}
	for _, s := range sets {
		c.Labels = append(c.Labels, s.Label)
		c.Notes = append(c.Notes, s.Skipped...)
	}
	thr := benchmath.Thresholds{CompareAlpha: opt.Alpha}
	// Rows grouped by unit, benchmarks in order of first appearance.
	for _, u := range unitOrder {
		for _, k := range order {
			if k.unit != u {
				continue
			}
			assume := units.GetAssumption(u)
			row := Row{Benchmark: k.row, Unit: u, Better: betterOf(units, u), Cells: make([]*Cell, len(sets)), Deltas: make([]*Delta, len(sets)-1)}
			smp := make([]*benchmath.Sample, len(sets))
			for i, vals := range samples[k] {
				if len(vals) == 0 {
					continue
				}
				smp[i] = benchmath.NewSample(append([]float64(nil), vals...), &thr)
				row.Cells[i] = &Cell{Values: smp[i].Values, Summary: assume.Summary(smp[i], opt.Confidence)}
			}
			for i := 1; i < len(sets); i++ {
				if smp[0] == nil || smp[i] == nil {
					continue
				}
				cmp := assume.Compare(smp[0], smp[i])
				old, cur := row.Cells[0].Summary.Center, row.Cells[i].Summary.Center
				d := &Delta{P: cmp.P, Significant: cmp.P <= cmp.Alpha, Text: cmp.FormatDelta(old, cur), Change: math.NaN()}
				if old != 0 {
					d.Change = cur/old - 1
				} else if cur == 0 {
					d.Change = 0
				}
				for _, w := range cmp.Warnings {
					if w.Error() != "all samples are equal" {
						d.Warnings = append(d.Warnings, w.Error())
					}
				}
				row.Deltas[i-1] = d
			}
			c.Rows = append(c.Rows, row)
		}
	}
	for i := 1; i < len(sets); i++ {
		c.Env = append(c.Env, DiffFingerprints(sets[0].Fingerprints, sets[i].Fingerprints))
	}
	return c, nil
}

func rowField(p *benchproc.Projection, name string) *benchproc.Field {
	for _, f := range p.Fields() {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func rowName(pkg, full string) string {
	if pkg == "" {
		return full
	}
	return pkg + ":" + full
}

// betterOf reads better= from the unit metadata, then benchfmt's built-in
// defaults (sec/op, B/op, allocs/op lower; B/s higher), then guesses from the
// unit: a rate ("…/s") is better higher, anything else lower.
func betterOf(units benchfmt.UnitMetadataMap, unit string) int {
	if b := units.GetBetter(unit); b != 0 {
		return b
	}
	if strings.HasSuffix(unit, "/s") {
		return 1
	}
	return -1
}

// checkCommon refuses comparisons with nothing in common, saying why.
func checkCommon(sets []*Set, perSide []map[string]map[string]bool) error {
	base := perSide[0]
	for i := 1; i < len(sets); i++ {
		commonBench, commonUnit := 0, 0
		var mismatch []string
		for name, us := range perSide[i] {
			bu, ok := base[name]
			if !ok {
				continue
			}
			commonBench++
			shared := 0
			for u := range us {
				if bu[u] {
					shared++
				}
			}
			commonUnit += shared
			if shared == 0 && len(mismatch) < 3 {
				mismatch = append(mismatch, fmt.Sprintf("%s: %s has %s, %s has %s", name, sets[0].Label, keys(bu), sets[i].Label, keys(us)))
			}
		}
		switch {
		case len(base) == 0 || len(perSide[i]) == 0:
			return badInput("nothing to compare: %s has %d benchmarks and %s has %d after filtering", sets[0].Label, len(base), sets[i].Label, len(perSide[i]))
		case commonBench == 0:
			return badInput("nothing to compare: no benchmark is in both %s (e.g. %s) and %s (e.g. %s); check the scenario, rate and driver", sets[0].Label, anyKey(base), sets[i].Label, anyKey(perSide[i]))
		case commonUnit == 0:
			return badInput("mismatched units: the benchmarks in both %s and %s share no unit (%s)", sets[0].Label, sets[i].Label, strings.Join(mismatch, "; "))
		}
	}
	return nil
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return strings.Join(out, ",")
}

func anyKey(m map[string]map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	if len(out) == 0 {
		return "none"
	}
	return out[0]
}
