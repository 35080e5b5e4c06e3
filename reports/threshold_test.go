package reports

import "testing"

func TestFormatAgainst(t *testing.T) {
	cases := []struct {
		name            string
		v, thr          float64
		digits, tdigits int
		want            string
	}{
		{"0.895 against 0.90: three decimals, so 0.895 < 0.90 reads true", 0.895, 0.9, 2, 2, "0.895"},
		{"0.87 against 0.90: two are enough", 0.87, 0.9, 2, 2, "0.87"},
		{"0.8999 against 0.90", 0.8999, 0.9, 2, 2, "0.8999"},
		{"0.9504 above 0.95: four decimals, not 0.950", 0.9504, 0.95, 3, 2, "0.9504"},
		{"0.9496 below 0.95: not 0.950", 0.9496, 0.95, 3, 2, "0.9496"},
		{"exactly the threshold", 0.95, 0.95, 3, 2, "0.950"},
		{"far below", -6.027, 0.95, 3, 2, "-6.027"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := FormatAgainst(c.v, c.thr, c.digits, c.tdigits); got != c.want {
				t.Errorf("FormatAgainst(%v, %v) = %q, want %q", c.v, c.thr, got, c.want)
			}
		})
	}
}
