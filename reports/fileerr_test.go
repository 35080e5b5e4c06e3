package reports

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDescribeJSONError(t *testing.T) {
	type inner struct {
		N int64 `json:"n"`
	}
	type file struct {
		Rate  float64 `json:"rate"`
		Name  string  `json:"name"`
		Steps []inner `json:"steps"`
		Knee  inner   `json:"knee"`
		Seed  uint64  `json:"seed"`
		OK    bool    `json:"ok"`
	}
	long := strings.Repeat("x", 100)
	cases := []struct {
		name, in, want string
	}{
		{"a string for a number", `{"rate": "fast"}`, `f.json: rate: "fast": want a number`},
		{"a string with an escaped quote", `{"rate": "a\"b"}`, `f.json: rate: "a\"b": want a number`},
		{"a long string is cut", `{"rate": "` + long + `"}`, `f.json: rate: "` + strings.Repeat("x", 38) + `…": want a number`},
		{"true for a number", `{"rate": true}`, `f.json: rate: true: want a number`},
		{"null stays null (the decoder leaves the zero value)", `{"name": 5}`, `f.json: name: 5: want a string`},
		{"a fraction for a whole number, in an array", `{"steps": [{"n": 1}, {"n": 1.5}]}`, `f.json: steps.n: 1.5: want a whole number`},
		{"a negative for an unsigned", `{"seed": -1}`, `f.json: seed: -1: want a whole number >= 0`},
		{"out of range", `{"rate": 1e999}`, `f.json: rate: 1e999: out of range for a number`},
		{"an array for an object", `{"knee": [1, 2]}`, `f.json: knee: […]: want an object`},
		{"an object for a number", `{"rate": {"v": 1}}`, `f.json: rate: {…}: want a number`},
		{"a number for a bool", `{"ok": 1}`, `f.json: ok: 1: want true or false`},
		{"an array for the file", `[1]`, `f.json: (the whole file): […]: want an object`},
		{"a syntax error", "{\n  \"rate\": 1,\n}", `test file f.json: not valid JSON at byte 16 (line 3, column 1): invalid character '}'`},
		{"truncated", `{"rate": 1`, `not valid JSON at byte 10 (line 1, column 11): unexpected end of JSON input (truncated?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v file
			err := json.Unmarshal([]byte(c.in), &v)
			if err == nil {
				t.Fatal("no error to describe")
			}
			got := DescribeJSONError("test file", "f.json", []byte(c.in), err).Error()
			if !strings.Contains(got, c.want) || !strings.HasPrefix(got, "test file f.json: ") {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}
