package workloads

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Traces: an op stream with intended times, in a compact, documented and
// versioned file (docs/traces.md). Format "engram-bench-trace" version 1 is
// JSON Lines, gzip-compressed (plain text is read too):
//
//	{"format":"engram-bench-trace","version":1,"dim":768,...}            header
//	{"preload":true,"op":"store","space":"default","key":"p0","emb":"…"}  preload (optional)
//	{"t_ns":0,"op":"store","space":"default","key":"m0","conf":0.95,"emb":"…"}
//	{"t_ns":1000000,"op":"recall_by_cue","space":"default","target":"p17","k":10,"emb":"…"}
//	{"end":true,"ops":2,"preload":1}                                       trailer
//
// Op lines come in index order with non-decreasing t_ns (nanoseconds from the
// trace's time zero). "emb" is base64 of little-endian float32 values. The
// trailer is required: a file without it, or whose counts differ, is
// truncated. Every problem is reported with the file and line.

// TraceFormat and TraceVersion identify the trace format this package writes
// and reads.
const (
	TraceFormat  = "engram-bench-trace"
	TraceVersion = 1
)

// maxTraceLine bounds one line (a store_batch of 4095 768-d vectors is ~17 MB).
const maxTraceLine = 64 << 20

// TraceHeader is a trace's first line.
type TraceHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Dim     int    `json:"dim"`
	// Optional: counts and length (record writes them; a converted trace of
	// real traffic may leave them out), warm-up to leave out of results, and
	// where the trace came from.
	Ops          *uint64 `json:"ops,omitempty"`
	Preload      *uint64 `json:"preload,omitempty"`
	DurationNs   *int64  `json:"duration_ns,omitempty"`
	WarmupNs     int64   `json:"warmup_ns,omitempty"`
	Scenario     string  `json:"scenario,omitempty"`
	ScenarioText string  `json:"scenario_text,omitempty"`
	Seed         *uint64 `json:"seed,omitempty"`
	CreatedBy    string  `json:"created_by,omitempty"`
	// ThroughputTarget is the recorded run's throughput target when it is
	// not ScenarioText's own (record --rate scaled it with the rate).
	ThroughputTarget *float64 `json:"throughput_target,omitempty"`
}

// traceLine is one op line (or the trailer) as JSON.
type traceLine struct {
	End     bool    `json:"end,omitempty"`
	Preload bool    `json:"preload,omitempty"`
	T       *int64  `json:"t_ns,omitempty"`
	I       *uint64 `json:"i,omitempty"`
	Op      string  `json:"op,omitempty"`
	Space   string  `json:"space,omitempty"`
	Key     string  `json:"key,omitempty"`
	Target  string  `json:"target,omitempty"`
	Expect  string  `json:"expect,omitempty"`
	Conf    float32 `json:"conf,omitempty"`
	K       int     `json:"k,omitempty"`
	Thresh  float32 `json:"threshold,omitempty"`
	Mode    string  `json:"mode,omitempty"`
	Depth   int     `json:"depth,omitempty"`
	Count   int     `json:"count,omitempty"`
	Emb     string  `json:"emb,omitempty"`
	// Trailer counts.
	Ops        *uint64 `json:"ops,omitempty"`
	TrailerPre *uint64 `json:"preload_count,omitempty"`

	embRaw []byte // fast path: the base64 text, inside the scanner's buffer
	hasEmb bool
}

// TraceError is a problem with a trace file, at a line (0: the file as a whole).
type TraceError struct {
	File string
	Line int
	Msg  string
	Err  error
}

