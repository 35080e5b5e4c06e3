package check

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/reports"
)

// Config configures a read-back. The zero value of each optional field
// means its documented default.
type Config struct {
	// Target is the base URL of a server speaking Engram's REST API
	// (engramd, or a real Engram). Required. Only loopback targets are read.
	Target string
	// APIKey, when set, is sent as a bearer key.
	APIKey string
	// Concurrency is the number of reads in flight. Default 16.
	Concurrency int
	// Timeout bounds one read. Default 10 s.
	Timeout time.Duration
	// CountExtras compares each space's memory count (GET
	// /api/v1/system/health) with the memories found, and counts the
	// difference as unexpected. Right only when the target started empty
	// and nobody else wrote to it.
	CountExtras bool
	// PartitionSize is the most writes held in memory at once; a larger
	// spill is split into partitions on disk by hash of the memory id.
	// Default 1,000,000 (about 100 MB).
	PartitionSize int
	// TempDir holds the partitions. "" means beside the spill.
	TempDir string
	// LossAllowed marks lost writes as expected (a fault destroyed data on
	// purpose): they are counted, and OK() ignores them.
	LossAllowed bool
}

// Reader reads one memory back: its content, whether it exists, or an
// error when the read itself failed. ReadBack reads over HTTP; tests and
// in-process engines may bring their own.
type Reader interface {
	Read(ctx context.Context, space, id string) (content []byte, found bool, err error)
}

