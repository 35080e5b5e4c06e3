package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The hot request bodies (remember, episode, recall, batch) carry a
// 768-float embedding. encoding/json reads such a body three times: its
// validity scan, the scan that finds the embedding's extent for its
// Unmarshaler, and parseVector. fastDecode reads it once.
//
// fastDecode decides only what it is sure encoding/json decides the same
// way: a well-formed object whose keys are exact, unescaped, non-repeated
// field names (or unknown keys that match no field even case-insensitively)
// and whose values have the fields' types. On anything else — malformed
// JSON, a wrong type, a repeated or case-folded key, an escaped key, an
// overflowing number — it declines, the target is reset, and decodeJSON
// decodes the body with encoding/json, which produces the answer (and the
// error envelope) it always did. FuzzDecodeDifferential holds the two paths
// to the same results.

// fastObject is a request type with a one-pass decoder.
type fastObject interface {
	// fastNames lists the JSON field names, index i for fastField.
	fastNames() []string
	// fastField decodes the value at d for field i; false declines.
	fastField(d *fastReader, i int) bool
	// reset zeroes the value before the encoding/json fallback.
	reset()
}

// fastReader is a cursor over a body.
type fastReader struct {
	b []byte
	i int
}

// maxFastDepth bounds the nesting of values the fast path skips; deeper ones
// go to encoding/json (whose own limit is 10,000).
const maxFastDepth = 64

// fastDecode decodes body into v in one pass; false means "let
// encoding/json decide" (v may then be partly filled: reset it).
func fastDecode(body []byte, v fastObject) bool {
	d := fastReader{b: body}
	if !d.object(v) {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

func (d *fastReader) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (d *fastReader) peek() byte {
	d.ws()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

// lit consumes the literal s (true, false, null).
func (d *fastReader) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// object decodes a JSON object into v.
func (d *fastReader) object(v fastObject) bool {
	if d.peek() != '{' {
		return false
	}
	d.i++
	names := v.fastNames()
	var seen uint64
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		key, ok := d.plainKey()
		if !ok || d.peek() != ':' {
			return false
		}
		d.i++
		d.ws()
		idx := -1
		for j, n := range names {
			if len(n) == len(key) && n == string(key) {
				idx = j
				break
			}
		}
		if idx >= 0 {
			if seen&(1<<idx) != 0 {
				return false // a repeated key: encoding/json's merging rules
			}
			seen |= 1 << idx
			if !v.fastField(d, idx) {
				return false
			}
		} else {
			for _, n := range names {
				if len(n) == len(key) && asciiEqualFold(n, key) {
					return false // encoding/json matches keys case-insensitively
				}
			}
			if !d.skip(0) {
				return false
			}
		}
		if more, ok := d.sep('}'); !ok || !more {
			return ok
		}
	}
}

// openArray consumes null (null is true) or the '[' that opens an array;
// ok is false on anything else.
func (d *fastReader) openArray() (null, ok bool) {
	switch d.peek() {
	case 'n':
		return true, d.lit("null")
	case '[':
		d.i++
		return false, true
	}
	return false, false
}

// sep consumes what follows a member or an element: a comma (more
// follows) or close (the end); ok is false on anything else.
func (d *fastReader) sep(close byte) (more, ok bool) {
	switch d.peek() {
	case ',':
		d.i++
		return true, true
	case close:
		d.i++
		return false, true
	}
	return false, false
}

// plainKey reads a key without escapes, control or non-ASCII bytes.
func (d *fastReader) plainKey() ([]byte, bool) {
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return d.b[start:j], true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return nil, false
}

func asciiEqualFold(a string, b []byte) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stringLit returns the extent of the string literal at d (quotes included)
// and whether it is plain: no escapes, valid UTF-8, so that its Go value is
// the bytes between the quotes.
func (d *fastReader) stringLit() (lit []byte, plain, ok bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false, false
	}
	start := d.i
	plain = true
	ascii := true
	for j := start + 1; j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			lit = d.b[start:d.i]
			if plain && !ascii && !utf8.Valid(lit[1:len(lit)-1]) {
				plain = false
			}
			return lit, plain, true
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			plain = false
			if j+1 >= len(d.b) {
				return nil, false, false
			}
			switch d.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(d.b) {
					return nil, false, false
				}
				for _, h := range d.b[j+2 : j+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				j += 5
			default:
				return nil, false, false
			}
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// str decodes a string value; ok is false on any other type.
func (d *fastReader) str() (string, bool) {
	lit, plain, ok := d.stringLit()
	if !ok {
		return "", false
	}
	if plain {
		return string(lit[1 : len(lit)-1]), true
	}
	// Escapes or invalid UTF-8: encoding/json's own unquoting, on this
	// literal only.
	var s string
	if json.Unmarshal(lit, &s) != nil {
		return "", false
	}
	return s, true
}

// stringField decodes into a string field: null leaves it as it is.
func (d *fastReader) stringField(dst *string) bool {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	s, ok := d.str()
	*dst = s
	return ok
}

// stringPtr decodes into a *string field: null sets it to nil.
func (d *fastReader) stringPtr(dst **string) bool {
	if d.peek() == 'n' {
		*dst = nil
		return d.lit("null")
	}
	s, ok := d.str()
	*dst = &s
	return ok
}

// boolField decodes into a bool field: null leaves it as it is.
func (d *fastReader) boolField(dst *bool) bool {
	switch d.peek() {
	case 't':
		*dst = true
		return d.lit("true")
	case 'f':
		*dst = false
		return d.lit("false")
	case 'n':
		return d.lit("null")
	}
	return false
}

// number returns the extent of a JSON number at d (strict grammar).
func (d *fastReader) number() ([]byte, bool) {
	b, i := d.b, d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], true
}

// float64Ptr decodes into a *float64 field: null sets it to nil; a number
// out of float64's range declines (encoding/json's type error).
func (d *fastReader) float64Ptr(dst **float64) bool {
	if d.peek() == 'n' {
		*dst = nil
		return d.lit("null")
	}
	tok, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return false
	}
	*dst = &f
	return true
}

