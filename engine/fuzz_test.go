package engine

import (
	"testing"
)

// The record decoders never panic and never accept a record whose checksum
// does not match; what they accept re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	m := Memory{Content: "hello", Embedding: []float32{0.5, -0.25, 1}, Confidence: 0.75}
	f.Add(encodeRecord(nil, &m, 7, recAutoLink))
	f.Add([]byte{2, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Memory
		rm, err := decodeRecord(b, &got, nil, false)
		if err != nil || b[0] != recordVersion {
			return
		}
		again := encodeRecord(nil, &got, rm.seq, rm.flags)
		if string(again) != string(b[:len(again)]) {
			t.Fatalf("accepted record does not re-encode to itself")
		}
	})
}

func FuzzDecodeSmallRecords(f *testing.F) {
	f.Add(encodeAccess(12345, 3))
	f.Add(encodeEdge(0.5, EdgeMember))
	f.Add(encodeSpace(timeZero))
	f.Add(encodeBelief(&beliefState{support: 3, cohesion: 2.5, citations: []string{"a", "b"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAccess(b)
		if w, _, err := decodeEdge(b); err == nil && !(w > 0 && w <= 1) {
			t.Fatalf("edge weight %v accepted", w)
		}
		decodeSpace(b)
		if bs, err := decodeBelief(b); err == nil && len(bs.citations) > MaxCitations {
			t.Fatalf("%d citations accepted", len(bs.citations))
		}
	})
}
