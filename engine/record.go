package engine

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Memory record (the value of an 'm' key), little endian. Version 2:
//
//	[0]      version = 2
//	[1:5]    CRC32C (Castagnoli) of bytes [5:]
//	[5]      flags: bit 0 semantic memory, bit 1 auto_link still to be derived
//	[6:10]   confidence, float32
//	[10:18]  created at, Unix nanoseconds, int64
//	[18:26]  sequence number, uint64 (store-wide, increasing; see Store.seq)
//	[26:30]  dim, uint32
//	[30:30+4·dim] embedding, float32 × dim
//	then     uvarint content length, content bytes
//
// Version 1 (read, never written) has no sequence number: [18:22] is dim.
// The checksum covers everything after it: content, embedding and metadata.
const recordVersion = 2

const (
	recSemantic byte = 1 << 0
	recAutoLink byte = 1 << 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodeRecord appends the record of m to dst[:0].
func encodeRecord(dst []byte, m *Memory, seq uint64, flags byte) []byte {
	n := 30 + 4*len(m.Embedding) + binary.MaxVarintLen64 + len(m.Content)
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	b := dst[:30]
	b[0] = recordVersion
	b[5] = flags
	binary.LittleEndian.PutUint32(b[6:], math.Float32bits(m.Confidence))
	binary.LittleEndian.PutUint64(b[10:], uint64(m.CreatedAt.UnixNano()))
	binary.LittleEndian.PutUint64(b[18:], seq)
	binary.LittleEndian.PutUint32(b[26:], uint32(len(m.Embedding)))
	for _, v := range m.Embedding {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Content)))
	b = append(b, m.Content...)
	binary.LittleEndian.PutUint32(b[1:], checksum(b[5:]))
	return b
}

// recordMeta is what a record holds besides the memory itself.
type recordMeta struct {
	seq   uint64
	flags byte
}

// decodeRecord verifies and decodes a record into m (ID untouched). If emb is
// non-nil the embedding is decoded into it (len must be dim) instead of a new
// slice; skipContent leaves m.Content empty. Nothing in m aliases b.
func decodeRecord(b []byte, m *Memory, emb []float32, skipContent bool) (recordMeta, error) {
	var rm recordMeta
	if len(b) < 22 {
		return rm, fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(b))
	}
	var rest []byte
	var dim int
	switch b[0] {
	case 1:
		dim = int(binary.LittleEndian.Uint32(b[18:]))
		rest = b[22:]
	case 2:
		if len(b) < 30 {
			return rm, fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(b))
		}
		rm.seq = binary.LittleEndian.Uint64(b[18:])
		dim = int(binary.LittleEndian.Uint32(b[26:]))
		rest = b[30:]
	default:
		return rm, fmt.Errorf("%w: unknown record version %d", ErrCorrupt, b[0])
	}
	if want, got := binary.LittleEndian.Uint32(b[1:]), checksum(b[5:]); want != got {
		return rm, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	rm.flags = b[5]
	m.Confidence = math.Float32frombits(binary.LittleEndian.Uint32(b[6:]))
	m.CreatedAt = time.Unix(0, int64(binary.LittleEndian.Uint64(b[10:])))
	m.Type = Episodic
	if rm.flags&recSemantic != 0 {
		m.Type = Semantic
	}
	if dim > len(rest)/4 {
		return rm, fmt.Errorf("%w: dim %d exceeds record size", ErrCorrupt, dim)
	}
	if emb == nil || len(emb) != dim {
		emb = make([]float32, dim)
	}
	for j := range emb {
		emb[j] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*j:]))
	}
	m.Embedding = emb
	rest = rest[4*dim:]
	cl, n := binary.Uvarint(rest)
	if n <= 0 || cl > uint64(len(rest)-n) {
		return rm, fmt.Errorf("%w: bad content length", ErrCorrupt)
	}
	if !skipContent {
		m.Content = string(rest[n : n+int(cl)])
	}
	return rm, nil
}

// Small records ('a' access, 'e' edge, 'c' belief, 's' space) share one
// frame: [0:4] CRC32C of the payload, then the payload.
func frame(payload []byte) []byte {
	out := make([]byte, 4, 4+len(payload))
	binary.LittleEndian.PutUint32(out, checksum(payload))
	return append(out, payload...)
}

func unframe(b []byte, what string) ([]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %s record of %d bytes", ErrCorrupt, what, len(b))
	}
	if want, got := binary.LittleEndian.Uint32(b), checksum(b[4:]); want != got {
		return nil, fmt.Errorf("%w: %s record checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, what, want, got)
	}
	return b[4:], nil
}

// Access record payload: last access (Unix ns, int64), recall count (uint32).
func encodeAccess(last int64, count uint32) []byte {
	var p [12]byte
	binary.LittleEndian.PutUint64(p[0:], uint64(last))
	binary.LittleEndian.PutUint32(p[8:], count)
	return frame(p[:])
}

func decodeAccess(b []byte) (last int64, count uint32, err error) {
	p, err := unframe(b, "access")
	if err != nil {
		return 0, 0, err
	}
	if len(p) != 12 {
		return 0, 0, fmt.Errorf("%w: access record of %d bytes", ErrCorrupt, len(p))
	}
	return int64(binary.LittleEndian.Uint64(p)), binary.LittleEndian.Uint32(p[8:]), nil
}

// Edge record payload: weight (float32), kind (byte).
func encodeEdge(w float32, kind EdgeKind) []byte {
	var p [5]byte
	binary.LittleEndian.PutUint32(p[:], math.Float32bits(w))
	p[4] = byte(kind)
	return frame(p[:])
}

func decodeEdge(b []byte) (float32, EdgeKind, error) {
	p, err := unframe(b, "edge")
	if err != nil {
		return 0, 0, err
	}
	if len(p) != 5 || p[4] > byte(EdgeMember) {
		return 0, 0, fmt.Errorf("%w: malformed edge record", ErrCorrupt)
	}
	w := math.Float32frombits(binary.LittleEndian.Uint32(p))
	if !(w > 0 && w <= 1) {
		return 0, 0, fmt.Errorf("%w: edge weight %v outside (0, 1]", ErrCorrupt, w)
	}
	return w, EdgeKind(p[4]), nil
}

// Space record payload: created at (Unix ns, int64).
func encodeSpace(created time.Time) []byte {
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], uint64(created.UnixNano()))
	return frame(p[:])
}

func decodeSpace(b []byte) (time.Time, error) {
	p, err := unframe(b, "space")
	if err != nil {
		return time.Time{}, err
	}
	if len(p) != 8 {
		return time.Time{}, fmt.Errorf("%w: space record of %d bytes", ErrCorrupt, len(p))
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(p))), nil
}