// intPtr decodes into a *int field as encoding/json does (ParseInt: "1.0"
// and "1e2" decline).
func (d *fastReader) intPtr(dst **int) bool {
	if d.peek() == 'n' {
		*dst = nil
		return d.lit("null")
	}
	tok, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || int64(int(n)) != n {
		return false
	}
	v := int(n)
	*dst = &v
	return true
}

// delegate decodes the (valid) value at d into dst with encoding/json: for
// fields that are rare and small (tags, who), where one pass is not worth
// code.
func (d *fastReader) delegate(dst any) bool {
	start := d.i
	if !d.skip(0) {
		return false
	}
	return json.Unmarshal(d.b[start:d.i], dst) == nil
}

// embedding decodes an embedding field as embeddingField.UnmarshalJSON
// would: null and [] leave the vector nil; numbers must be finite float32s
// and at most maxVectorLen of them.
func (d *fastReader) embedding(dst *embeddingField) bool {
	dst.set = true
	if null, ok := d.openArray(); !ok || null {
		dst.v = nil
		return ok
	}
	if d.peek() == ']' {
		d.i++
		dst.v = nil
		return true
	}
	// One allocation of the right size: the commas up to the first ']'
	// (memchr speed) count the elements of an array of numbers.
	n := maxVectorLen
	if end := bytes.IndexByte(d.b[d.i:], ']'); end >= 0 {
		n = min(bytes.Count(d.b[d.i:d.i+end], []byte{','})+1, maxVectorLen)
	}
	v := make([]float32, 0, n)
	for {
		if len(v) >= maxVectorLen {
			return false
		}
		tok, ok := d.number()
		if !ok {
			return false
		}
		f, ok := atof32(tok)
		if !ok {
			return false
		}
		v = append(v, f)
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case ']':
			d.i++
			dst.v = v
			return true
		default:
			return false
		}
	}
}

// skip steps over one valid JSON value.
func (d *fastReader) skip(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	switch d.peek() {
	case '"':
		_, _, ok := d.stringLit()
		return ok
	case 't':
		return d.lit("true")
	case 'f':
		return d.lit("false")
	case 'n':
		return d.lit("null")
	case '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if more, ok := d.sep(']'); !ok || !more {
				return ok
			}
		}
	case '{':
		d.i++
		if d.peek() == '}' {
			d.i++
			return true
		}
		for {
			if d.peek() != '"' {
				return false
			}
			if _, _, ok := d.stringLit(); !ok || d.peek() != ':' {
				return false
			}
			d.i++
			if !d.skip(depth + 1) {
				return false
			}
			if more, ok := d.sep('}'); !ok || !more {
				return ok
			}
		}
	}
	_, ok := d.number()
	return ok
}

var float32pow10 = [...]float32{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// atof32 converts a number token to the nearest float32, as
// strconv.ParseFloat(s, 32) does; false when that fails (out of range, not a
// number). Plain decimals with a mantissa below 2^24 (exact in a float32) and at most 10
// fraction digits — every component of a unit vector written with 7
// decimals — take strconv's own exact path (an exact float32 divided by an
// exact power of ten, one correctly rounded division) without its general
// parsing; anything else goes to strconv.
func atof32(s []byte) (float32, bool) {
	i, neg := 0, false
	if len(s) > 0 && s[0] == '-' {
		i, neg = 1, true
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
			if m >= 1<<24 {
				return atof32Slow(s)
			}
		case c == '.' && !dot:
			dot = true
		default:
			return atof32Slow(s)
		}
	}
	if digits == 0 || frac > 10 {
		return atof32Slow(s)
	}
	f := float32(m)
	if neg {
		f = -f
	}
	return f / float32pow10[frac], true
}

