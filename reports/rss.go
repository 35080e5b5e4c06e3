package reports

import (
	"os"
	"strconv"
	"strings"
)

// ProcessRSS returns this process's resident set size in bytes, from
// /proc/self/statm (Linux); ok is false where that is not available.
func ProcessRSS() (bytes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// MemoryMetadataBytes is the metadata H4 counts per memory besides its
// embedding: id (~12 B), content (~45 B), confidence, creation time and
// record framing (~23 B), as the engine stores them.
const MemoryMetadataBytes = 80

// RSSPeak tracks the peak of sampled RSS; feed Sample from a Live callback.
type RSSPeak struct {
	Baseline, Peak int64
}

// Sample takes one RSS reading.
func (p *RSSPeak) Sample() {
	if v, ok := ProcessRSS(); ok && v > p.Peak {
		p.Peak = v
	}
}

// Resources describes the in-process system under test of r: the RSS peak
// over the baseline taken before it opened, against the memories r stored
// with embeddings of dim float32s.
func (p *RSSPeak) Resources(r *Result, dim, batchSize int) *Resources {
	if p.Peak <= 0 {
		return nil
	}
	res := &Resources{Source: "process", RSSPeakBytes: p.Peak, RSSBaselineBytes: p.Baseline}
	res.setData(r, dim, batchSize)
	return res
}

// setData sets the data H4 judges the memory against: the memories r stored
// (StoredMemories) of dim float32s and their metadata.
func (res *Resources) setData(r *Result, dim, batchSize int) {
	res.Memories, res.RawBytesPerMemory = StoredMemories(r, batchSize), int64(dim)*4+MemoryMetadataBytes
}