func (e *TraceError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

func (e *TraceError) Unwrap() error { return e.Err }

// TraceWriter writes a trace. Close writes the trailer and must be called.
type TraceWriter struct {
	w       io.Writer
	gz      *gzip.Writer
	bw      *bufio.Writer
	ops     uint64
	pre     uint64
	lastT   time.Duration
	scratch []byte
	err     error
}

// NewTraceWriter starts a gzip-compressed trace with header h on w.
func NewTraceWriter(w io.Writer, h TraceHeader) (*TraceWriter, error) {
	h.Format, h.Version = TraceFormat, TraceVersion
	if h.Dim < 1 {
		return nil, fmt.Errorf("trace header: dim must be >= 1")
	}
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	t := &TraceWriter{w: w, gz: gz, bw: bufio.NewWriterSize(gz, 1<<20)}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	t.bw.Write(b)
	t.bw.WriteByte('\n')
	return t, nil
}

// WritePreload writes a preload op (a store done before time zero).
func (t *TraceWriter) WritePreload(op *Op) error {
	t.pre++
	return t.write(op, 0, true)
}

// WriteOp writes op (its Index must be the next) due at due.
func (t *TraceWriter) WriteOp(op *Op, due time.Duration) error {
	if op.Index != t.ops {
		return fmt.Errorf("trace: op %d written after %d ops: ops must be written in index order", op.Index, t.ops)
	}
	if due < t.lastT {
		return fmt.Errorf("trace: op %d due at %v, before the previous op (%v)", op.Index, due, t.lastT)
	}
	t.ops++
	t.lastT = due
	return t.write(op, due, false)
}

// AppendTraceLine appends op's JSON line (without newline) to b.
func appendTraceLine(b []byte, op *Op, due time.Duration, preload bool) []byte {
	b = append(b, '{')
	if preload {
		b = append(b, `"preload":true`...)
	} else {
		b = append(b, `"t_ns":`...)
		b = strconv.AppendInt(b, int64(due), 10)
	}
	str := func(name, v string) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = strconv.AppendQuote(b, v)
	}
	num := func(name string, v float64) {
		if v != 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendFloat(b, v, 'g', -1, 32)
		}
	}
	str("op", op.Kind.String())
	str("space", op.Space)
	switch op.Kind {
	case KindStore, KindStoreBatch, KindRecallByID, KindSpread, KindUpdate, KindReadModify, KindForget:
		str("key", op.Key.ID())
	}
	if op.HasTarget {
		str("target", op.Target.ID())
	}
	if op.ExpectN > 1 {
		str("expect", op.ExpectFrom.ID()+"+"+strconv.Itoa(op.ExpectN))
	}
	num("conf", float64(op.Confidence))
	num("k", float64(op.K))
	num("threshold", float64(op.Threshold))
	if op.Mode != ModeSimilarity {
		str("mode", op.Mode.String())
	}
	num("depth", float64(op.Depth))
	num("count", float64(op.Count))
	if len(op.Embedding) > 0 {
		b = append(b, `,"emb":"`...)
		raw := make([]byte, 4*len(op.Embedding))
		for j, v := range op.Embedding {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
		}
		b = base64.StdEncoding.AppendEncode(b, raw)
		b = append(b, '"')
	}
	return append(b, '}')
}

func (t *TraceWriter) write(op *Op, due time.Duration, preload bool) error {
	if t.err != nil {
		return t.err
	}
	t.scratch = appendTraceLine(t.scratch[:0], op, due, preload)
	t.scratch = append(t.scratch, '\n')
	_, t.err = t.bw.Write(t.scratch)
	return t.err
}

// Close writes the trailer and flushes the compressed stream (not w).
func (t *TraceWriter) Close() error {
	if t.err != nil {
		return t.err
	}
	fmt.Fprintf(t.bw, `{"end":true,"ops":%d,"preload_count":%d}`+"\n", t.ops, t.pre)
	if err := t.bw.Flush(); err != nil {
		return err
	}
	return t.gz.Close()
}

// TraceReader reads a trace line by line. It is not safe for concurrent use.
type TraceReader struct {
	name   string
	f      *os.File
	gz     *gzip.Reader
	sc     *bufio.Scanner
	line   int
	Header TraceHeader
	ops    uint64 // op lines read
	pre    uint64
	lastT  int64
	ended  bool
	raw    []byte
	tl     traceLine
	names  map[string]string // interned op kinds and spaces
}

