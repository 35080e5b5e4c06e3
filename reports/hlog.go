package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// HLogVersion names the engram-bench conventions inside the interval log (its
// tags and comment lines); the log itself is HdrHistogram log format 1.3.
const HLogVersion = "engram-bench/hlog/v1"

// HLog tags. Op kinds are tags as they are ("store"); service time adds a
// suffix; the untagged histogram of each interval is every op kind's latency
// merged, so tools that ignore tags see the run's latency.
const (
	HLogServiceSuffix = ".service"
	HLogLagTag        = "harness.lag"
)

// HLogMeta describes the run a log comes from; it goes into the header.
type HLogMeta struct {
	Scenario string
	Seed     uint64
	Driver   string
	Shard    int // 0-based
	Shards   int // 0 or 1: not sharded
	// Note is an optional comment line for the header.
	Note string
}

// HLogWriter streams a run's interval histograms in the HdrHistogram interval
// log format (version 1.3, V2 compressed histograms, base64): per interval
// and op kind one line of latency (tag "<op>") and one of service time (tag
// "<op>.service"), one untagged line of all ops' latency and one of the
// harness's dispatch lag (tag "harness.lag"), plus a comment line of counts
// (ops, errors by class, recall hits) that the histograms cannot carry.
// Values are nanoseconds; the Interval_Max column is milliseconds. Timestamps
// are seconds from the start of measuring, which the header's StartTime and
// BaseTime give in seconds since the epoch.
//
// It writes each interval as it closes and keeps nothing of it, so its memory
// is constant in run length. Use it from one goroutine (the Live callback).
type HLogWriter struct {
	w       *bufio.Writer
	names   []string
	meta    HLogMeta
	now     func() time.Time
	started bool
	origin  int64    // run clock of the start of measuring, ns
	sum     []int64  // counts of every op kind's latency (all ops share one geometry)
	geo     geometry // of sum
	err     error
	end     float64
	line    []byte
	enc     hdrEncoder
}

// NewHLogWriter returns a writer to w for op kinds names (indexed like the
// recorder's). now (nil: time.Now) stamps the start time.
func NewHLogWriter(w io.Writer, names []string, meta HLogMeta, now func() time.Time) *HLogWriter {
	if now == nil {
		now = time.Now
	}
	return &HLogWriter{w: bufio.NewWriterSize(w, 64<<10), names: names, meta: meta, now: now}
}

// Err returns the first write error.
func (l *HLogWriter) Err() error { return l.err }

// Tick writes one interval. The first call writes the header; its start is
// the start of measuring.
func (l *HLogWriter) Tick(t Tick) {
	if l.err != nil {
		return
	}
	if !l.started {
		l.started = true
		l.origin = t.Start
		// The callback runs when the interval closes: its start was
		// (End − Start) ago.
		start := l.now().Add(-time.Duration(t.End - t.Start))
		l.header(start)
	}
	st := float64(t.Start-l.origin) / 1e9
	ln := float64(t.End-t.Start) / 1e9
	l.end = st + ln
	d := t.Delta
	var count int64
	for i := range d.Ops {
		count += d.Ops[i].Count
	}
	l.printf("#[engram-bench interval start=%.3f length=%.3f count=%d in_flight=%d queued=%d saturated=%d]\n",
		st, ln, count, t.InFlight, d.Queued, d.Saturated)
	clear(l.sum)
	any := false
	for i := range d.Ops {
		o := &d.Ops[i]
		if o.Count == 0 {
			continue
		}
		name := l.names[i]
		l.counts(st, ln, name, o)
		if o.Latency.TotalCount() > 0 {
			s := o.Latency.Export()
			l.line2(name, st, ln, geometryOf(s), s.Counts)
			if l.sum == nil {
				l.sum = make([]int64, len(s.Counts))
			}
			for k, c := range s.Counts {
				l.sum[k] += c
			}
			l.geo, any = geometryOf(s), true
			l.hist(name+HLogServiceSuffix, st, ln, o.Service)
		}
	}
	if any {
		l.line2("", st, ln, l.geo, l.sum)
	}
	if d.Lag.TotalCount() > 0 {
		l.hist(HLogLagTag, st, ln, d.Lag)
	}
	if l.err == nil {
		l.err = l.w.Flush() // a crash loses at most the interval being written
	}
}

