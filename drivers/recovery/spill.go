package recovery

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
)

// writeRecord is one memory write of the run, as spilled to disk: every
// store (acknowledged or not) and every member of a store batch.
type writeRecord struct {
	Key   uint64  // workloads.Key
	Space uint32  // index into the scenario's space names
	Acked bool    // the target answered 2xx
	Conf  float32 // the confidence sent
	Began int64   // wall time the request began, Unix ns
	Ack   int64   // wall time of the answer, Unix ns (0 when not acknowledged)
}

const recordSize = 8 + 4 + 4 + 4 + 4 + 8 + 8 // key, space, flags, conf, pad, began, ack

// spill appends write records to a file, so that a drill accounts for every
// write while its memory stays constant however long the run. Safe for
// concurrent use: the workers of the run call add.
type spill struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	n    int64
	err  error
	path string
}

func newSpill(path string) (*spill, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("write spill: %w", err)
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, 1<<16), path: path}, nil
}

func (s *spill) add(r writeRecord) {
	var b [recordSize]byte
	binary.LittleEndian.PutUint64(b[0:], r.Key)
	binary.LittleEndian.PutUint32(b[8:], r.Space)
	if r.Acked {
		b[12] = 1
	}
	binary.LittleEndian.PutUint32(b[16:], math.Float32bits(r.Conf))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.Began))
	binary.LittleEndian.PutUint64(b[32:], uint64(r.Ack))
	s.mu.Lock()
	if s.err == nil {
		_, s.err = s.w.Write(b[:])
		s.n++
	}
	s.mu.Unlock()
}

// close flushes and closes the file; it returns the first error of any write.
func (s *spill) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return s.err
	}
	if err := s.w.Flush(); s.err == nil {
		s.err = err
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	s.f = nil
	if s.err != nil {
		return fmt.Errorf("write spill %s: %w", s.path, s.err)
	}
	return nil
}

// readSpill calls fn for every record of the spill file at path, in order.
func readSpill(path string, fn func(writeRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read spill: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var b [recordSize]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read spill %s: record %d: %w", path, i, err)
		}
		rec := writeRecord{
			Key:   binary.LittleEndian.Uint64(b[0:]),
			Space: binary.LittleEndian.Uint32(b[8:]),
			Acked: b[12] == 1,
			Conf:  math.Float32frombits(binary.LittleEndian.Uint32(b[16:])),
			Began: int64(binary.LittleEndian.Uint64(b[24:])),
			Ack:   int64(binary.LittleEndian.Uint64(b[32:])),
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
