package engine

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Record format, version 1 (little endian):
//
//	[0]      version = 1
//	[1:5]    CRC32C (Castagnoli) of bytes [5:]
//	[5]      flags (reserved, 0)
//	[6:10]   confidence, float32
//	[10:18]  created at, Unix nanoseconds, int64
//	[18:22]  dim, uint32
//	[22:22+4·dim] embedding, float32 × dim
//	then     uvarint content length, content bytes
//
// The checksum covers everything after it: content, embedding and metadata.
const recordVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRecord(dst []byte, m *Memory) []byte {
	n := 22 + 4*len(m.Embedding) + binary.MaxVarintLen64 + len(m.Content)
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	b := dst[:22]
	b[0] = recordVersion
	b[5] = 0
	binary.LittleEndian.PutUint32(b[6:], math.Float32bits(m.Confidence))
	binary.LittleEndian.PutUint64(b[10:], uint64(m.CreatedAt.UnixNano()))
	binary.LittleEndian.PutUint32(b[18:], uint32(len(m.Embedding)))
	for _, v := range m.Embedding {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Content)))
	b = append(b, m.Content...)
	binary.LittleEndian.PutUint32(b[1:], crc32.Checksum(b[5:], castagnoli))
	return b
}

// decodeRecord verifies and decodes a record. The returned memory owns its
// memory (nothing aliases b).
func decodeRecord(b []byte, m *Memory) error {
	if len(b) < 22 {
		return fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(b))
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w: unknown record version %d", ErrCorrupt, b[0])
	}
	if want, got := binary.LittleEndian.Uint32(b[1:]), crc32.Checksum(b[5:], castagnoli); want != got {
		return fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	m.Confidence = math.Float32frombits(binary.LittleEndian.Uint32(b[6:]))
	m.CreatedAt = time.Unix(0, int64(binary.LittleEndian.Uint64(b[10:])))
	dim := int(binary.LittleEndian.Uint32(b[18:]))
	rest := b[22:]
	if dim > len(rest)/4 {
		return fmt.Errorf("%w: dim %d exceeds record size", ErrCorrupt, dim)
	}
	m.Embedding = make([]float32, dim)
	for j := range m.Embedding {
		m.Embedding[j] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*j:]))
	}
	rest = rest[4*dim:]
	cl, n := binary.Uvarint(rest)
	if n <= 0 || cl > uint64(len(rest)-n) {
		return fmt.Errorf("%w: bad content length", ErrCorrupt)
	}
	m.Content = string(rest[n : n+int(cl)])
	return nil
}
