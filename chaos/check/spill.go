package check

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// Outcome is what the client learnt of a write.
type Outcome uint8

// Outcomes of a write.
const (
	// Acked: the target answered 2xx; the write must survive.
	Acked Outcome = 1
	// Rejected: the target refused it before applying it (a 4xx, a 503
	// overload answer, a refused connection); it must not be there.
	Rejected Outcome = 2
	// Unknown: no answer (timeout, reset connection, 5xx); it may or may not
	// have been applied, and either is correct.
	Unknown Outcome = 3
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Rejected:
		return "rejected"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Action is what a write did.
type Action uint8

// Actions.
const (
	Store  Action = 1 // remember a memory (or replace it)
	Delete Action = 2 // forget a memory
)

// Write is one write the client sent, and what came of it.
type Write struct {
	Action  Action
	Outcome Outcome
	Space   string
	ID      string
	// Sum is the CRC-32C of the stored content (Sum of Store writes); the
	// read-back compares it with what the target returns.
	Sum uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sum is the checksum the spill keeps of a memory's content: CRC-32C.
func Sum(content []byte) uint32 { return crc32.Checksum(content, castagnoli) }

// The spill file: a header line, then records. A space is named once by an
// 'S' record (uvarint length, bytes) and then referred to by its index, so
// a write costs 1 + 1 + 1–2 + 1 + len(id) + 4 bytes: 12–16 bytes for the
// harness's ids ("m123456").
//
//	"engram-bench spill v1\n"
//	'S' uvarint(len) space
//	'W' byte(action<<4 | outcome) uvarint(space index) uvarint(len) id uint32le(sum)
const spillHeader = "engram-bench spill v1\n"

// Spill is an append-only file of writes and their outcomes: the
// acknowledged-write log a read-back checks after the run. It keeps a few
// bytes per write on disk and a constant amount in memory (a 64 KiB buffer
// and the names of the memory spaces).
//
// Concurrency: safe for concurrent use; Add takes one mutex.
type Spill struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	w      *bufio.Writer
	spaces map[string]uint64
	counts SpillCounts
	err    error
	buf    []byte
}

// SpillCounts counts the writes in a spill by outcome.
type SpillCounts struct {
	Writes, Acked, Rejected, Unknown int64
}

// CreateSpill creates (truncates) the spill file at path.
func CreateSpill(path string) (*Spill, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create spill: %w", err)
	}
	s := &Spill{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), spaces: map[string]uint64{}}
	s.w.WriteString(spillHeader)
	return s, nil
}

// Path is the spill's file.
func (s *Spill) Path() string { return s.path }

// Add appends one write. A failure to write is kept and returned by Close.
func (s *Spill) Add(w Write) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.f == nil {
		return
	}
	sp, ok := s.spaces[w.Space]
	if !ok {
		sp = uint64(len(s.spaces))
		s.spaces[w.Space] = sp
		b := append(s.buf[:0], 'S')
		b = binary.AppendUvarint(b, uint64(len(w.Space)))
		b = append(b, w.Space...)
		s.buf = b
		if _, err := s.w.Write(b); err != nil {
			s.err = err
			return
		}
	}
	b := append(s.buf[:0], 'W', byte(w.Action)<<4|byte(w.Outcome))
	b = binary.AppendUvarint(b, sp)
	b = binary.AppendUvarint(b, uint64(len(w.ID)))
	b = append(b, w.ID...)
	b = binary.LittleEndian.AppendUint32(b, w.Sum)
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return
	}
	s.counts.Writes++
	switch w.Outcome {
	case Acked:
		s.counts.Acked++
	case Rejected:
		s.counts.Rejected++
	default:
		s.counts.Unknown++
	}
}

// Counts returns the writes added so far.
func (s *Spill) Counts() SpillCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Close flushes and syncs the file. Later Adds are ignored.
func (s *Spill) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.f.Sync(); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = err
	}
	s.f = nil
	if s.err != nil {
		return fmt.Errorf("spill %s: %w", s.path, s.err)
	}
	return nil
}

// ErrBadSpill wraps every problem with a spill file's content.
var ErrBadSpill = errors.New("bad spill file")

// ReadSpill calls fn for every write in the spill at path, in the order
// they were added. A record cut short at the end (the harness died while
// writing) ends the file quietly: truncated reports it. Anything else that
// is not a spill is an error wrapping ErrBadSpill naming the offset.
func ReadSpill(path string, fn func(Write) error) (truncated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("read spill: %w", err)
	}
	defer f.Close()
	return readSpill(bufio.NewReaderSize(f, 64<<10), path, fn)
}

func readSpill(r *bufio.Reader, name string, fn func(Write) error) (bool, error) {
	head := make([]byte, len(spillHeader))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != spillHeader {
		return false, fmt.Errorf("%w: %s: no spill header", ErrBadSpill, name)
	}
	off := int64(len(spillHeader))
	var spaces []string
	var id []byte
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s at byte %d: %s", ErrBadSpill, name, off, fmt.Sprintf(format, args...))
	}
	for {
		tag, err := r.ReadByte()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		start := off
		n := int64(1)
		uv := func() (uint64, bool) {
			v, err := binary.ReadUvarint(r)
			if err != nil {
				return 0, false
			}
			n += int64(binary.PutUvarint(make([]byte, binary.MaxVarintLen64), v))
			return v, true
		}
		switch tag {
		case 'S':
			l, ok := uv()
			if !ok {
				return true, nil
			}
			if l > 1<<16 {
				off = start
				return false, bad("space name of %d bytes", l)
			}
			b := make([]byte, l)
			if _, err := io.ReadFull(r, b); err != nil {
				return true, nil
			}
			n += int64(l)
			spaces = append(spaces, string(b))
		case 'W':
			ao, err := r.ReadByte()
			if err != nil {
				return true, nil
			}
			n++
			sp, ok := uv()
			if !ok {
				return true, nil
			}
			l, ok := uv()
			if !ok {
				return true, nil
			}
			a, o := Action(ao>>4), Outcome(ao&0xf)
			if a != Store && a != Delete || o < Acked || o > Unknown {
				off = start
				return false, bad("write record with action %d outcome %d", a, o)
			}
			if sp >= uint64(len(spaces)) {
				off = start
				return false, bad("space %d before it was named", sp)
			}
			if l > 1<<16 {
				off = start
				return false, bad("id of %d bytes", l)
			}
			if cap(id) < int(l)+4 {
				id = make([]byte, l+4)
			}
			id = id[:l+4]
			if _, err := io.ReadFull(r, id); err != nil {
				return true, nil
			}
			n += int64(l) + 4
			w := Write{Action: a, Outcome: o, Space: spaces[sp], ID: string(id[:l]), Sum: binary.LittleEndian.Uint32(id[l:])}
			if err := fn(w); err != nil {
				return false, err
			}
		default:
			return false, bad("unknown record tag %q", tag)
		}
		off = start + n
	}
}
