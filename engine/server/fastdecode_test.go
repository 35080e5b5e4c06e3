package server

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodeTarget is one request type with a one-pass decoder.
type decodeTarget struct {
	name string
	new  func() fastObject
}

var decodeTargets = []decodeTarget{
	{"remember", func() fastObject { return new(rememberRequest) }},
	{"episode", func() fastObject { return new(episodeRequest) }},
	{"recall", func() fastObject { return new(recallBody) }},
	{"batch", func() fastObject { return new(batchRequest) }},
}

// embeddingsOf returns the vectors in v, to compare them bit for bit
// (reflect.DeepEqual takes -0 for 0).
func embeddingsOf(v fastObject) [][]float32 {
	switch r := v.(type) {
	case *rememberRequest:
		return [][]float32{r.Embedding.v}
	case *episodeRequest:
		return [][]float32{r.Embedding.v}
	case *recallBody:
		return [][]float32{r.Embedding.v}
	case *batchRequest:
		var out [][]float32
		for i := range r.Memories {
			out = append(out, r.Memories[i].Embedding.v)
		}
		return out
	}
	return nil
}

// checkSameDecode decodes body into a fresh value of tg both ways and fails
// unless the results (error envelope or value) are the same. It reports
// whether the fast path decided alone.
func checkSameDecode(t *testing.T, tg decodeTarget, body []byte) (fast bool) {
	t.Helper()
	probe := tg.new()
	fast = fastDecode(body, probe)
	got, want := tg.new(), tg.new()
	gotErr := decodeJSON(body, got)
	wantErr := decodeJSONStd(body, want)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("%s %q: error %v, encoding/json %v", tg.name, body, gotErr, wantErr)
	}
	if fast && wantErr != nil {
		t.Fatalf("%s %q: fast path accepted what encoding/json rejects: %v", tg.name, body, wantErr)
	}
	if wantErr != nil {
		return fast
	}
	if fast && !reflect.DeepEqual(probe, want) {
		t.Fatalf("%s %q: fast path decoded\n%#v\nencoding/json\n%#v", tg.name, body, probe, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q: decoded\n%#v\nencoding/json\n%#v", tg.name, body, got, want)
	}
	ge, we := embeddingsOf(got), embeddingsOf(want)
	for i := range we {
		if (ge[i] == nil) != (we[i] == nil) || len(ge[i]) != len(we[i]) {
			t.Fatalf("%s %q: embedding %d nil=%v len %d, encoding/json nil=%v len %d", tg.name, body, i, ge[i] == nil, len(ge[i]), we[i] == nil, len(we[i]))
		}
		for j := range we[i] {
			if math.Float32bits(ge[i][j]) != math.Float32bits(we[i][j]) {
				t.Fatalf("%s %q: embedding %d element %d = %v, encoding/json %v", tg.name, body, i, j, ge[i][j], we[i][j])
			}
		}
	}
	return fast
}

var emb8 = `[0.1234567,-0.0000001,1,-0,0.9999999,1e-3,-2.5E+1,3.4028234e38]`