// Close writes the end line (partial marks an interrupted run) and flushes.
// It does not close the underlying writer.
func (l *HLogWriter) Close(partial bool) error {
	if !l.started {
		l.started = true
		l.header(l.now())
	}
	l.printf("#[engram-bench end measured=%.3f partial=%t]\n", l.end, partial)
	if l.err == nil {
		l.err = l.w.Flush()
	}
	return l.err
}

func (l *HLogWriter) header(start time.Time) {
	sec := float64(start.UnixMilli()) / 1000
	l.printf("#[Histogram log format version 1.3]\n")
	l.printf("#[StartTime: %.3f (seconds since epoch), %s]\n", sec, start.UTC().Format("2006-01-02T15:04:05.000Z"))
	l.printf("#[BaseTime: %.3f (seconds since epoch)]\n", sec)
	l.printf("#[%s values=ns max=ms tags: <op> latency (end - intended start), <op>%s service time (end - actual start), %s dispatch lag, untagged all ops' latency]\n",
		HLogVersion, HLogServiceSuffix, HLogLagTag)
	shards := max(l.meta.Shards, 1)
	l.printf("#[engram-bench run scenario=%s seed=%d driver=%s shard=%d shards=%d ops=%s]\n",
		safeToken(l.meta.Scenario), l.meta.Seed, safeToken(l.meta.Driver), l.meta.Shard, shards, strings.Join(l.names, ","))
	if l.meta.Note != "" {
		l.printf("#[engram-bench note %s]\n", strings.ReplaceAll(l.meta.Note, "]", ")"))
	}
	l.printf("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")
}

func (l *HLogWriter) counts(st, ln float64, name string, o *OpTotals) {
	b := l.line[:0]
	b = fmt.Appendf(b, "#[engram-bench op=%s start=%.3f length=%.3f count=%d errors=%d", name, st, ln, o.Count, o.ErrorCount())
	classes := make([]string, 0, len(o.Errors))
	for k, v := range o.Errors {
		if v > 0 {
			classes = append(classes, k)
		}
	}
	sort.Strings(classes)
	for _, k := range classes {
		b = fmt.Appendf(b, " error.%s=%d", safeToken(k), o.Errors[k])
	}
	if o.Scored > 0 {
		b = fmt.Appendf(b, " scored=%d hits=%d", o.Scored, o.Hits)
	}
	b = append(b, "]\n"...)
	l.line = b
	l.write(b)
}

func (l *HLogWriter) hist(tag string, st, ln float64, h *hdr.Histogram) {
	s := h.Export()
	l.line2(tag, st, ln, geometryOf(s), s.Counts)
}

// line2 writes one histogram line from counts.
func (l *HLogWriter) line2(tag string, st, ln float64, g geometry, counts []int64) {
	enc, max, err := l.enc.encodeCounts(g, counts)
	if err != nil {
		if l.err == nil {
			l.err = fmt.Errorf("encode %s histogram: %w", tag, err)
		}
		return
	}
	b := l.line[:0]
	if tag != "" {
		b = append(b, "Tag="...)
		b = append(b, tag...)
		b = append(b, ',')
	}
	b = fmt.Appendf(b, "%.3f,%.3f,%.3f,", st, ln, float64(max)/1e6)
	b = append(b, enc...)
	b = append(b, '\n')
	l.line = b
	l.write(b)
}

func (l *HLogWriter) printf(format string, args ...any) {
	if l.err == nil {
		_, l.err = fmt.Fprintf(l.w, format, args...)
	}
}

func (l *HLogWriter) write(b []byte) {
	if l.err == nil {
		_, l.err = l.w.Write(b)
	}
}

// safeToken replaces what would break a tag or a key=value comment.
func safeToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', ',', '\t', '\r', '\n', ']', '=':
			return '_'
		}
		return r
	}, s)
}

