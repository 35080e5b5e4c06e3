package engine

import (
	"errors"
	"math"
	"testing"
	"time"
)

// A chain of memories: the cue matches "head"; "tail" is reachable only
// through explicit edges and is dissimilar to the cue.
func recallFixture(t *testing.T, opts Options) *Store {
	opts.Dim, opts.NoAutoLink = 4, true
	s := open(t, t.TempDir(), opts)
	mustRemember(t, s, "recall", "head", []float32{1, 0, 0, 0})
	mustRemember(t, s, "recall", "twin", []float32{0.9, 0.1, 0, 0})
	mustRemember(t, s, "recall", "tail", []float32{0, 0, 1, 0})
	mustRemember(t, s, "recall", "other", []float32{0, 0, 0, 1})
	if err := s.Associate(ctx, "recall", "head", "tail", 0.9); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(rs []Recalled) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestRecallModes(t *testing.T) {
	s := recallFixture(t, Options{})
	defer s.Close()
	cue := []float32{1, 0.01, 0, 0}
	cases := []struct {
		name       string
		mode       RecallMode
		vivid      []string
		associated []string
	}{
		{"similarity returns direct matches only", ModeSimilarity, []string{"head", "twin"}, nil},
		{"spreading adds what the matches activate", ModeSpreading, []string{"head", "twin"}, []string{"tail"}},
		{"hybrid ranks both", ModeHybrid, []string{"head", "twin"}, []string{"tail"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: c.mode, Threshold: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Vivid); len(got) != len(c.vivid) || got[0] != c.vivid[0] || got[1] != c.vivid[1] {
				t.Errorf("vivid = %v, want %v", got, c.vivid)
			}
			if got := ids(res.Associated); len(got) != len(c.associated) || len(got) > 0 && got[0] != c.associated[0] {
				t.Errorf("associated = %v, want %v", got, c.associated)
			}
			for _, a := range res.Associated {
				// tail: head's similarity × 0.9 × 0.8 decay.
				want := res.Vivid[0].Similarity * 0.9 * DefaultSpreadDecay
				if math.Abs(float64(a.Activation-want)) > 1e-5 || a.Score != a.Activation || a.Hops != 1 || len(a.Path) != 2 || a.Content != "content of tail" {
					t.Errorf("associated %+v, want activation %.4f", a, want)
				}
			}
			if res.Vivid[0].Content != "content of head" || res.Vivid[0].Similarity < 0.99 {
				t.Errorf("vivid[0] = %+v", res.Vivid[0])
			}
		})
	}
	t.Run("threshold drops weak matches", func(t *testing.T) {
		res, _ := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: ModeHybrid, Threshold: 0.995})
		if got := ids(res.Vivid); len(got) != 1 || got[0] != "head" || len(res.Associated) != 0 {
			t.Errorf("vivid %v associated %v", got, ids(res.Associated))
		}
	})
	t.Run("max results caps the total", func(t *testing.T) {
		res, _ := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: ModeHybrid, MaxResults: 2})
		if n := len(res.Vivid) + len(res.Associated); n != 2 {
			t.Errorf("%d results", n)
		}
	})
	t.Run("text cue", func(t *testing.T) {
		res, err := s.Recall(ctx, "recall", RecallRequest{Query: "content of tail", Threshold: 0.6})
		if err != nil || len(res.Vivid) != 1 || res.Vivid[0].ID != "tail" || res.Vivid[0].Similarity != 1 {
			t.Errorf("text recall = %+v, %v", res, err)
		}
	})
	t.Run("results carry their embedding unless asked not to", func(t *testing.T) {
		with, err := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: ModeHybrid, NoReinforce: true})
		if err != nil {
			t.Fatal(err)
		}
		without, err := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: ModeHybrid, NoReinforce: true, NoEmbeddings: true})
		if err != nil {
			t.Fatal(err)
		}
		all := func(r RecallResult) []Recalled { return append(append([]Recalled(nil), r.Vivid...), r.Associated...) }
		w, wo := all(with), all(without)
		if len(w) < 3 || len(wo) != len(w) {
			t.Fatalf("%d results, then %d without embeddings; want the same, at least 3", len(w), len(wo))
		}
		for i := range w {
			if len(w[i].Embedding) != 4 || wo[i].Embedding != nil {
				t.Errorf("result %d: embedding %v, then %v without; want 4 values, then none", i, w[i].Embedding, wo[i].Embedding)
			}
			if w[i].ID != wo[i].ID || w[i].Score != wo[i].Score || w[i].Content != wo[i].Content {
				t.Errorf("result %d: %s %.4f %q, then %s %.4f %q without embeddings", i, w[i].ID, w[i].Score, w[i].Content, wo[i].ID, wo[i].Score, wo[i].Content)
			}
		}
		// The copy handed out is the caller's: changing it changes no later answer.
		w[0].Embedding[0] = 42
		again, _ := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: ModeHybrid, NoReinforce: true})
		if again.Vivid[0].Embedding[0] == 42 {
			t.Error("a recall result's embedding is shared with the store")
		}
	})
	t.Run("bad mode", func(t *testing.T) {
		_, err := s.Recall(ctx, "recall", RecallRequest{Embedding: cue, Mode: 7})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "mode" {
			t.Errorf("err = %v", err)
		}
	})
}