// decodeSeeds are bodies for every target: well-formed ones the fast path
// takes and every kind it must leave to encoding/json.
var decodeSeeds = []struct {
	name   string
	fast   bool // the fast path decides (for target, or remember when "")
	body   string
	target string
}{
	{"remember", true, `{"id":"m1","content":"the cat sat","embedding":` + emb8 + `,"confidence":0.7}`, ""},
	{"every remember field", true, ` {"content":"x","embedding":[1,2],"id":"a","confidence":1,"confidence_reasoning":"r","timestamp":"2025-01-01T00:00:00Z","memory_type":"Semantic","tags":["a","b"],"auto_link":true,"link_threshold":0.5,"memory_space_id":"abc"} `, ""},
	{"whitespace everywhere", true, "\n{ \"content\" :\t\"x\" , \"embedding\" : [ 1 , 2 ,\r\n3 ] }\n", ""},
	{"nulls", true, `{"content":null,"embedding":null,"id":null,"confidence":null,"tags":null,"auto_link":null}`, ""},
	{"empty embedding", true, `{"content":"x","embedding":[]}`, ""},
	{"empty object", true, `{}`, ""},
	{"unknown fields", true, `{"extra":{"a":[1,{"b":null}],"c":"\u00e9\n"},"content":"x","more":[true,false,-1.5e-3]}`, ""},
	{"escaped content", true, `{"content":"a\"b\\c\u00e9\ud83d\ude00\n"}`, ""},
	{"utf-8 content", true, `{"content":"héllo wörld ✓"}`, ""},
	{"invalid utf-8 content", true, "{\"content\":\"a\xffb\"}", ""},
	{"lone surrogate", true, `{"content":"\ud800x"}`, ""},
	{"recall", true, `{"embedding":[0.5,0.5],"threshold":0.3,"max_results":5,"mode":"hybrid","include_metadata":true,"trace_activation":false,"seed_id":"s","max_hops":2,"memory_space_id":"abc","query":"q"}`, "recall"},
	{"episode", true, `{"when":"2025-01-01T00:00:00Z","what":"w","id":"e","embedding":[1],"importance":0.5,"where_location":"here","who":["a"],"why":"y","how":"h","emotional_valence":-0.5,"auto_link":false,"memory_space_id":"abc"}`, "episode"},
	{"batch", true, `{"memories":[{"content":"a","embedding":[1,2]},{"content":"b"}],"memory_space_id":"abc"}`, "batch"},
	{"batch empty", true, `{"memories":[]}`, "batch"},
	{"many digits", true, `{"content":"x","embedding":[0.123456789012345678901234567890,123456789,1e-45,1.17549435e-38]}`, ""},

	{"malformed", false, `{"content":`, ""},
	{"trailing garbage", false, `{"content":"x"} x`, ""},
	{"two objects", false, `{"content":"x"}{}`, ""},
	{"trailing comma", false, `{"content":"x",}`, ""},
	{"top-level null", false, `null`, ""},
	{"top-level array", false, `[{"content":"x"}]`, ""},
	{"content number", false, `{"content":5}`, ""},
	{"content object", false, `{"content":{}}`, ""},
	{"embedding string", false, `{"content":"x","embedding":"[1]"}`, ""},
	{"embedding object", false, `{"content":"x","embedding":{}}`, ""},
	{"embedding with null", false, `{"content":"x","embedding":[1,null]}`, ""},
	{"embedding nested", false, `{"content":"x","embedding":[[1]]}`, ""},
	{"embedding overflow", false, `{"content":"x","embedding":[1e39]}`, ""},
	{"embedding bad number", false, `{"content":"x","embedding":[01]}`, ""},
	{"embedding plus", false, `{"content":"x","embedding":[+1]}`, ""},
	{"embedding dot", false, `{"content":"x","embedding":[1.]}`, ""},
	{"embedding trailing comma", false, `{"content":"x","embedding":[1,]}`, ""},
	{"confidence overflow", false, `{"content":"x","confidence":1e400}`, ""},
	{"confidence string", false, `{"content":"x","confidence":"0.5"}`, ""},
	{"max_results float", false, `{"query":"x","max_results":1.0}`, "recall"},
	{"max_results exponent", false, `{"query":"x","max_results":1e2}`, "recall"},
	{"max_results overflow", false, `{"query":"x","max_results":99999999999999999999}`, "recall"},
	{"repeated key", false, `{"content":"a","content":"b"}`, ""},
	{"repeated embedding", false, `{"content":"a","embedding":[1,2],"embedding":[3]}`, ""},
	{"case-folded key", false, `{"Content":"x"}`, ""},
	{"upper-case key", false, `{"EMBEDDING":[1]}`, ""},
	{"escaped key", false, `{"cont\u0065nt":"x"}`, ""},
	{"non-ASCII key", false, `{"ſeed_id":"x"}`, ""},
	{"kelvin key", false, "{\"\u212aey\":1}", ""},
	{"tags wrong type", false, `{"content":"x","tags":[1]}`, ""},
	{"auto_link string", false, `{"content":"x","auto_link":"true"}`, ""},
	{"control character", false, "{\"content\":\"a\x01b\"}", ""},
	{"bad escape", false, `{"content":"\x"}`, ""},
	{"short unicode escape", false, `{"content":"\u12"}`, ""},
	{"batch null member", false, `{"memories":[null]}`, "batch"},
	{"batch bad member", false, `{"memories":[{"content":5}]}`, "batch"},
	{"deep unknown", false, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ""},
	{"truncated literal", false, `{"auto_link":tru}`, ""},
}

