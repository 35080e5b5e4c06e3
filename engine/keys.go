package engine

import "bytes"

// Key prefixes of the pebble key layout (format version 2; see doc.go).
const (
	pfxMemory = 'm' // 'm' 0 <space> 0 <id>            → memory record
	pfxAccess = 'a' // 'a' 0 <space> 0 <id>            → last access, recall count
	pfxEdge   = 'e' // 'e' 0 <space> 0 <from> 0 <to>   → edge weight and kind
	pfxBelief = 'c' // 'c' 0 <space> 0 <belief id>     → consolidated belief
	pfxSpace  = 's' // 's' 0 <space>                   → space record
	// 'z' 0 <space> 0 <gen u64 BE> <part u32 BE> → HNSW snapshot part. 'z'
	// sorts after every other key, so a snapshot's table, ingested whole
	// (snapshot.go), overlaps no table of other records and lands in the
	// bottom level, never rewritten. Manifests written before this layout
	// name their parts under pfxIndexV1.
	pfxIndex   = 'z'
	pfxIndexV1 = 'h'
)

var (
	formatKey  = []byte("!format")
	sessionKey = []byte("!session")
)

// spaceKey appends pfx 0 space 0 to dst[:0].
func spaceKey(dst []byte, pfx byte, space string) []byte {
	dst = append(dst[:0], pfx, 0)
	dst = append(dst, space...)
	return append(dst, 0)
}

// idKey appends pfx 0 space 0 id to dst[:0].
func idKey(dst []byte, pfx byte, space, id string) []byte {
	return append(spaceKey(dst, pfx, space), id...)
}

func memoryKey(dst []byte, space, id string) []byte { return idKey(dst, pfxMemory, space, id) }

func edgeKey(dst []byte, space, from, to string) []byte {
	dst = idKey(dst, pfxEdge, space, from)
	dst = append(dst, 0)
	return append(dst, to...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// splitKey splits pfx 0 a 0 b [0 c] into its parts; ok is false if the key
// does not have exactly n parts after the prefix.
func splitKey(k []byte, n int) (parts [3]string, ok bool) {
	if len(k) < 2 || k[1] != 0 {
		return parts, false
	}
	rest := k[2:]
	for i := 0; i < n; i++ {
		if i == n-1 {
			if bytes.IndexByte(rest, 0) >= 0 {
				return parts, false
			}
			parts[i] = string(rest)
			return parts, true
		}
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return parts, false
		}
		parts[i] = string(rest[:j])
		rest = rest[j+1:]
	}
	return parts, false
}

// spaceRecordKey is 's' 0 <space>.
func spaceRecordKey(space string) []byte { return append([]byte{pfxSpace, 0}, space...) }