// ReadBack checks the spill at spillPath against cfg.Target: every memory
// whose store was acknowledged is read back and must be there with the
// content sent (else lost or corrupted); every memory whose only stores
// were refused must be absent (else unexpected); with CountExtras, the
// target must hold nothing beyond what was sent. Memory is bounded by
// Config.PartitionSize whatever the spill's length.
func ReadBack(ctx context.Context, spillPath string, cfg Config) (*reports.CheckStats, error) {
	if cfg.Target == "" {
		return nil, errors.New("read-back: Config.Target is required")
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("read-back: target %q: want http://host:port", cfg.Target)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("read-back: target %q: only loopback targets are checked", cfg.Target)
	}
	h := newHTTPReader(cfg)
	st, err := check(ctx, spillPath, h, cfg)
	if err != nil {
		return nil, err
	}
	st.Target = cfg.Target
	if cfg.CountExtras {
		counts, err := h.counts(ctx)
		if err != nil {
			return &st.CheckStats, fmt.Errorf("read-back: count memories: %w", err)
		}
		present := st.presentBySpace
		var spaces []string
		for sp := range counts {
			spaces = append(spaces, sp)
		}
		sort.Strings(spaces)
		for _, sp := range spaces {
			if extra := counts[sp] - present[sp]; extra > 0 {
				st.Extra += extra
				st.Unexpected += extra
				if len(st.UnexpectedExamples) < 10 {
					st.UnexpectedExamples = append(st.UnexpectedExamples, fmt.Sprintf("%s/(%d memories nobody sent)", sp, extra))
				}
			}
		}
	}
	return &st.CheckStats, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// stats is CheckStats with the per-space tally ReadBack needs.
type stats struct {
	reports.CheckStats
	presentBySpace map[string]int64
}

// idState is what the spill says of one memory.
type idState struct {
	acked, unknown, rejected, deleted bool
	sums                              []uint32 // distinct sums of acked and unknown stores
}

func (s *idState) add(w Write) {
	switch {
	case w.Action == Delete:
		if w.Outcome != Rejected {
			s.deleted = true
		}
		return
	case w.Outcome == Acked:
		s.acked = true
	case w.Outcome == Unknown:
		s.unknown = true
	default:
		s.rejected = true
		return
	}
	for _, x := range s.sums {
		if x == w.Sum {
			return
		}
	}
	if len(s.sums) < 8 {
		s.sums = append(s.sums, w.Sum)
	}
}

// Check is ReadBack with any Reader (no per-space counts, no target URL).
func Check(ctx context.Context, spillPath string, r Reader, cfg Config) (*reports.CheckStats, error) {
	st, err := check(ctx, spillPath, r, cfg)
	if err != nil {
		return nil, err
	}
	return &st.CheckStats, nil
}

func check(ctx context.Context, spillPath string, r Reader, cfg Config) (*stats, error) {
	t0 := time.Now()
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.PartitionSize <= 0 {
		cfg.PartitionSize = 1_000_000
	}
	st := &stats{presentBySpace: map[string]int64{}}
	st.LossAllowed = cfg.LossAllowed
	var n int64
	trunc, err := ReadSpill(spillPath, func(Write) error { n++; return nil })
	if err != nil {
		return nil, err
	}
	st.Writes, st.Truncated = n, trunc
	parts := int((n + int64(cfg.PartitionSize) - 1) / int64(cfg.PartitionSize))
	if parts <= 1 {
		m := map[string]*idState{}
		if _, err := ReadSpill(spillPath, func(w Write) error { addTo(m, w); return nil }); err != nil {
			return nil, err
		}
		err = st.verify(ctx, m, r, cfg.Concurrency)
	} else {
		err = st.partitioned(ctx, spillPath, parts, r, cfg)
	}
	st.DurationS = time.Since(t0).Seconds()
	return st, err
}

func key(space, id string) string { return space + "\x00" + id }

func addTo(m map[string]*idState, w Write) {
	k := key(w.Space, w.ID)
	s := m[k]
	if s == nil {
		s = &idState{}
		m[k] = s
	}
	s.add(w)
}

// partitioned splits the spill into parts files by hash of the memory and
// checks one at a time.
func (st *stats) partitioned(ctx context.Context, spillPath string, parts int, r Reader, cfg Config) error {
	dir := cfg.TempDir
	if dir == "" {
		dir = filepath.Dir(spillPath)
	}
	tmp, err := os.MkdirTemp(dir, "spill-parts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files := make([]*os.File, parts)
	ws := make([]*bufio.Writer, parts)
	for i := range files {
		if files[i], err = os.Create(filepath.Join(tmp, fmt.Sprint(i))); err != nil {
			return err
		}
		defer files[i].Close()
		ws[i] = bufio.NewWriterSize(files[i], 32<<10)
	}
	var b []byte
	_, err = ReadSpill(spillPath, func(w Write) error {
		h := fnv.New32a()
		io.WriteString(h, w.Space)
		h.Write([]byte{0})
		io.WriteString(h, w.ID)
		b = appendPart(b[:0], w)
		_, err := ws[int(h.Sum32()%uint32(parts))].Write(b)
		return err
	})
	if err != nil {
		return err
	}
	for i := range ws {
		if err := ws[i].Flush(); err != nil {
			return err
		}
	}
	for i := range files {
		m := map[string]*idState{}
		if _, err := files[i].Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := readParts(bufio.NewReader(files[i]), func(w Write) { addTo(m, w) }); err != nil {
			return err
		}
		if err := st.verify(ctx, m, r, cfg.Concurrency); err != nil {
			return err
		}
	}
	return nil
}

// A partition record: action<<4|outcome, uvarint len + space, uvarint len + id, uint32 sum.
func appendPart(b []byte, w Write) []byte {
	b = append(b, byte(w.Action)<<4|byte(w.Outcome))
	b = binary.AppendUvarint(b, uint64(len(w.Space)))
	b = append(b, w.Space...)
	b = binary.AppendUvarint(b, uint64(len(w.ID)))
	b = append(b, w.ID...)
	return binary.LittleEndian.AppendUint32(b, w.Sum)
}

func readParts(r *bufio.Reader, fn func(Write)) error {
	str := func() (string, error) {
		l, err := binary.ReadUvarint(r)
		if err != nil {
			return "", err
		}
		b := make([]byte, l)
		_, err = io.ReadFull(r, b)
		return string(b), err
	}
	for {
		ao, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		sp, err := str()
		if err != nil {
			return err
		}
		id, err := str()
		if err != nil {
			return err
		}
		var s [4]byte
		if _, err := io.ReadFull(r, s[:]); err != nil {
			return err
		}
		fn(Write{Action: Action(ao >> 4), Outcome: Outcome(ao & 0xf), Space: sp, ID: id, Sum: binary.LittleEndian.Uint32(s[:])})
	}
}

type job struct {
	space, id string
	s         *idState
}

// verify reads back every memory of m that needs it.
func (st *stats) verify(ctx context.Context, m map[string]*idState, r Reader, conc int) error {
	jobs := make(chan job, 4*conc)
	var mu sync.Mutex
	example := func(list *[]string, space, id string) {
		if len(*list) < 10 {
			*list = append(*list, space+"/"+id)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				content, found, err := readRetry(ctx, r, j.space, j.id)
				ok := false
				if found {
					sum := Sum(content)
					for _, x := range j.s.sums {
						ok = ok || x == sum
					}
				}
				mu.Lock()
				switch {
				case err != nil:
					st.ReadErrors++
				case j.s.acked && !found:
					st.Lost++
					example(&st.LostExamples, j.space, j.id)
				case j.s.acked && !ok:
					st.Corrupted++
					example(&st.CorruptedExamples, j.space, j.id)
				case j.s.acked:
					st.Intact++
				case j.s.unknown && found && !ok:
					st.Corrupted++
					example(&st.CorruptedExamples, j.space, j.id)
				case j.s.unknown && found:
					st.IndeterminatePresent++
				case !j.s.unknown && found: // only refused stores, yet there
					st.RejectedPresent++
					st.Unexpected++
					example(&st.UnexpectedExamples, j.space, j.id)
				}
				if err == nil && found {
					st.presentBySpace[j.space]++
				}
				mu.Unlock()
			}
		}()
	}
	var err error
	for k, s := range m {
		if err = ctx.Err(); err != nil {
			break
		}
		space, id, _ := strings.Cut(k, "\x00")
		switch {
		case s.deleted:
			st.Deleted++
			continue
		case s.acked:
			st.Acknowledged++
		case s.unknown:
			st.Indeterminate++
		}
		jobs <- job{space: space, id: id, s: s}
	}
	close(jobs)
	wg.Wait()
	return err
}

// readRetry reads once, and twice more after a short pause when the read
// itself fails (not when the memory is absent).
func readRetry(ctx context.Context, r Reader, space, id string) ([]byte, bool, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c []byte
		var found bool
		if c, found, err = r.Read(ctx, space, id); err == nil {
			return c, found, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
	return nil, false, err
}

// httpReader reads memories with GET /api/v1/memories/{id}.
type httpReader struct {
	cfg    Config
	client *http.Client
}

func newHTTPReader(cfg Config) *httpReader {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	conc := max(cfg.Concurrency, 16)
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	return &httpReader{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
}

func (h *httpReader) get(ctx context.Context, path, space string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(h.cfg.Target, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if space != "" {
		req.Header.Set("X-Memory-Space", space)
	}
	if h.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.cfg.APIKey)
		if space != "" {
			req.Header.Set("X-Memory-Space-Id", space)
		}
	}
	return h.client.Do(req)
}

// Read implements Reader.
func (h *httpReader) Read(ctx context.Context, space, id string) ([]byte, bool, error) {
	resp, err := h.get(ctx, "/api/v1/memories/"+url.PathEscape(id), space)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var m struct {
			Content *string `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Content == nil {
			return nil, false, fmt.Errorf("GET memory %s/%s: answer without content: %.200s", space, id, body)
		}
		return []byte(*m.Content), true, nil
	case http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("GET memory %s/%s: status %d: %.200s", space, id, resp.StatusCode, body)
}

// counts reads every space's memory count from /api/v1/system/health.
func (h *httpReader) counts(ctx context.Context) (map[string]int64, error) {
	resp, err := h.get(ctx, "/api/v1/system/health", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Spaces []struct {
			Space    string `json:"space"`
			Memories int64  `json:"memories"`
		} `json:"spaces"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/system/health: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET /api/v1/system/health: %w", err)
	}
	m := map[string]int64{}
	for _, s := range out.Spaces {
		m[s.Space] = s.Memories
	}
	return m, nil
}