// Recall reinforces what it returns; decay lowers confidence lazily and a
// Decay sweep forgets what fell below the floor.
func TestReinforcementAndDecay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	opts := Options{Dim: 4, NoAutoLink: true, Clock: clock, Decay: DecayOptions{
		Episodic: Curve{Kind: CurveExponential, Tau: time.Hour}, Reinforcement: 1}}
	s := open(t, dir, opts)
	mustRemember(t, s, "decay", "recalled", []float32{1, 0, 0, 0})
	mustRemember(t, s, "decay", "ignored", []float32{0, 1, 0, 0})
	now = now.Add(time.Hour)
	m, _ := s.Get(ctx, "decay", "ignored")
	if want := float32(0.9 * math.Exp(-1)); !near(m.DecayedConfidence, want) || m.Confidence != 0.9 {
		t.Errorf("after τ: decayed %.4f, want %.4f (confidence %.2f)", m.DecayedConfidence, want, m.Confidence)
	}
	res, err := s.Recall(ctx, "decay", RecallRequest{Embedding: []float32{1, 0, 0, 0}, Threshold: 0.9})
	if err != nil || len(res.Vivid) != 1 || res.Vivid[0].ID != "recalled" {
		t.Fatalf("recall %+v, %v", res, err)
	}
	m, _ = s.Get(ctx, "decay", "recalled")
	if m.RecallCount != 1 || !m.LastAccess.Equal(now) || !near(m.DecayedConfidence, 0.9) {
		t.Errorf("after recall: %+v", m)
	}
	// Two hours later: the recalled memory forgets on τ' = 2h (one recall,
	// reinforcement 1) from its last access; the other on τ = 1h from creation.
	now = now.Add(2 * time.Hour)
	m, _ = s.Get(ctx, "decay", "recalled")
	if want := float32(0.9 * math.Exp(-1)); !near(m.DecayedConfidence, want) {
		t.Errorf("reinforced: %.4f, want %.4f", m.DecayedConfidence, want)
	}
	s.Close()
	s = open(t, dir, opts) // access history persists
	defer s.Close()
	m, _ = s.Get(ctx, "decay", "recalled")
	if m.RecallCount != 1 {
		t.Errorf("recall count after reopen %d", m.RecallCount)
	}
	st, err := s.Decay(ctx, "decay", 0.1) // ignored: 0.9·e^-3 = 0.045
	if err != nil || st.Scanned != 2 || st.Forgotten != 1 {
		t.Fatalf("decay sweep %+v, %v", st, err)
	}
	if _, err := s.Get(ctx, "decay", "ignored"); !errors.Is(err, ErrNotFound) {
		t.Errorf("forgotten memory still there: %v", err)
	}
}