func atof32Slow(s []byte) (float32, bool) {
	f, err := strconv.ParseFloat(string(s), 32)
	if err != nil {
		return 0, false
	}
	return float32(f), true
}

// Request types with a fast path.

var rememberNames = []string{"content", "embedding", "id", "confidence", "confidence_reasoning", "timestamp", "memory_type", "tags", "auto_link", "link_threshold", "memory_space_id"}

func (r *rememberRequest) fastNames() []string { return rememberNames }
func (r *rememberRequest) reset()              { *r = rememberRequest{} }
func (r *rememberRequest) fastField(d *fastReader, i int) bool {
	switch i {
	case 0:
		return d.stringPtr(&r.Content)
	case 1:
		return d.embedding(&r.Embedding)
	case 2:
		return d.stringField(&r.ID)
	case 3:
		return d.float64Ptr(&r.Confidence)
	case 4:
		return d.stringField(&r.ConfidenceReasoning)
	case 5:
		return d.stringPtr(&r.Timestamp)
	case 6:
		return d.stringField(&r.MemoryType)
	case 7:
		return d.delegate(&r.Tags)
	case 8:
		return d.boolField(&r.AutoLink)
	case 9:
		return d.float64Ptr(&r.LinkThreshold)
	case 10:
		return d.stringField(&r.MemorySpaceID)
	}
	return false
}

var episodeNames = []string{"when", "what", "id", "embedding", "importance", "where_location", "who", "why", "how", "emotional_valence", "auto_link", "memory_space_id"}

func (r *episodeRequest) fastNames() []string { return episodeNames }
func (r *episodeRequest) reset()              { *r = episodeRequest{} }
func (r *episodeRequest) fastField(d *fastReader, i int) bool {
	switch i {
	case 0:
		return d.stringPtr(&r.When)
	case 1:
		return d.stringPtr(&r.What)
	case 2:
		return d.stringField(&r.ID)
	case 3:
		return d.embedding(&r.Embedding)
	case 4:
		return d.float64Ptr(&r.Importance)
	case 5:
		return d.stringField(&r.WhereLocation)
	case 6:
		return d.delegate(&r.Who)
	case 7:
		return d.stringField(&r.Why)
	case 8:
		return d.stringField(&r.How)
	case 9:
		return d.float64Ptr(&r.EmotionalValence)
	case 10:
		return d.boolField(&r.AutoLink)
	case 11:
		return d.stringField(&r.MemorySpaceID)
	}
	return false
}

var recallNames = []string{"query", "embedding", "threshold", "max_results", "mode", "include_metadata", "trace_activation", "seed_id", "max_hops", "memory_space_id"}

func (r *recallBody) fastNames() []string { return recallNames }
func (r *recallBody) reset()              { *r = recallBody{} }
func (r *recallBody) fastField(d *fastReader, i int) bool {
	switch i {
	case 0:
		return d.stringPtr(&r.Query)
	case 1:
		return d.embedding(&r.Embedding)
	case 2:
		return d.float64Ptr(&r.Threshold)
	case 3:
		return d.intPtr(&r.MaxResults)
	case 4:
		return d.stringField(&r.Mode)
	case 5:
		return d.boolField(&r.IncludeMetadata)
	case 6:
		return d.boolField(&r.TraceActivation)
	case 7:
		return d.stringField(&r.SeedID)
	case 8:
		return d.intPtr(&r.MaxHops)
	case 9:
		return d.stringField(&r.MemorySpaceID)
	}
	return false
}

var batchNames = []string{"memories", "memory_space_id"}

func (r *batchRequest) fastNames() []string { return batchNames }
func (r *batchRequest) reset()              { *r = batchRequest{} }
func (r *batchRequest) fastField(d *fastReader, i int) bool {
	switch i {
	case 0:
		if null, ok := d.openArray(); !ok || null {
			r.Memories = nil
			return ok
		}
		r.Memories = []rememberRequest{}
		if d.peek() == ']' {
			d.i++
			return true
		}
		for {
			r.Memories = append(r.Memories, rememberRequest{})
			if !d.object(&r.Memories[len(r.Memories)-1]) {
				return false
			}
			if more, ok := d.sep(']'); !ok || !more {
				return ok
			}
		}
	case 1:
		return d.stringField(&r.MemorySpaceID)
	}
	return false
}
