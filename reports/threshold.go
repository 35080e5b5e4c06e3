package reports

import (
	"cmp"
	"strconv"
)

// FormatAgainst writes v with at least digits decimals, and more when
// rounding to digits would make the printed v compare with the printed
// threshold (written with tdigits decimals) otherwise than v compares with
// threshold: R² 0.895 against 0.90 prints as 0.895, not 0.90, so
// "R² 0.895 < 0.90" reads true.
func FormatAgainst(v, threshold float64, digits, tdigits int) string {
	ts := strconv.FormatFloat(threshold, 'f', tdigits, 64)
	tp, _ := strconv.ParseFloat(ts, 64)
	want := cmp.Compare(v, threshold)
	for d := digits; d <= 15; d++ {
		s := strconv.FormatFloat(v, 'f', d, 64)
		if p, _ := strconv.ParseFloat(s, 64); cmp.Compare(p, tp) == want {
			return s
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