func TestCurves(t *testing.T) {
	cases := []struct {
		name string
		c    Curve
		t    time.Duration
		n    int
		want float64
	}{
		{"exponential at τ", Curve{Kind: CurveExponential, Tau: time.Hour}, time.Hour, 0, math.Exp(-1)},
		{"exponential, recalled twice", Curve{Kind: CurveExponential, Tau: time.Hour}, 2 * time.Hour, 2, math.Exp(-1)},
		{"power law at τ", Curve{Kind: CurvePowerLaw, Tau: time.Hour, Beta: 0.5}, time.Hour, 0, math.Pow(2, -0.5)},
		{"power law at 3τ", Curve{Kind: CurvePowerLaw, Tau: time.Hour, Beta: 1}, 3 * time.Hour, 0, 0.25},
		{"none", Curve{Kind: CurveNone}, 1000 * time.Hour, 0, 1},
		{"no time passed", Curve{Kind: CurveExponential, Tau: time.Hour}, 0, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.c.Retention(c.t, c.n, 0.5); math.Abs(float64(got)-c.want) > 1e-6 {
				t.Errorf("R = %.6f, want %.6f", got, c.want)
			}
		})
	}
}

func TestHotTier(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 4, HotCapacity: 2, NoAutoLink: true})
	defer s.Close()
	for i, id := range []string{"m1", "m2", "m3"} {
		mustRemember(t, s, "hot", id, basis(4, i))
	}
	for _, id := range []string{"m1", "m2", "m1", "m3", "m1"} {
		if _, err := s.Get(ctx, "hot", id); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stats()
	// m1 miss+promote, m2 miss+promote, m1 hit, m3 miss+promote (evicts m2), m1 hit.
	h := st.Hot
	if h.Hits != 2 || h.Misses != 3 || h.Promotions != 3 || h.Demotions != 1 || h.Entries != 2 || h.Capacity != 2 {
		t.Errorf("hot tier stats %+v", h)
	}
	// A replaced memory is never served stale from the hot tier.
	if err := s.Remember(ctx, "hot", Memory{ID: "m1", Content: "new content", Embedding: basis(4, 0), Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Get(ctx, "hot", "m1"); m.Content != "new content" {
		t.Errorf("stale hot read: %q", m.Content)
	}
	lr, _ := s.List(ctx, "hot", ListRequest{Tier: TierHot})
	if lr.Hot != 2 || lr.Warm != 3 {
		t.Errorf("tier counts hot %d warm %d", lr.Hot, lr.Warm)
	}
}

func TestPatternCompletion(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 8, NoAutoLink: true})
	defer s.Close()
	full := []float32{0.5, 0.5, 0.5, 0.5, 0.1, -0.3, 0.2, 0.4}
	mustRemember(t, s, "pcomp", "target", full)
	mustRemember(t, s, "pcomp", "decoy", []float32{-0.5, 0.5, -0.5, 0.5, 0.9, 0.9, 0.9, 0.9})
	partial := append([]float32(nil), full...)
	for j := 4; j < 8; j++ {
		partial[j] = float32(math.NaN())
	}
	c, err := s.Complete(ctx, "pcomp", CompleteRequest{Partial: partial, K: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), full...)
	unit(want)
	if c.Matches[0].ID != "target" || c.KnownDims != 4 || dot(c.Embedding, want) < 0.9999 || c.Confidence < 0.99 {
		t.Errorf("completion %+v", c)
	}
	_, err = s.Complete(ctx, "pcomp", CompleteRequest{Partial: []float32{float32(math.NaN()), 0, 0, 0, 0, 0, 0, 0}})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "partial" {
		t.Errorf("all-unknown partial: %v", err)
	}
}
