package server

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// vector is a JSON array of numbers decoded without reflection: a 768-float
// embedding is the bulk of most request bodies.
type vector []float32

// UnmarshalJSON implements json.Unmarshaler. null leaves the vector nil.
func (v *vector) UnmarshalJSON(b []byte) error {
	out, err := parseVector(b, (*v)[:0], false)
	if err != nil {
		return err
	}
	*v = out
	return nil
}

// partialVector is like vector but accepts null elements, decoded as NaN
// (unknown dimensions of a pattern-completion cue).
type partialVector []float32

// UnmarshalJSON implements json.Unmarshaler.
func (v *partialVector) UnmarshalJSON(b []byte) error {
	out, err := parseVector(b, (*v)[:0], true)
	if err != nil {
		return err
	}
	*v = out
	return nil
}

// maxVectorLen bounds how many elements a vector may have before parsing
// stops: far above any embedding, far below what would hurt memory.
const maxVectorLen = 65536

var errNotArray = errors.New("want an array of numbers")

// parseVector parses a JSON array of numbers (and, if nulls is set, nulls as
// NaN) appending to dst. Whitespace is allowed where JSON allows it.
func parseVector(b []byte, dst []float32, nulls bool) ([]float32, error) {
	i := skipWS(b, 0)
	if i+4 <= len(b) && string(b[i:i+4]) == "null" && skipWS(b, i+4) == len(b) {
		return nil, nil
	}
	if i >= len(b) || b[i] != '[' {
		return dst, errNotArray
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		if skipWS(b, i+1) != len(b) {
			return dst, errNotArray
		}
		return dst[:0:0], nil
	}
	if cap(dst) == 0 {
		// One allocation: the commas bound the elements (memchr speed).
		dst = make([]float32, 0, min(bytes.Count(b[i:], []byte{','})+1, maxVectorLen))
	}
	for {
		if len(dst) >= maxVectorLen {
			return dst, fmt.Errorf("more than %d values", maxVectorLen)
		}
		i = skipWS(b, i)
		if nulls && i+4 <= len(b) && string(b[i:i+4]) == "null" {
			dst = append(dst, float32(math.NaN()))
			i += 4
		} else {
			j := i
			for j < len(b) && isNumByte(b[j]) {
				j++
			}
			if j == i {
				return dst, fmt.Errorf("element %d: want a number", len(dst))
			}
			f, ok := atof32(b[i:j])
			if !ok {
				return dst, fmt.Errorf("element %d: %q is not a finite float32", len(dst), clip(string(b[i:j])))
			}
			dst = append(dst, f)
			i = j
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return dst, errNotArray
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			if skipWS(b, i+1) != len(b) {
				return dst, errNotArray
			}
			return dst, nil
		default:
			return dst, fmt.Errorf("element %d: want ',' or ']'", len(dst))
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isNumByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
