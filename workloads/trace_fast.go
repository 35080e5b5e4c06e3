package workloads

import (
	"bytes"
	"strconv"
)

// parseFlat is the fast path for trace lines: a flat JSON object whose
// values are plain strings (no escapes), numbers or booleans — every line
// engram-bench writes, and most any tool writes. It fills l (embRaw pointing
// into b) and returns false for anything else, which then goes through
// encoding/json (slower, and the source of its error messages). Measured on
// 768-d ops: ~10× faster than encoding/json, which spends most of its time
// validating the long base64 string.
func (t *TraceReader) parseFlat(b []byte, l *traceLine) bool {
	*l = traceLine{}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		key, j, ok := flatString(b, i)
		if !ok {
			return false
		}
		j = skipWS(b, j)
		if j >= len(b) || b[j] != ':' {
			return false
		}
		j = skipWS(b, j+1)
		if j >= len(b) {
			return false
		}
		var end int
		if b[j] == '"' {
			v, e, ok := flatString(b, j)
			if !ok || !t.setString(l, key, v) {
				return false
			}
			end = e
		} else {
			e := j
			for e < len(b) && b[e] != ',' && b[e] != '}' && b[e] != ' ' && b[e] != '\t' {
				e++
			}
			if !setScalar(l, key, b[j:e]) {
				return false
			}
			end = e
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipWS(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// flatString reads a string without escapes starting at b[i] == '"'.
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	e := bytes.IndexByte(b[i+1:], '"')
	if e < 0 {
		return nil, 0, false
	}
	s := b[i+1 : i+1+e]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, 0, false
	}
	return s, i + 2 + e, true
}

func (t *TraceReader) intern(v []byte) string {
	if s, ok := t.names[string(v)]; ok {
		return s
	}
	s := string(v)
	if len(t.names) < 4096 {
		if t.names == nil {
			t.names = map[string]string{}
		}
		t.names[s] = s
	}
	return s
}

func (t *TraceReader) setString(l *traceLine, key, v []byte) bool {
	switch string(key) {
	case "op":
		l.Op = t.intern(v)
	case "space":
		l.Space = t.intern(v)
	case "key":
		l.Key = string(v)
	case "target":
		l.Target = string(v)
	case "expect":
		l.Expect = string(v)
	case "mode":
		l.Mode = t.intern(v)
	case "emb":
		l.embRaw = v
		l.hasEmb = true
	default:
		return false
	}
	return true
}

func setScalar(l *traceLine, key, v []byte) bool {
	var err error
	switch string(key) {
	case "end", "preload":
		var b bool
		switch string(v) {
		case "true":
			b = true
		case "false":
		default:
			return false
		}
		if string(key) == "end" {
			l.End = b
		} else {
			l.Preload = b
		}
	case "t_ns":
		var x int64
		x, err = strconv.ParseInt(string(v), 10, 64)
		l.T = &x
	case "i", "ops", "preload_count":
		var x uint64
		x, err = strconv.ParseUint(string(v), 10, 64)
		switch string(key) {
		case "i":
			l.I = &x
		case "ops":
			l.Ops = &x
		default:
			l.TrailerPre = &x
		}
	case "conf", "threshold":
		var x float64
		x, err = strconv.ParseFloat(string(v), 32)
		if string(key) == "conf" {
			l.Conf = float32(x)
		} else {
			l.Thresh = float32(x)
		}
	case "k", "depth", "count":
		var x int64
		x, err = strconv.ParseInt(string(v), 10, 32)
		switch string(key) {
		case "k":
			l.K = int(x)
		case "depth":
			l.Depth = int(x)
		default:
			l.Count = int(x)
		}
	default:
		return false
	}
	return err == nil
}
