package reports

import (
	"fmt"
	"io"
	"sort"
)

// LinearFit is the least-squares line throughput = Intercept + Slope·x
// through scaling points, and how much of the variance it explains.
type LinearFit struct {
	Slope, Intercept float64
	// R2 is the coefficient of determination (1 when every point is on the line).
	R2 float64
	N  int
}

// FitScaling fits a line through the points (any order). ok is false with
// fewer than two points or when every point has the same x.
func FitScaling(points []ScalingPoint) (LinearFit, bool) {
	n := len(points)
	if n < 2 {
		return LinearFit{N: n}, false
	}
	var sx, sy float64
	for _, p := range points {
		sx += p.X
		sy += p.Throughput
	}
	nf := float64(n)
	mx, my := sx/nf, sy/nf
	var sxx, sxy, syy float64
	for _, p := range points {
		sxx += (p.X - mx) * (p.X - mx)
		sxy += (p.X - mx) * (p.Throughput - my)
		syy += (p.Throughput - my) * (p.Throughput - my)
	}
	if sxx == 0 {
		return LinearFit{N: n}, false
	}
	f := LinearFit{Slope: sxy / sxx, N: n, R2: 1}
	f.Intercept = my - f.Slope*mx
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f, true
}

// FitProportional fits throughput = Slope·x through the origin (least
// squares: Slope = Σxy / Σx²) and scores it against the throughputs' own
// variance: R2 = 1 − Σ(y − Slope·x)² / Σ(y − ȳ)², below 0 when the line
// fits worse than the mean. ok is false with fewer than two points or x all 0.
func FitProportional(points []ScalingPoint) (LinearFit, bool) {
	n := len(points)
	if n < 2 {
		return LinearFit{N: n}, false
	}
	var sxx, sxy, sy float64
	for _, p := range points {
		sxx += p.X * p.X
		sxy += p.X * p.Throughput
		sy += p.Throughput
	}
	if sxx == 0 {
		return LinearFit{N: n}, false
	}
	f := LinearFit{Slope: sxy / sxx, N: n, R2: 1}
	my := sy / float64(n)
	var res, tot float64
	for _, p := range points {
		d := p.Throughput - f.Slope*p.X
		res += d * d
		tot += (p.Throughput - my) * (p.Throughput - my)
	}
	if tot > 0 {
		f.R2 = 1 - res/tot
	} else if res > 0 {
		f.R2 = 0 // flat throughput: x explains nothing
	}
	return f, true
}

// ScalingEfficiency fills each point's Efficiency and Marginal, taking the
// point with the smallest x as the base: efficiency(x) = (T(x)/x) / (T(x₀)/x₀),
// marginal(xᵢ) = ((T(xᵢ) − T(xᵢ₋₁)) / (xᵢ − xᵢ₋₁)) / (T(x₀)/x₀). The points
// are sorted by x.
func ScalingEfficiency(points []ScalingPoint) {
	sort.Slice(points, func(a, b int) bool { return points[a].X < points[b].X })
	if len(points) == 0 || points[0].X <= 0 || points[0].Throughput <= 0 {
		return
	}
	per := points[0].Throughput / points[0].X
	for i := range points {
		p := &points[i]
		if p.X > 0 {
			p.Efficiency = round3(p.Throughput / p.X / per)
		}
		if i == 0 {
			p.Marginal = 1
			continue
		}
		if dx := p.X - points[i-1].X; dx > 0 {
			p.Marginal = round3((p.Throughput - points[i-1].Throughput) / dx / per)
		}
	}
}

// WriteScalingText writes a scaling run's points, their efficiency and the
// linear fit H3 judges.
func WriteScalingText(w io.Writer, s *Scaling) error {
	ew := &errWriter{w: w}
	if s.Method != "" {
		fmt.Fprintf(ew, "  method: %s\n", s.Method)
	}
	fmt.Fprintf(ew, "%8s  %12s  %10s  %9s  %8s\n", s.Axis, "throughput", "efficiency", "marginal", "p99")
	for _, p := range s.Points {
		fmt.Fprintf(ew, "%8s  %12.1f  %9.0f%%  %8.0f%%  %8s\n", fmtNum(p.X), p.Throughput, 100*p.Efficiency, 100*p.Marginal, FormatNs(p.P99Ns))
	}
	if f, ok := FitProportional(s.Points); ok {
		fmt.Fprintf(ew, "proportional fit: %s ops/s per %s, R² %s over %d points (H3 needs R² > %.2f)\n",
			fmtNum(round3(f.Slope)), singular(s.Axis), FormatAgainst(f.R2, H3MinR2, 3, 2), f.N, H3MinR2)
	}
	if f, ok := FitScaling(s.Points); ok {
		fmt.Fprintf(ew, "ordinary fit: %s ops/s per %s + %s, R² %.3f\n", fmtNum(round3(f.Slope)), singular(s.Axis), fmtNum(round3(f.Intercept)), f.R2)
	}
	return ew.err
}