// HLogInterval is one interval read back from an interval log.
type HLogInterval struct {
	StartS, LengthS float64 // seconds from the start of measuring
	Count           int64   // ops finished in the interval, every kind
	InFlight        int
	Queued          int64
	Saturated       int64
	Ops             map[string]*OpTotals // by op kind
	All             *hdr.Histogram       // the untagged line: every kind's latency
	Lag             *hdr.Histogram       // dispatch lag
}

// HLogHeader is what the header of an engram-bench interval log says.
type HLogHeader struct {
	StartTime time.Time
	Meta      HLogMeta
	Ops       []string
	// Version is HLogVersion for logs written by engram-bench; "" for a
	// plain HdrHistogram log (whose tagged lines still read as op kinds).
	Version string
}

// HLogReader reads an interval log written by HLogWriter, one interval at a
// time (constant memory). It also reads plain HdrHistogram logs: each
// distinct start timestamp is then an interval, tags are op kinds.
type HLogReader struct {
	sc      *bufio.Scanner
	name    string
	lineNo  int
	Header  HLogHeader
	cur     *HLogInterval
	pending *HLogInterval
	// Partial and Ended report the end line: the log is complete when Ended.
	Partial, Ended bool
	MeasuredS      float64
}

// NewHLogReader reads from r; name labels errors (a file name).
func NewHLogReader(r io.Reader, name string) *HLogReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &HLogReader{sc: sc, name: name}
}

// Next returns the next interval, or io.EOF after the last.
func (r *HLogReader) Next() (*HLogInterval, error) {
	for r.sc.Scan() {
		r.lineNo++
		line := strings.TrimRight(r.sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "\"StartTimestamp\"") {
			continue
		}
		if line[0] == '#' {
			if err := r.comment(line); err != nil {
				return nil, err
			}
		} else if err := r.histLine(line); err != nil {
			return nil, err
		}
		if r.pending != nil {
			iv := r.pending
			r.pending = nil
			return iv, nil
		}
	}
	if err := r.sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", r.name, r.lineNo, err)
	}
	if r.cur != nil {
		iv := r.cur
		r.cur = nil
		return iv, nil
	}
	return nil, io.EOF
}

func (r *HLogReader) errf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", r.name, r.lineNo, fmt.Sprintf(format, args...))
}

// begin starts a new interval at st, handing the current one out.
func (r *HLogReader) begin(st, ln float64) *HLogInterval {
	if r.cur != nil && math.Abs(r.cur.StartS-st) < 5e-4 {
		return r.cur
	}
	if r.cur != nil {
		r.pending = r.cur
	}
	r.cur = &HLogInterval{StartS: st, LengthS: ln, Ops: map[string]*OpTotals{}}
	return r.cur
}

func (r *HLogReader) op(name string) *OpTotals {
	o := r.cur.Ops[name]
	if o == nil {
		t := newOpTotals()
		o = &t
		r.cur.Ops[name] = o
	}
	return o
}