func TestFastDecodeSameAsEncodingJSON(t *testing.T) {
	for _, sd := range decodeSeeds {
		t.Run(sd.name, func(t *testing.T) {
			for _, tg := range decodeTargets {
				fast := checkSameDecode(t, tg, []byte(sd.body))
				want := sd.target
				if want == "" {
					want = "remember"
				}
				if tg.name == want && fast != sd.fast {
					t.Errorf("%s: fast path decided = %v, want %v", tg.name, fast, sd.fast)
				}
			}
		})
	}
}

// TestFastDecodeLongVector covers maxVectorLen: at the limit the fast path
// decides; one more and encoding/json's error stands.
func TestFastDecodeLongVector(t *testing.T) {
	for _, n := range []int{768, maxVectorLen, maxVectorLen + 1} {
		t.Run(fmt.Sprintf("len=%d", n), func(t *testing.T) {
			body := `{"content":"x","embedding":[` + strings.TrimSuffix(strings.Repeat("0.5,", n), ",") + `]}`
			fast := checkSameDecode(t, decodeTargets[0], []byte(body))
			if fast != (n <= maxVectorLen) {
				t.Fatalf("fast path decided = %v", fast)
			}
		})
	}
}

// FuzzDecodeDifferential: for every request type with a one-pass decoder,
// decodeJSON accepts and rejects exactly what encoding/json did, with the
// same error envelope, and decodes the same value (vectors bit for bit).
func FuzzDecodeDifferential(f *testing.F) {
	for _, sd := range decodeSeeds {
		f.Add(sd.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, tg := range decodeTargets {
			checkSameDecode(t, tg, []byte(body))
		}
	})
}

// FuzzAtof32: atof32 is strconv.ParseFloat(s, 32), bit for bit.
func FuzzAtof32(f *testing.F) {
	for _, s := range []string{"0", "-0", "0.1234567", "-0.0000001", "8388607", "8388608", "0.9999999", "1.", ".5", "1e5", "0.00000000001", "3.4028235e38", "1e39", "-", "", "1.2.3", "+1", "inf", "0x1p3", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := atof32([]byte(s))
		want, err := strconv.ParseFloat(s, 32)
		if ok != (err == nil) {
			t.Fatalf("atof32(%q) ok=%v, strconv err=%v", s, ok, err)
		}
		if ok && math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("atof32(%q) = %v, strconv %v", s, got, want)
		}
	})
}

// benchBody returns a body of kind with a 768-float embedding in the
// engram driver's format (7 decimals).
func benchBody(kind string) []byte {
	var e strings.Builder
	e.WriteByte('[')
	for i := range 768 {
		if i > 0 {
			e.WriteByte(',')
		}
		e.WriteString(strconv.FormatFloat(math.Sin(float64(i))/28, 'f', 7, 64))
	}
	e.WriteByte(']')
	emb := e.String()
	switch kind {
	case "remember":
		return []byte(`{"id":"mem_00000000000012ab","content":"river stone lantern quiet orbit 4711","embedding":` + emb + `,"confidence":0.7000}`)
	case "episode":
		return []byte(`{"when":"2025-11-20T09:30:00Z","what":"river stone lantern","embedding":` + emb + `,"importance":0.5}`)
	case "recall":
		return []byte(`{"embedding":` + emb + `,"threshold":0.5,"max_results":10,"mode":"similarity"}`)
	}
	panic(kind)
}

// BenchmarkDecode compares the request decoder (path=fast: one pass, with
// encoding/json behind it) with encoding/json alone (path=std) on the hot
// bodies. Run: go test ./engine/server -run '^$' -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	for _, kind := range []string{"remember", "episode", "recall"} {
		body := benchBody(kind)
		var tg decodeTarget
		for _, t := range decodeTargets {
			if t.name == kind {
				tg = t
			}
		}
		for _, path := range []string{"std", "fast"} {
			dec := decodeJSON
			if path == "std" {
				dec = decodeJSONStd
			}
			b.Run("body="+kind+"/path="+path, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if err := dec(body, tg.new()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
