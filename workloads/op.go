package workloads

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the kind of an operation. Its String form names the op's histogram
// in every result.
type Kind uint8

// The op kinds. Engram's loadtest weights map onto the first four; the rest are
// engram-bench extensions.
const (
	KindStore       Kind = iota // remember one memory
	KindRecall                  // recall by cue (an embedding aimed at a stored memory)
	KindSearch                  // embedding search: k nearest neighbours
	KindComplete                // pattern completion from a partial embedding
	KindRecallByID              // get one memory by id
	KindSpread                  // spreading activation from a seed memory
	KindConsolidate             // run one consolidation cycle
	KindForget                  // delete one memory
	KindStoreBatch              // remember several memories in one call
	KindUpdate                  // re-remember an existing memory with a moved embedding (YCSB update)
	KindReadModify              // read a memory by id, then write it back changed (YCSB read-modify-write)
	NumKinds        = iota
)

var kindNames = [NumKinds]string{
	KindStore:       "store",
	KindRecall:      "recall_by_cue",
	KindSearch:      "embedding_search",
	KindComplete:    "pattern_completion",
	KindRecallByID:  "recall_by_id",
	KindSpread:      "spreading_activation",
	KindConsolidate: "consolidation",
	KindForget:      "forget",
	KindStoreBatch:  "store_batch",
	KindUpdate:      "update",
	KindReadModify:  "read_modify_write",
}

