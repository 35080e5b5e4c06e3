package engine

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unicode"
)

// TextScore scores content against a text query the way Engram does: 1 when
// the query is a case-insensitive substring of the content, 0.8 when the
// content is a substring of the query, otherwise the Jaccard similarity of
// their lowercase word sets.
func TextScore(query, content string) float32 {
	q, c := strings.ToLower(query), strings.ToLower(content)
	if q == "" || c == "" {
		return 0
	}
	if strings.Contains(c, q) {
		return 1
	}
	if strings.Contains(q, c) {
		return 0.8
	}
	words := func(s string) map[string]struct{} {
		set := map[string]struct{}{}
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			set[w] = struct{}{}
		}
		return set
	}
	qw, cw := words(q), words(c)
	inter := 0
	for w := range qw {
		if _, ok := cw[w]; ok {
			inter++
		}
	}
	union := len(qw) + len(cw) - inter
	if union == 0 {
		return 0
	}
	return float32(inter) / float32(union)
}

// SearchText returns the memories of a space whose content best matches a
// text query (TextScore > 0), best first, at most limit. It reads every
// memory of the space from the warm tier: O(memories).
func (s *Store) SearchText(ctx context.Context, spaceID, query string, limit int) ([]Match, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(query) == "" {
		return nil, invalid("query", "", "must not be empty")
	}
	if limit < 1 || limit > 10_000 {
		return nil, invalid("limit", fmt.Sprint(limit), "must be in [1, 10000]")
	}
	sp := s.space(spaceID)
	if sp == nil {
		return nil, nil
	}
	cs, err := s.textMatches(ctx, sp, query, limit)
	if err != nil {
		return nil, err
	}
	return sp.matches(cs), nil
}

// textMatches scans the live memories of a space in pebble and returns the k
// best by TextScore (dist = 1 − score).
func (s *Store) textMatches(ctx context.Context, sp *space, query string, k int) ([]cand, error) {
	var h maxHeap
	var m Memory
	emb := make([]float32, s.dim)
	prefix := spaceKey(nil, pfxMemory, sp.id)
	n := 0
	err := s.scanRange(prefix, func(key, v []byte) error {
		if n++; n&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			runtime.Gosched()
		}
		id := string(key[len(prefix):])
		r, ok := sp.lookup(id)
		if !ok {
			return nil
		}
		if _, err := decodeRecord(v, &m, emb, false); err != nil {
			return fmt.Errorf("memory %s/%s: %w", sp.id, id, err)
		}
		score := TextScore(query, m.Content)
		if score <= 0 {
			return nil
		}
		c := cand{r, 1 - score}
		if len(h) < k {
			h.push(c)
		} else if c.dist < h[0].dist {
			h.pop()
			h.push(c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := []cand(h)
	sort.Slice(out, func(a, b int) bool {
		if out[a].dist != out[b].dist {
			return out[a].dist < out[b].dist
		}
		return sp.idOf(out[a].slot) < sp.idOf(out[b].slot)
	})
	return out, nil
}