func (r *HLogReader) comment(line string) error {
	switch {
	case strings.HasPrefix(line, "#[StartTime: "):
		f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "#[StartTime: "), "]"))
		if len(f) == 0 {
			return r.errf("StartTime: no value")
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return r.errf("StartTime %q: %v", f[0], err)
		}
		r.Header.StartTime = time.UnixMilli(int64(math.Round(sec * 1000))).UTC()
		return nil
	case strings.HasPrefix(line, "#[engram-bench/hlog/"):
		r.Header.Version = strings.Fields(line[2:])[0]
		if r.Header.Version != HLogVersion {
			return r.errf("log version %q is not supported (this version reads %q)", r.Header.Version, HLogVersion)
		}
		return nil
	case !strings.HasPrefix(line, "#[engram-bench "):
		return nil // other comments are ignored, as the format says
	}
	body := strings.TrimSuffix(strings.TrimPrefix(line, "#[engram-bench "), "]")
	kind, rest, _ := strings.Cut(body, " ")
	if kind == "note" {
		return nil
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return r.errf("%q: want key=value", f)
		}
		kv[k] = v
	}
	num := func(k string) (int64, error) {
		v, ok := kv[k]
		if !ok {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, r.errf("%s=%q: not an integer", k, v)
		}
		return n, nil
	}
	times := func() (float64, float64, error) {
		st, err1 := strconv.ParseFloat(kv["start"], 64)
		ln, err2 := strconv.ParseFloat(kv["length"], 64)
		if err1 != nil || err2 != nil {
			return 0, 0, r.errf("start=%q length=%q: not numbers", kv["start"], kv["length"])
		}
		return st, ln, nil
	}
	switch {
	case kind == "run":
		r.Header.Meta.Scenario, r.Header.Meta.Driver = kv["scenario"], kv["driver"]
		seed, _ := strconv.ParseUint(kv["seed"], 10, 64)
		r.Header.Meta.Seed = seed
		sh, _ := num("shard")
		shs, _ := num("shards")
		r.Header.Meta.Shard, r.Header.Meta.Shards = int(sh), int(shs)
		if kv["ops"] != "" {
			r.Header.Ops = strings.Split(kv["ops"], ",")
		}
	case kind == "interval":
		st, ln, err := times()
		if err != nil {
			return err
		}
		iv := r.begin(st, ln)
		var vals [4]int64
		for i, k := range []string{"count", "in_flight", "queued", "saturated"} {
			if vals[i], err = num(k); err != nil {
				return err
			}
		}
		iv.Count, iv.InFlight, iv.Queued, iv.Saturated = vals[0], int(vals[1]), vals[2], vals[3]
	case kind == "note":
		return nil
	case strings.HasPrefix(kind, "op="):
		name := strings.TrimPrefix(kind, "op=")
		st, ln, err := times()
		if err != nil {
			return err
		}
		r.begin(st, ln)
		o := r.op(name)
		if o.Count, err = num("count"); err != nil {
			return err
		}
		for k, v := range kv {
			if c, ok := strings.CutPrefix(k, "error."); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return r.errf("%s=%q: not an integer", k, v)
				}
				o.Errors[c] = n
			}
		}
		if o.Scored, err = num("scored"); err != nil {
			return err
		}
		if o.Hits, err = num("hits"); err != nil {
			return err
		}
	case kind == "end":
		r.Ended = true
		r.Partial = kv["partial"] == "true"
		r.MeasuredS, _ = strconv.ParseFloat(kv["measured"], 64)
	}
	return nil
}

func (r *HLogReader) histLine(line string) error {
	tag := ""
	if rest, ok := strings.CutPrefix(line, "Tag="); ok {
		var found bool
		tag, line, found = strings.Cut(rest, ",")
		if !found {
			return r.errf("tag without values")
		}
	}
	f := strings.SplitN(line, ",", 4)
	if len(f) != 4 {
		return r.errf("want StartTimestamp,Interval_Length,Interval_Max,Histogram; got %d fields", len(f))
	}
	st, err1 := strconv.ParseFloat(f[0], 64)
	ln, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		return r.errf("timestamps %q,%q: not numbers", f[0], f[1])
	}
	h, err := DecodeHistogram(strings.TrimSpace(f[3]))
	if err != nil {
		return r.errf("histogram (tag %q): %v", tag, err)
	}
	iv := r.begin(st, ln)
	switch {
	case tag == "":
		iv.All = h
	case tag == HLogLagTag:
		iv.Lag = h
	case strings.HasSuffix(tag, HLogServiceSuffix):
		r.op(strings.TrimSuffix(tag, HLogServiceSuffix)).Service = h
	default:
		o := r.op(tag)
		o.Latency = h
		if r.Header.Version == "" {
			o.Count = h.TotalCount() // a plain log: the histogram is all there is
		}
	}
	return nil
}

// ErrNoHLog is returned by OpenHLog for a result recorded without --hlog.
var ErrNoHLog = errors.New("the result has no interval log (record one with run --hlog FILE)")
