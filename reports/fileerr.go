package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// FieldError is a bad field of a file the harness reads (a sizing, capacity
// or result file): it names the file, the field and the value, as
// "sizing file sizing.json: cpu.per_op_ns: 0: must be > 0". Value is the
// field's text as found ("" when the field is missing).
type FieldError struct {
	// Kind names the kind of file ("sizing file"); File its path.
	Kind, File string
	// Field is the JSON path ("cpu.per_op_ns", "steps[2].offered").
	Field string
	Value string
	Msg   string
}

func (e *FieldError) Error() string {
	s := e.Kind + " " + e.File + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	if e.Value != "" {
		s += e.Value + ": "
	}
	return s + e.Msg
}

// maxValueText is how much of a bad value an error quotes.
const maxValueText = 40

// DescribeJSONError turns the error of decoding b, the contents of file (a
// file of the given kind: "sizing file"), into one naming the file, the
// field and the value in the file's terms: a *json.UnmarshalTypeError
// becomes `sizing file s.json: cpu.per_op_ns: "fast": want a number` (the
// value cut from b at the error's offset), a *json.SyntaxError says where
// the JSON breaks. Other errors are prefixed with the file.
func DescribeJSONError(kind, file string, b []byte, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(the whole file)"
		}
		return &FieldError{Kind: kind, File: file, Field: field, Value: jsonValueBefore(b, te.Offset, te.Value), Msg: wantJSON(te)}
	case errors.As(err, &se):
		why, at := se.Error(), se.Offset
		if strings.Contains(why, "unexpected end") {
			why += " (truncated?)"
		} else if at > 0 {
			at-- // the offset is just past the offending byte
		}
		line, col := lineCol(b, at)
		return fmt.Errorf("%s %s: not valid JSON at byte %d (line %d, column %d): %s", kind, file, se.Offset, line, col, why)
	}
	return fmt.Errorf("%s %s: %w", kind, file, err)
}

// jsonValueBefore cuts from b the JSON value that ends at offset (where
// encoding/json reports a type error: after a literal, after the opening
// bracket of an array or object), shortened to maxValueText.
func jsonValueBefore(b []byte, offset int64, desc string) string {
	end := int(offset)
	if end <= 0 || end > len(b) {
		return desc
	}
	start := end - 1
	switch c := b[start]; {
	case c == '{':
		return "{…}"
	case c == '[':
		return "[…]"
	case c == '"':
		// Back to the opening quote: the first quote not escaped by an odd
		// run of backslashes.
		for start--; start >= 0; start-- {
			if b[start] != '"' {
				continue
			}
			n := 0
			for i := start - 1; i >= 0 && b[i] == '\\'; i-- {
				n++
			}
			if n%2 == 0 {
				break
			}
		}
		if start < 0 {
			return desc
		}
	default:
		for start > 0 && strings.IndexByte("0123456789+-.eEtruefalsn", b[start-1]) >= 0 {
			start--
		}
	}
	v := string(b[start:end])
	if r := []rune(v); len(r) > maxValueText {
		v = string(r[:maxValueText-1]) + "…"
		if v[0] == '"' {
			v += `"`
		}
	}
	return v
}

// wantJSON says what a field of type te.Type takes.
func wantJSON(te *json.UnmarshalTypeError) string {
	t := te.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "wrong type"
	}
	isNum := strings.HasPrefix(te.Value, "number")
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		if isNum {
			return "out of range for a number"
		}
		return "want a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if isNum {
			return "want a whole number (in range)"
		}
		return "want a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if isNum {
			return "want a whole number >= 0 (in range)"
		}
		return "want a whole number >= 0"
	case reflect.String:
		return "want a string"
	case reflect.Bool:
		return "want true or false"
	case reflect.Slice, reflect.Array:
		return "want an array"
	case reflect.Struct, reflect.Map:
		return "want an object"
	}
	return "want " + t.String()
}

// lineCol is the 1-based line and column of byte offset in b.
func lineCol(b []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(b) && int64(i) < offset; i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// missingJSON returns the first of the dotted paths ("cpu.per_op_ns") that b,
// a JSON object, lacks or holds as null, reporting the shortest missing
// prefix ("cpu" when the whole object is missing); "" when all are there.
func missingJSON(b []byte, paths ...string) string {
	var root any
	if json.Unmarshal(b, &root) != nil {
		return ""
	}
	for _, p := range paths {
		v := root
		parts := strings.Split(p, ".")
		for i, k := range parts {
			m, ok := v.(map[string]any)
			if !ok {
				break // a wrong type: the decoder's error says so
			}
			if v = m[k]; v == nil {
				return strings.Join(parts[:i+1], ".")
			}
		}
	}
	return ""
}

// fieldCheck collects the first bad field of a file: one validation function
// per file type runs its rules through it.
type fieldCheck struct {
	kind, file string
	err        error
}

func (c *fieldCheck) fail(field, value, format string, args ...any) {
	if c.err == nil {
		c.err = &FieldError{Kind: c.kind, File: c.file, Field: field, Value: value, Msg: fmt.Sprintf(format, args...)}
	}
}

// fieldNum writes a number as the file holds it: whole numbers below 10^9
// in digits, others in the shortest form that reads back the same.
func fieldNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// positive: v > 0 and at most most.
func (c *fieldCheck) positive(field string, v, most float64) {
	switch {
	case !(v > 0):
		c.fail(field, fieldNum(v), "must be > 0")
	case v > most:
		c.fail(field, fieldNum(v), "must be at most %s", fieldNum(most))
	}
}

// nonNegative: 0 ≤ v ≤ most.
func (c *fieldCheck) nonNegative(field string, v, most float64) {
	switch {
	case !(v >= 0):
		c.fail(field, fieldNum(v), "must be >= 0")
	case v > most:
		c.fail(field, fieldNum(v), "must be at most %s", fieldNum(most))
	}
}

// within: lo ≤ v ≤ hi.
func (c *fieldCheck) within(field string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		c.fail(field, fieldNum(v), "must be in [%s, %s]", fieldNum(lo), fieldNum(hi))
	}
}

// finite: |v| ≤ most.
func (c *fieldCheck) finite(field string, v, most float64) {
	if math.IsNaN(v) || math.Abs(v) > most {
		c.fail(field, fieldNum(v), "out of range (|value| > %s)", fieldNum(most))
	}
}
