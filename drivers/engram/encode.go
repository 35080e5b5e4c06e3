package engram

import (
	"bytes"
	"math"
	"strconv"

	"github.com/engram-bench/engram-bench/workloads"
)

var pow10 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// appendFixed appends v as a JSON number with dec (≤ 8) decimals, without
// strconv's shortest-representation search: a unit-vector component takes
// ~5 ns instead of ~60 ns, which is most of the cost of a 768-d request.
// Values of magnitude ≥ 1e6 (never in unit vectors) fall back to strconv.
func appendFixed(b []byte, v float32, dec int) []byte {
	f := float64(v)
	if !(f > -1e6 && f < 1e6) {
		return strconv.AppendFloat(b, f, 'g', -1, 32)
	}
	neg := f < 0
	if neg {
		f = -f
	}
	scaled := uint64(f*float64(pow10[dec]) + 0.5)
	ip, fp := scaled/pow10[dec], scaled%pow10[dec]
	if neg && scaled != 0 {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, ip, 10)
	b = append(b, '.')
	var tmp [8]byte
	for i := dec - 1; i >= 0; i-- {
		tmp[i] = byte('0' + fp%10)
		fp /= 10
	}
	return append(b, tmp[:dec]...)
}

// appendVector appends v as a JSON array; NaN elements become null (the
// unknown dimensions of a pattern-completion cue).
func appendVector(b []byte, v []float32, dec int) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(x)) {
			b = append(b, "null"...)
			continue
		}
		b = appendFixed(b, x, dec)
	}
	return append(b, ']')
}

// appendVectorQuery appends v as a URL-encoded JSON array (%5B…%2C…%5D), the
// form Engram's GET recall reads.
func appendVectorQuery(b []byte, v []float32, dec int) []byte {
	b = append(b, "%5B"...)
	for i, x := range v {
		if i > 0 {
			b = append(b, "%2C"...)
		}
		b = appendFixed(b, x, dec)
	}
	return append(b, "%5D"...)
}

// appendQueryEscaped appends s escaped for a URL query value or path segment.
func appendQueryEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendMemoryJSON appends the remember body of memory k:
// {"id":…,"content":…,"embedding":[…],"confidence":…}.
func appendMemoryJSON(b []byte, id string, k workloads.Key, vec []float32, conf float32) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"content":"`...)
	b = workloads.AppendContent(b, k) // ASCII letters, digits and spaces: no escaping needed
	b = append(b, `","embedding":`...)
	b = appendVector(b, vec, 7)
	b = append(b, `,"confidence":`...)
	b = appendFixed(b, conf, 4)
	return append(b, '}')
}

// stringField returns the value of the first "name":"value" in a JSON body,
// when the value has no escapes (ids and our contents never do).
func stringField(body []byte, name string) ([]byte, bool) {
	key := make([]byte, 0, len(name)+4)
	key = append(key, '"')
	key = append(key, name...)
	key = append(key, '"', ':')
	i := bytes.Index(body, key)
	if i < 0 {
		return nil, false
	}
	j := i + len(key)
	for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
		j++
	}
	if j >= len(body) || body[j] != '"' {
		return nil, false
	}
	j++
	end := bytes.IndexByte(body[j:], '"')
	if end < 0 {
		return nil, false
	}
	v := body[j : j+end]
	if bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v, true
}

// nextString returns the string value of the next member named by key (its
// quoted name and colon, e.g. `"id":`) in body, and the rest of body after
// it. Members of that name whose value is not a string are skipped.
func nextString(body []byte, key string) (v, rest []byte, ok bool) {
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return nil, nil, false
		}
		j := i + len(key)
		for j < len(body) && body[j] == ' ' {
			j++
		}
		if j >= len(body) || body[j] != '"' {
			body = body[j:]
			continue
		}
		j++
		end := bytes.IndexByte(body[j:], '"')
		if end < 0 {
			return nil, nil, false
		}
		return body[j : j+end], body[j+end+1:], true
	}
}