// OpenTrace opens a trace file and reads its header.
func OpenTrace(path string) (*TraceReader, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &TraceError{File: path, Msg: "trace file not found", Err: err}
		}
		return nil, &TraceError{File: path, Msg: err.Error(), Err: err}
	}
	t := &TraceReader{name: path, f: f}
	br := bufio.NewReaderSize(f, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if t.gz, err = gzip.NewReader(br); err != nil {
			f.Close()
			return nil, &TraceError{File: path, Msg: "not a gzip stream: " + err.Error(), Err: err}
		}
		src = t.gz
	}
	t.sc = bufio.NewScanner(src)
	t.sc.Buffer(make([]byte, 0, 1<<16), maxTraceLine)
	if !t.scan() {
		err := t.scanErr("the header line")
		f.Close()
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(t.sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t.Header); err != nil {
		f.Close()
		if t.cutShort() {
			return nil, t.truncErr()
		}
		return nil, t.errf("header: not a trace header: %v", err)
	}
	h := &t.Header
	switch {
	case h.Format != TraceFormat:
		f.Close()
		return nil, t.errf("header: format %q is not %q", h.Format, TraceFormat)
	case h.Version != TraceVersion:
		f.Close()
		return nil, t.errf("header: version %d is not supported (this engram-bench reads version %d)", h.Version, TraceVersion)
	case h.Dim < 1 || h.Dim > MaxEmbeddingDim:
		f.Close()
		return nil, t.errf("header: dim %d must be in [1, %d]", h.Dim, MaxEmbeddingDim)
	case h.WarmupNs < 0:
		f.Close()
		return nil, t.errf("header: warmup_ns %d must be >= 0", h.WarmupNs)
	}
	return t, nil
}

// Close closes the file.
func (t *TraceReader) Close() error { return t.f.Close() }

// Line returns the number of the line read last.
func (t *TraceReader) Line() int { return t.line }

func (t *TraceReader) scan() bool {
	if !t.sc.Scan() {
		return false
	}
	t.line++
	return true
}

func (t *TraceReader) errf(format string, args ...any) error {
	return &TraceError{File: t.name, Line: t.line, Msg: fmt.Sprintf(format, args...)}
}

// cutShort reports whether the compressed stream ended in the middle: the
// scanner then hands out the cut-off tail as a last line, whose parse error
// would hide the real cause.
func (t *TraceReader) cutShort() bool { return errors.Is(t.sc.Err(), io.ErrUnexpectedEOF) }

// truncErr is the error of a line cut off by the end of a truncated
// compressed stream.
func (t *TraceReader) truncErr() error {
	return &TraceError{File: t.name, Line: t.line, Msg: "truncated: the compressed stream ends in the middle", Err: io.ErrUnexpectedEOF}
}

func (t *TraceReader) scanErr(what string) error {
	err := t.sc.Err()
	switch {
	case err == nil:
		return &TraceError{File: t.name, Line: t.line, Msg: fmt.Sprintf("file ends before %s: truncated?", what)}
	case errors.Is(err, bufio.ErrTooLong):
		return &TraceError{File: t.name, Line: t.line + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxTraceLine), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &TraceError{File: t.name, Line: t.line + 1, Msg: "truncated: the compressed stream ends in the middle", Err: err}
	default:
		return &TraceError{File: t.name, Line: t.line + 1, Msg: "corrupt: " + err.Error(), Err: err}
	}
}

// Entry kinds returned by Next.
const (
	TracePreload = iota + 1 // a preload store
	TraceOp                 // an op with its due time
	TraceEnd                // the trailer: the trace is complete
)