// KindNames lists every op kind's name, indexed by Kind.
func KindNames() []string { return append([]string(nil), kindNames[:]...) }

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the Kind named s. "recall" is accepted for recall_by_cue,
// as Engram's loadtest calls it.
func ParseKind(s string) (Kind, error) {
	if s == "recall" {
		return KindRecall, nil
	}
	for k, n := range kindNames {
		if n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown op kind %q (want one of %s)", s, strings.Join(kindNames[:], ", "))
}

// WritesMemory reports whether ops of this kind add memories.
func (k Kind) WritesMemory() bool { return k == KindStore || k == KindStoreBatch }

// RecallMode selects how a recall combines similarity and spreading.
type RecallMode uint8

// Recall modes, as Engram names them.
const (
	ModeSimilarity RecallMode = iota
	ModeSpreading
	ModeHybrid
)

var modeNames = [...]string{"similarity", "spreading", "hybrid"}

func (m RecallMode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseRecallMode returns the mode named s.
func ParseRecallMode(s string) (RecallMode, error) {
	for m, n := range modeNames {
		if n == s {
			return RecallMode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown recall mode %q (want similarity, spreading or hybrid)", s)
}

// Key identifies a memory the workload created, and renders as the memory id
// that drivers send: preloaded memory j is "p<j>", the memory stored by op i is
// "m<i>", and member n of the batch stored by op i is "m<i>.<n>".
type Key uint64

const (
	// OpKeyBit marks keys of memories stored by measured ops (as opposed to preload).
	OpKeyBit Key = 1 << 63
	// MaxBatch is the largest store_batch: members are numbered in the low 12 bits.
	MaxBatch   = 1<<12 - 1
	memberBits = 12
	memberMask = 1<<memberBits - 1
)

// PreloadKey is the key of preloaded memory j.
func PreloadKey(j uint64) Key { return Key(j) &^ OpKeyBit }

// OpKey is the key of the memory stored by op i.
func OpKey(i uint64) Key { return OpKeyBit | Key(i)<<memberBits }

// MemberKey is the key of member n (0-based, n < MaxBatch) of the batch stored by op i.
func MemberKey(i uint64, n int) Key { return OpKey(i) | Key(n+1) }

// IsPreload reports whether k names a preloaded memory.
func (k Key) IsPreload() bool { return k&OpKeyBit == 0 }

// AppendID appends the memory id of k to b.
func (k Key) AppendID(b []byte) []byte {
	if k&OpKeyBit == 0 {
		return strconv.AppendUint(append(b, 'p'), uint64(k), 10)
	}
	b = strconv.AppendUint(append(b, 'm'), uint64(k&^OpKeyBit)>>memberBits, 10)
	if n := uint64(k) & memberMask; n != 0 {
		b = strconv.AppendUint(append(b, '.'), n-1, 10)
	}
	return b
}

// ID returns the memory id of k.
func (k Key) ID() string { return string(k.AppendID(make([]byte, 0, 24))) }

// ParseKey parses a memory id made by AppendID.
func ParseKey(id string) (Key, error) {
	if len(id) < 2 || (id[0] != 'p' && id[0] != 'm') {
		return 0, fmt.Errorf("memory id %q: want p<n>, m<n> or m<n>.<member>", id)
	}
	if id[0] == 'p' {
		n, err := strconv.ParseUint(id[1:], 10, 63)
		if err != nil {
			return 0, fmt.Errorf("memory id %q: %w", id, err)
		}
		return PreloadKey(n), nil
	}
	opPart, memberPart, batched := strings.Cut(id[1:], ".")
	i, err := strconv.ParseUint(opPart, 10, 63-memberBits)
	if err != nil {
		return 0, fmt.Errorf("memory id %q: %w", id, err)
	}
	if !batched {
		return OpKey(i), nil
	}
	n, err := strconv.ParseUint(memberPart, 10, 16)
	if err != nil || n >= MaxBatch {
		return 0, fmt.Errorf("memory id %q: batch member must be below %d", id, MaxBatch)
	}
	return MemberKey(i, int(n)), nil
}

// Op is one operation of a workload. A Generator fills it; a driver executes it.
// The zero value is an empty store op. Slices are reused between Fill calls, so
// a driver that keeps an embedding must copy it.
type Op struct {
	Index uint64 // position in the op stream; with Arrival.Due(Index) it fixes the op's intended start
	Kind  Kind
	Space string // memory space id; always set

	// Key is the memory written (store), read (recall_by_id), deleted (forget),
	// or the seed of spreading activation.
	Key Key
	// Target is the memory a cue aims at (recall_by_cue, embedding_search,
	// pattern_completion) when HasTarget is set: the expected best match.
	Target    Key
	HasTarget bool

	// Embedding is the stored vector (store; Count vectors back to back for
	// store_batch), the cue (recall_by_cue, embedding_search) or the partial
	// vector (pattern_completion, where missing dimensions are NaN).
	Embedding []float32
	Dim       int // length of one vector in Embedding

	Confidence float32    // store: encoding confidence in [0, 1]
	K          int        // max results (recall, search)
	Threshold  float32    // recall: minimum score
	Mode       RecallMode // recall
	Depth      int        // spreading activation: max hops
	Count      int        // store_batch: memories in the batch (keys MemberKey(Index, 0..Count-1))

	// ExpectFrom and ExpectN name the memories a scored cue should find: the
	// preload keys ExpectFrom … ExpectFrom+ExpectN−1 (the target's planted
	// group, see data.planted_group_size), or the target alone (ExpectN = 1).
	ExpectFrom Key
	ExpectN    int

	// Outputs, set by the driver that executed the op (see BeginScore and
	// ScoreResult): Scored when the op aimed at a known memory and its results
	// could be checked, Hit when the target was among them, Found the number
	// of expected memories among the first ScoreDepth() results.
	Scored, Hit bool
	Found       int
}

// BeginScore marks the op as scored and clears its outcome; a driver calls it
// when it has the op's results, then ScoreResult for each of them.
func (o *Op) BeginScore() { o.Scored, o.Hit, o.Found = true, false, 0 }

// ScoreResult scores the result at rank (0 = best) with memory id. Results a
// recall would cut by its threshold should not be passed.
func (o *Op) ScoreResult(rank int, id string) {
	k, err := ParseKey(id)
	if err != nil {
		return
	}
	if o.HasTarget && k == o.Target {
		o.Hit = true
	}
	if rank < o.ScoreDepth() && o.Expects(k) {
		o.Found++
	}
}

// ScoreDepth is how many leading results recall@10 looks at: min(K, 10).
func (o *Op) ScoreDepth() int { return max(min(o.K, 10), 1) }

// ExpectedFound is the recall@10 denominator: min(ExpectN, ScoreDepth()).
func (o *Op) ExpectedFound() int { return min(max(o.ExpectN, 1), o.ScoreDepth()) }

// Expects reports whether k is one of the memories the op should find.
func (o *Op) Expects(k Key) bool {
	if o.ExpectN <= 1 {
		return o.HasTarget && k == o.ExpectFrom
	}
	return k.IsPreload() && k >= o.ExpectFrom && k < o.ExpectFrom+Key(o.ExpectN)
}

// Vector returns the n-th vector of a (batched) op.
func (o *Op) Vector(n int) []float32 { return o.Embedding[n*o.Dim : (n+1)*o.Dim] }

// AppendContent appends the deterministic text content of memory k to b.
// Content is derived from the key, so it can be checked after a read-back.
func AppendContent(b []byte, k Key) []byte {
	b = append(b, "engram-bench memory "...)
	b = k.AppendID(b)
	b = append(b, " checksum "...)
	return strconv.AppendUint(b, mix64(uint64(k))&0xffffffff, 16)
}

// Content returns the deterministic text content of memory k.
func Content(k Key) string { return string(AppendContent(nil, k)) }

// String renders the op on one line, in the form ParseOp reads:
//
//	#12 store space=default key=m12 conf=0.8 dim=768 emb=<base64 float32 LE>
//
// Fields with their zero value are left out.
func (o *Op) String() string {
	var b strings.Builder
	b.WriteString("#")
	b.WriteString(strconv.FormatUint(o.Index, 10))
	b.WriteString(" ")
	b.WriteString(o.Kind.String())
	b.WriteString(" space=")
	b.WriteString(o.Space)
	if o.Key != 0 {
		b.WriteString(" key=")
		b.WriteString(o.Key.ID())
	}
	if o.HasTarget {
		b.WriteString(" target=")
		b.WriteString(o.Target.ID())
	}
	if o.ExpectN > 1 {
		b.WriteString(" expect=")
		b.WriteString(o.ExpectFrom.ID())
		b.WriteString("+")
		b.WriteString(strconv.Itoa(o.ExpectN))
	}
	f := func(name string, v float64) {
		if v != 0 {
			b.WriteString(" " + name + "=")
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 32))
		}
	}
	i := func(name string, v int) {
		if v != 0 {
			b.WriteString(" " + name + "=")
			b.WriteString(strconv.Itoa(v))
		}
	}
	f("conf", float64(o.Confidence))
	i("k", o.K)
	f("threshold", float64(o.Threshold))
	if o.Mode != ModeSimilarity {
		b.WriteString(" mode=")
		b.WriteString(o.Mode.String())
	}
	i("depth", o.Depth)
	i("count", o.Count)
	if len(o.Embedding) > 0 {
		i("dim", o.Dim)
		b.WriteString(" emb=")
		raw := make([]byte, 4*len(o.Embedding))
		for j, v := range o.Embedding {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
		}
		b.WriteString(base64.RawStdEncoding.EncodeToString(raw))
	}
	return b.String()
}

// ParseOp reads an op written by Op.String. It never panics; errors name the
// field and value.
func ParseOp(s string) (Op, error) {
	var o Op
	fields := strings.Fields(s)
	if len(fields) < 3 || !strings.HasPrefix(fields[0], "#") {
		return o, fmt.Errorf("op %q: want \"#<index> <kind> space=<id> ...\"", trunc(s))
	}
	idx, err := strconv.ParseUint(fields[0][1:], 10, 64)
	if err != nil {
		return o, fmt.Errorf("op index %q: %w", fields[0], err)
	}
	o.Index = idx
	if o.Kind, err = ParseKind(fields[1]); err != nil {
		return o, err
	}
	seen := map[string]bool{}
	for _, f := range fields[2:] {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			return o, fmt.Errorf("op field %q: want name=value", trunc(f))
		}
		if seen[name] {
			return o, fmt.Errorf("op field %s given twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "space":
			o.Space = val
		case "key":
			o.Key, err = ParseKey(val)
		case "target":
			o.Target, err = ParseKey(val)
			o.HasTarget = true
		case "expect":
			from, n, ok := strings.Cut(val, "+")
			if !ok {
				err = fmt.Errorf("want <first id>+<count>")
				break
			}
			if o.ExpectFrom, err = ParseKey(from); err == nil {
				o.ExpectN, err = parseInt(n)
			}
			if err == nil && (o.ExpectN < 2 || !o.ExpectFrom.IsPreload()) {
				err = fmt.Errorf("want a preload id and a count of at least 2")
			}
		case "conf":
			o.Confidence, err = parseF32(val)
		case "threshold":
			o.Threshold, err = parseF32(val)
		case "k":
			o.K, err = parseInt(val)
		case "depth":
			o.Depth, err = parseInt(val)
		case "count":
			o.Count, err = parseInt(val)
		case "dim":
			o.Dim, err = parseInt(val)
		case "mode":
			o.Mode, err = ParseRecallMode(val)
		case "emb":
			var raw []byte
			raw, err = base64.RawStdEncoding.DecodeString(val)
			if err == nil && len(raw)%4 != 0 {
				err = fmt.Errorf("%d bytes is not a whole number of float32 values", len(raw))
			}
			if err == nil {
				o.Embedding = make([]float32, len(raw)/4)
				for j := range o.Embedding {
					o.Embedding[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
				}
			}
		default:
			return o, fmt.Errorf("op field %q: unknown", name)
		}
		if err != nil {
			return o, fmt.Errorf("op field %s=%q: %w", name, trunc(val), err)
		}
	}
	if o.Space == "" {
		return o, fmt.Errorf("op %q: missing space", trunc(s))
	}
	if o.ExpectN == 0 && o.HasTarget {
		o.ExpectFrom, o.ExpectN = o.Target, 1
	}
	if len(o.Embedding) > 0 {
		if o.Dim <= 0 || len(o.Embedding)%o.Dim != 0 {
			return o, fmt.Errorf("op field dim=%d: does not divide the %d embedding values", o.Dim, len(o.Embedding))
		}
	} else if o.Dim != 0 {
		return o, fmt.Errorf("op field dim=%d: given without emb", o.Dim)
	}
	return o, nil
}

func parseF32(s string) (float32, error) {
	v, err := strconv.ParseFloat(s, 32)
	return float32(v), err
}

func parseInt(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err == nil && v < 0 {
		err = fmt.Errorf("must be >= 0")
	}
	return int(v), err
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
