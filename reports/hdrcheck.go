package reports

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// maxHistogramCounts bounds the counts array a decoded histogram may
// allocate: ours (1 ns – 60 s, 3 digits) has 27,648; 1 ns – 2^62 at 5
// digits would want gigabytes. A file is refused rather than allowed to
// exhaust memory.
const maxHistogramCounts = 1 << 22

// checkHistogramShape reads the header of a V2 compressed histogram (raw,
// after base64) and refuses shapes that would allocate absurd memory,
// before hdr.Decode allocates them.
func checkHistogramShape(raw []byte) error {
	if len(raw) < 8 {
		return fmt.Errorf("histogram too short (%d bytes)", len(raw))
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	var hd [40]byte
	if _, err := io.ReadFull(zr, hd[:]); err != nil {
		return fmt.Errorf("histogram header: %w", err)
	}
	sig := int64(int32(binary.BigEndian.Uint32(hd[12:])))
	lowest := int64(binary.BigEndian.Uint64(hd[16:]))
	highest := int64(binary.BigEndian.Uint64(hd[24:]))
	if sig < 0 || sig > 5 || lowest < 0 || highest < 2*max(lowest, 1) {
		return fmt.Errorf("histogram shape %d–%d at %d digits is not valid", lowest, highest, sig)
	}
	g := geometry{lowest: max(lowest, 1), highest: highest, sigFigs: sig}
	if n := g.countsLen(); n > maxHistogramCounts {
		return fmt.Errorf("histogram shape %d–%d at %d digits needs %.0f buckets (more than %d)", lowest, highest, sig, n, maxHistogramCounts)
	}
	return nil
}

// countsLen estimates the counts array of a geometry: (buckets + 1) ×
// sub-bucket half count, as hdr.New computes it.
func (g geometry) countsLen() float64 {
	unit := math.Floor(math.Log2(float64(g.lowest)))
	subMag := math.Ceil(math.Log2(2 * math.Pow10(int(g.sigFigs))))
	half := math.Pow(2, math.Max(subMag, 1)-1)
	// Buckets needed for highest: each doubles the range covered by the
	// sub-buckets (2·half units of 2^unit).
	buckets := math.Max(1, math.Ceil(math.Log2(float64(g.highest)/(2*half*math.Pow(2, unit))))+1)
	return (buckets + 1) * half
}