// Next reads the next line into op: a preload store, a timed op (its Index
// set, due its intended start) or the end. Errors are *TraceError values
// naming the line. op's embedding buffer is reused.
func (t *TraceReader) Next(op *Op) (kind int, due time.Duration, err error) {
	if t.ended {
		return TraceEnd, 0, nil
	}
	if !t.scan() {
		return 0, 0, t.scanErr(`its end line {"end":true,...}`)
	}
	b := t.sc.Bytes()
	if !t.parseFlat(b, &t.tl) {
		t.tl = traceLine{}
		if err := json.Unmarshal(b, &t.tl); err != nil {
			if t.cutShort() {
				return 0, 0, t.truncErr()
			}
			return 0, 0, t.errf("not a JSON object: %v", err)
		}
	}
	l := &t.tl
	if l.End {
		if l.Ops == nil || *l.Ops != t.ops {
			return 0, 0, t.errf("end line: ops %s, but the trace holds %d op lines", ptrStr(l.Ops), t.ops)
		}
		if l.TrailerPre != nil && *l.TrailerPre != t.pre {
			return 0, 0, t.errf("end line: preload_count %d, but the trace holds %d preload lines", *l.TrailerPre, t.pre)
		}
		if h := t.Header.Ops; h != nil && *h != t.ops {
			return 0, 0, t.errf("end line: the header announced %d ops, the trace holds %d", *h, t.ops)
		}
		if t.sc.Scan() {
			t.line++
			return 0, 0, t.errf("text after the end line")
		}
		if err := t.sc.Err(); err != nil {
			return 0, 0, t.scanErr("the end of the file")
		}
		t.ended = true
		return TraceEnd, 0, nil
	}
	kind = TraceOp
	if l.Preload {
		if t.ops > 0 {
			return 0, 0, t.errf("preload line after the first op line")
		}
		if l.T != nil {
			return 0, 0, t.errf("preload line with t_ns: preload happens before time zero")
		}
		kind = TracePreload
	} else {
		if l.T == nil {
			return 0, 0, t.errf("op line without t_ns")
		}
		if *l.T < t.lastT {
			return 0, 0, t.errf("t_ns %d is before the previous op's %d: ops must be in time order", *l.T, t.lastT)
		}
		if l.I != nil && *l.I != t.ops {
			return 0, 0, t.errf("i %d, but this is op %d: ops must be in index order", *l.I, t.ops)
		}
	}
	if err := t.decodeOp(l, op); err != nil {
		return 0, 0, t.errf("%v", err)
	}
	if kind == TracePreload {
		if op.Kind != KindStore {
			return 0, 0, t.errf("preload line op %q: preload lines are stores", l.Op)
		}
		op.Index = t.pre
		t.pre++
		return kind, 0, nil
	}
	op.Index = t.ops
	t.ops++
	t.lastT = *l.T
	return kind, time.Duration(*l.T), nil
}

func ptrStr(p *uint64) string {
	if p == nil {
		return "missing"
	}
	return strconv.FormatUint(*p, 10)
}

// traceKey maps a trace's memory id to a Key: engram-bench's own ids as they
// are, any other string to a stable op key derived from its hash (the same id
// always maps to the same key).
func traceKey(id string) (Key, error) {
	if id == "" {
		return 0, nil
	}
	if k, err := ParseKey(id); err == nil {
		return k, nil
	}
	if len(id) > 256 {
		return 0, fmt.Errorf("memory id longer than 256 bytes")
	}
	h := mix64(hashString(id))
	return OpKey(h >> 14), nil
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (t *TraceReader) decodeOp(l *traceLine, op *Op) error {
	buf := op.Embedding
	*op = Op{Dim: t.Header.Dim}
	var err error
	if op.Kind, err = ParseKind(l.Op); err != nil {
		return fmt.Errorf("op: %v", err)
	}
	if l.Space == "" {
		return fmt.Errorf("op %s: missing space", l.Op)
	}
	op.Space = l.Space
	if op.Key, err = traceKey(l.Key); err != nil {
		return fmt.Errorf("key %q: %v", trunc(l.Key), err)
	}
	if l.Target != "" {
		if op.Target, err = traceKey(l.Target); err != nil {
			return fmt.Errorf("target %q: %v", trunc(l.Target), err)
		}
		op.HasTarget = true
		op.ExpectFrom, op.ExpectN = op.Target, 1
	}
	if l.Expect != "" {
		from, n, ok := strings.Cut(l.Expect, "+")
		k, err1 := ParseKey(from)
		c, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || c < 2 || !k.IsPreload() {
			return fmt.Errorf("expect %q: want <preload id>+<count ≥ 2>", trunc(l.Expect))
		}
		op.ExpectFrom, op.ExpectN = k, c
	}
	if !(l.Conf >= 0 && l.Conf <= 1) {
		return fmt.Errorf("conf %g: must be in [0, 1]", l.Conf)
	}
	op.Confidence, op.K, op.Threshold, op.Depth, op.Count = l.Conf, l.K, l.Thresh, l.Depth, l.Count
	if l.K < 0 || l.K > 10_000 || l.Depth < 0 || l.Depth > 64 || l.Count < 0 || l.Count > MaxBatch {
		return fmt.Errorf("k, depth or count out of range (k ≤ 10000, depth ≤ 64, count ≤ %d)", MaxBatch)
	}
	if l.Mode != "" {
		if op.Mode, err = ParseRecallMode(l.Mode); err != nil {
			return err
		}
	}
	if l.Emb != "" || l.hasEmb {
		src := l.embRaw
		if !l.hasEmb {
			src = []byte(l.Emb)
		}
		raw, err := t.decodeB64(src)
		if err != nil {
			return fmt.Errorf("emb: not base64: %v", err)
		}
		if len(raw)%(4*t.Header.Dim) != 0 {
			return fmt.Errorf("emb: %d bytes is not a whole number of %d-d float32 vectors", len(raw), t.Header.Dim)
		}
		n := len(raw) / 4
		if cap(buf) < n {
			buf = make([]float32, n)
		}
		op.Embedding = buf[:n]
		for j := range op.Embedding {
			op.Embedding[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
	} else {
		op.Embedding = buf[:0]
	}
	nv := len(op.Embedding) / op.Dim
	switch op.Kind {
	case KindStore, KindUpdate, KindReadModify, KindRecall, KindSearch, KindComplete:
		if nv != 1 {
			return fmt.Errorf("op %s needs one %d-d embedding, has %d", l.Op, op.Dim, nv)
		}
	case KindStoreBatch:
		if op.Count < 1 || nv != op.Count {
			return fmt.Errorf("store_batch of count %d needs %d embeddings, has %d", op.Count, op.Count, nv)
		}
	}
	switch op.Kind {
	case KindStore, KindUpdate, KindReadModify, KindRecallByID, KindSpread, KindForget:
		if l.Key == "" {
			return fmt.Errorf("op %s needs a key", l.Op)
		}
	}
	if (op.Kind == KindRecall || op.Kind == KindSearch) && op.K == 0 {
		op.K = DefaultMaxResults
	}
	return nil
}

// decodeB64 decodes padded or unpadded standard base64 into the reader's
// scratch buffer (valid until the next call).
func (t *TraceReader) decodeB64(s []byte) ([]byte, error) {
	s = bytes.TrimRight(s, "=")
	n := base64.RawStdEncoding.DecodedLen(len(s))
	if cap(t.raw) < n {
		t.raw = make([]byte, n)
	}
	m, err := base64.RawStdEncoding.Decode(t.raw[:n], s)
	return t.raw[:m], err
}

// TraceInfo is what a full scan of a trace found.
type TraceInfo struct {
	Header  TraceHeader
	Ops     uint64
	Preload uint64
	// Last is the due time of the last op.
	Last time.Duration
	// WarmupOps counts the ops due before the header's warmup_ns (sent but
	// not measured).
	WarmupOps uint64
	// Spaces are the memory spaces the ops use, in order of first use (at
	// most maxTraceSpaces are listed).
	Spaces []string
}

const maxTraceSpaces = 1024

// ScaleTraceTime is a trace time d at rate multiplier mult, rounded as a
// replay's due times are.
func ScaleTraceTime(d time.Duration, mult float64) time.Duration {
	return time.Duration(math.Round(float64(d) / mult))
}

// End is where the trace's schedule ends at rate multiplier mult: its
// recorded window (the header's duration_ns) when that reaches past its
// last op, else just after its last op; 0 for a trace without ops.
func (i *TraceInfo) End(mult float64) time.Duration {
	if i.Ops == 0 {
		return 0
	}
	end := ScaleTraceTime(i.Last, mult) + 1
	if d := i.Header.DurationNs; d != nil {
		end = max(end, ScaleTraceTime(time.Duration(*d), mult))
	}
	return end
}

// ScanTrace reads and checks a whole trace: every line, its order and the
// trailer. A replay runs only a trace that scans clean.
func ScanTrace(path string) (TraceInfo, error) {
	t, err := OpenTrace(path)
	if err != nil {
		return TraceInfo{}, err
	}
	defer t.Close()
	info := TraceInfo{Header: t.Header}
	seen := map[string]bool{}
	var op Op
	for {
		kind, due, err := t.Next(&op)
		if err != nil {
			return info, err
		}
		switch kind {
		case TraceEnd:
			info.Ops, info.Preload = t.ops, t.pre
			return info, nil
		case TraceOp:
			info.Last = due
			if int64(due) < t.Header.WarmupNs {
				info.WarmupOps++
			}
		}
		if !seen[op.Space] && len(seen) < maxTraceSpaces {
			seen[op.Space] = true
			info.Spaces = append(info.Spaces, op.Space)
		}
	}
}
