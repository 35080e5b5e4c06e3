package reports

import (
	"bytes"
	"fmt"
	"io"

	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// ProfileSummary describes one profile captured during a run: which, over
// what, where its file is, and its top functions.
type ProfileSummary struct {
	// Kind is the profile: cpu, heap, allocs, mutex, block, goroutine.
	Kind string `json:"kind"`
	// Of is what was profiled: "target" (the system under test) or
	// "harness" (engram-bench itself, --self-profile); "target+harness"
	// when they are one process (an in-process target).
	Of string `json:"of"`
	// Source is where it came from: "in-process" or the pprof URL.
	Source string `json:"source"`
	// File is the .pb.gz, relative to the result's folder.
	File string `json:"file,omitempty"`
	// How says over what it was taken: "window 10s–40s of measuring",
	// "snapshot at 40s", "triggered at 12s: interval p99 31ms > 20ms".
	How string `json:"how"`
	// SampleType is the value the tops rank by ("cpu", "alloc_space",
	// "inuse_space", "delay", "goroutine") and Unit its unit.
	SampleType string `json:"sample_type"`
	Unit       string `json:"unit"`
	// Total is the sum of that value over every sample.
	Total int64 `json:"total"`
	// Flat ranks functions by their own value (the innermost frame), Cum by
	// the value of every sample they appear in (once per sample): as go tool
	// pprof -top computes them.
	Flat []ProfileFunc `json:"flat,omitempty"`
	Cum  []ProfileFunc `json:"cum,omitempty"`
	// Rooms splits an in-process profile between the system under test and
	// the harness (see RoomShares); nil for a separate process.
	Rooms []RoomShare `json:"rooms,omitempty"`
	// Note says what went wrong or is worth knowing (an empty mutex
	// profile: the target does not sample mutexes).
	Note string `json:"note,omitempty"`
}

// ProfileFunc is one function's share of a profile.
type ProfileFunc struct {
	Name string  `json:"name"`
	Flat int64   `json:"flat"`
	Cum  int64   `json:"cum"`
	Pct  float64 `json:"pct"` // the ranked value's share of the total, %
}

// RoomShare is one room's share of an in-process profile.
type RoomShare struct {
	Room  string  `json:"room"` // "target", "harness", "runtime/other"
	Value int64   `json:"value"`
	Pct   float64 `json:"pct"`
}

// DefaultProfileTop is how many functions a summary keeps per ranking.
const DefaultProfileTop = 15

// ReadProfile reads a profile file (gzipped protobuf, as go tool pprof
// writes and reads it), naming the file in errors.
func ReadProfile(path string) (*profile.Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	p, err := profile.ParseData(b)
	if err != nil {
		return nil, fmt.Errorf("profile %s: not a pprof profile: %w", path, err)
	}
	return p, nil
}

// SampleIndex picks the value to rank by: want when given (its type name,
// e.g. "alloc_space"), else the profile's default sample type, else "cpu"
// when there is one, else the last (as go tool pprof does).
func SampleIndex(p *profile.Profile, want string) (int, error) {
	if len(p.SampleType) == 0 {
		return 0, fmt.Errorf("the profile has no sample types")
	}
	find := func(t string) int {
		for i, st := range p.SampleType {
			if st.Type == t {
				return i
			}
		}
		return -1
	}
	if want != "" {
		if i := find(want); i >= 0 {
			return i, nil
		}
		var have []string
		for _, st := range p.SampleType {
			have = append(have, st.Type)
		}
		return 0, fmt.Errorf("sample type %q is not in the profile (it has %s)", want, strings.Join(have, ", "))
	}
	if p.DefaultSampleType != "" {
		if i := find(p.DefaultSampleType); i >= 0 {
			return i, nil
		}
	}
	if i := find("cpu"); i >= 0 {
		return i, nil
	}
	return len(p.SampleType) - 1, nil
}

// funcName names a frame as pprof does: its function, or its address when
// the profile is not symbolised.
func funcName(loc *profile.Location, ln *profile.Line) string {
	if ln != nil && ln.Function != nil && ln.Function.Name != "" {
		return ln.Function.Name
	}
	return fmt.Sprintf("0x%x", loc.Address)
}

// Tops ranks the functions of p by the value at index idx: flat goes to the
// innermost frame of each sample (Location[0].Line[0], the innermost inlined
// function), cum to every distinct function on its stack, once per sample —
// exactly what go tool pprof -top prints. It returns the top n by flat and by
// cum, and the total.
func Tops(p *profile.Profile, idx, n int) (flat, cum []ProfileFunc, total int64) {
	fl := map[string]int64{}
	cu := map[string]int64{}
	seen := map[string]bool{}
	for _, s := range p.Sample {
		if idx >= len(s.Value) {
			continue
		}
		v := s.Value[idx]
		if v == 0 {
			continue
		}
		total += v
		if len(s.Location) > 0 {
			loc := s.Location[0]
			var ln *profile.Line
			if len(loc.Line) > 0 {
				ln = &loc.Line[0]
			}
			fl[funcName(loc, ln)] += v
		}
		clear(seen)
		for _, loc := range s.Location {
			if len(loc.Line) == 0 {
				name := funcName(loc, nil)
				if !seen[name] {
					seen[name] = true
					cu[name] += v
				}
				continue
			}
			for i := range loc.Line {
				name := funcName(loc, &loc.Line[i])
				if !seen[name] {
					seen[name] = true
					cu[name] += v
				}
			}
		}
	}
	build := func(by map[string]int64, other map[string]int64, flatFirst bool) []ProfileFunc {
		out := make([]ProfileFunc, 0, len(by))
		for name, v := range by {
			f := ProfileFunc{Name: name}
			if flatFirst {
				f.Flat, f.Cum = v, cu[name]
			} else {
				f.Flat, f.Cum = fl[name], v
			}
			if total != 0 {
				f.Pct = round3(100 * float64(v) / float64(total))
			}
			out = append(out, f)
		}
		sort.Slice(out, func(a, b int) bool {
			va, vb := out[a].Flat, out[b].Flat
			if !flatFirst {
				va, vb = out[a].Cum, out[b].Cum
			}
			if va != vb {
				return abs64(va) > abs64(vb)
			}
			return out[a].Name < out[b].Name
		})
		if n > 0 && len(out) > n {
			out = out[:n]
		}
		return out
	}
	return build(fl, cu, true), build(cu, fl, false), total
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Rooms of an in-process profile, by the package of a frame.
var (
	targetPackages  = []string{"github.com/engram-bench/engram-bench/engine", "github.com/cockroachdb/", "github.com/viterin/", "github.com/DataDog/zstd", "github.com/golang/snappy", "github.com/klauspost/compress", "github.com/minio/minlz"}
	harnessPackages = []string{"github.com/engram-bench/engram-bench/drivers", "github.com/engram-bench/engram-bench/reports", "github.com/engram-bench/engram-bench/workloads", "main.", "github.com/HdrHistogram/", "github.com/prometheus/", "github.com/spf13/", "github.com/vbauerster/", "github.com/google/pprof/"}
)

func roomOf(fn string) string {
	for _, p := range targetPackages {
		if strings.HasPrefix(fn, p) {
			return "target"
		}
	}
	for _, p := range harnessPackages {
		if strings.HasPrefix(fn, p) {
			return "harness"
		}
	}
	return ""
}

// RoomShares splits an in-process profile (the engine and the harness in one
// process) between the system under test and the harness: each sample goes
// to the room of the innermost frame that belongs to one — so a memmove or
// a syscall counts for whoever called it — and to "runtime/other" when no
// frame does (the garbage collector's background work, the scheduler).
func RoomShares(p *profile.Profile, idx int) []RoomShare {
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		if idx >= len(s.Value) || s.Value[idx] == 0 {
			continue
		}
		v := s.Value[idx]
		total += v
		room := ""
		for _, loc := range s.Location {
			for i := range loc.Line {
				if room = roomOf(funcName(loc, &loc.Line[i])); room != "" {
					break
				}
			}
			if room != "" {
				break
			}
		}
		if room == "" {
			room = "runtime/other"
		}
		by[room] += v
	}
	var out []RoomShare
	for _, r := range []string{"target", "harness", "runtime/other"} {
		if total > 0 {
			out = append(out, RoomShare{Room: r, Value: by[r], Pct: round3(100 * float64(by[r]) / float64(total))})
		}
	}
	return out
}

// SummarizeProfile reads a captured profile and fills its sample type,
// total and tops (n per ranking; 0: DefaultProfileTop), and the room split
// when inProcess.
func SummarizeProfile(s *ProfileSummary, p *profile.Profile, n int, inProcess bool) error {
	if n <= 0 {
		n = DefaultProfileTop
	}
	// What each kind is about: allocations over the window, memory in use
	// at its end (a delta profile loses its default sample type).
	want := map[string]string{"allocs": "alloc_space", "heap": "inuse_space", "mutex": "delay", "block": "delay"}[s.Kind]
	idx, err := SampleIndex(p, want)
	if err != nil {
		if idx, err = SampleIndex(p, ""); err != nil {
			return err
		}
	}
	s.SampleType, s.Unit = p.SampleType[idx].Type, p.SampleType[idx].Unit
	s.Flat, s.Cum, s.Total = Tops(p, idx, n)
	if inProcess && s.Kind == "cpu" {
		s.Rooms = RoomShares(p, idx)
	}
	if s.Total == 0 && s.Note == "" {
		switch s.Kind {
		case "mutex", "block":
			// A delta profile does not say whether the server samples at
			// all (its period is 1 either way): give both causes.
			s.Note = fmt.Sprintf("no %s events were sampled in the window: none happened, or the server samples none (a Go server samples them only when asked: runtime.Set%sProfile%s; engramd: --%s)",
				s.Kind, map[string]string{"mutex": "Mutex", "block": "Block"}[s.Kind], map[string]string{"mutex": "Fraction", "block": "Rate"}[s.Kind],
				map[string]string{"mutex": "mutex-profile-fraction 10", "block": "block-profile-rate 10000"}[s.Kind])
		default:
			s.Note = "the profile holds no samples"
		}
	}
	return nil
}

// ShortFunc shortens a function name for display: this module's path is
// dropped and generic shape arguments ([go.shape.…]) become […].
func ShortFunc(name string) string {
	name = strings.ReplaceAll(name, "github.com/engram-bench/engram-bench/", "")
	for {
		i := strings.Index(name, "[go.shape.")
		if i < 0 {
			return name
		}
		depth, j := 0, i
		for ; j < len(name); j++ {
			if name[j] == '[' {
				depth++
			} else if name[j] == ']' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j == len(name) {
			return name
		}
		name = name[:i] + "[…]" + name[j+1:]
	}
}

// FormatProfileValue writes v in unit: nanoseconds as a duration, bytes in
// B/KiB/MiB/GiB, counts as they are.
func FormatProfileValue(v int64, unit string) string {
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	switch unit {
	case "nanoseconds":
		return neg + FormatNs(v)
	case "bytes":
		return neg + fmtBytes(v)
	}
	return neg + fmt.Sprint(v)
}

// WriteProfileTop writes a ranked table like go tool pprof -top: flat,
// flat%, cum, cum% and the function.
func WriteProfileTop(w io.Writer, fs []ProfileFunc, total int64, unit string) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "  %10s %7s %10s %7s  %s\n", "flat", "flat%", "cum", "cum%", "function")
	for _, f := range fs {
		fmt.Fprintf(ew, "  %10s %6.2f%% %10s %6.2f%%  %s\n", FormatProfileValue(f.Flat, unit), pctOf(f.Flat, total),
			FormatProfileValue(f.Cum, unit), pctOf(f.Cum, total), f.Name)
	}
	return ew.err
}

func pctOf(v, total int64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(v) / float64(total)
}

// writeProfiles is the text report's profiles section.
func writeProfiles(w io.Writer, r *Result) {
	if len(r.Profiles) == 0 {
		return
	}
	fmt.Fprintln(w, "\nprofiles")
	for _, s := range r.Profiles {
		file := s.File
		if file == "" {
			file = "(not written)"
		}
		fmt.Fprintf(w, "  %s of the %s, %s: %s\n", s.Kind, s.Of, s.How, file)
		if s.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", s.Note)
		}
		if s.Total == 0 {
			continue
		}
		fmt.Fprintf(w, "    total %s %s", FormatProfileValue(s.Total, s.Unit), s.SampleType)
		for _, rm := range s.Rooms {
			fmt.Fprintf(w, " · %s %.1f%%", rm.Room, rm.Pct)
		}
		fmt.Fprintln(w)
		top := s.Flat
		if len(top) > 5 {
			top = top[:5]
		}
		for _, f := range top {
			fmt.Fprintf(w, "    flat %6.2f%%  cum %6.2f%%  %s\n", pctOf(f.Flat, s.Total), pctOf(f.Cum, s.Total), f.Name)
		}
	}
}

// DiffProfiles returns cur − base as go tool pprof -diff_base computes it:
// base is copied, labelled pprof::base (so pprof shows percentages of the
// base), scaled by −1 and merged with cur. With normalize, cur is first
// scaled so that its total matches base's (pprof's -normalize).
func DiffProfiles(base, cur *profile.Profile, normalize bool) (*profile.Profile, error) {
	b, c := base.Copy(), cur.Copy()
	b.SetLabel("pprof::base", []string{"true"})
	if normalize {
		if err := c.Normalize(b); err != nil {
			return nil, fmt.Errorf("normalize: %w", err)
		}
	}
	b.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{c, b})
	if err != nil {
		return nil, fmt.Errorf("the profiles cannot be compared: %w", err)
	}
	if err := d.CheckValid(); err != nil {
		return nil, err
	}
	return d, nil
}

// ProfileDelta is one function's change between two profiles.
type ProfileDelta struct {
	Name                 string
	Base, New, Delta     int64 // flat
	BaseCum, NewCum, Cum int64 // cumulative
}

// CompareProfiles ranks the functions of cur − base (DiffProfiles) by their
// flat change, largest growth first, with their flat and cumulative values
// in either profile; idx picks the sample value in both. It returns the base
// total, which pprof's diff percentages are relative to.
func CompareProfiles(base, cur *profile.Profile, idx int, normalize bool) ([]ProfileDelta, int64, error) {
	d, err := DiffProfiles(base, cur, normalize)
	if err != nil {
		return nil, 0, err
	}
	cb := cur
	if normalize {
		cb = cur.Copy()
		cb.Normalize(base)
	}
	dFlat, dCum, _ := Tops(d, idx, 0)
	bFlat, bCum, baseTotal := Tops(base, idx, 0)
	nFlat, nCum, _ := Tops(cb, idx, 0)
	get := func(fs []ProfileFunc, cum bool) map[string]int64 {
		m := map[string]int64{}
		for _, f := range fs {
			if cum {
				m[f.Name] = f.Cum
			} else {
				m[f.Name] = f.Flat
			}
		}
		return m
	}
	df, dc, bf, bc, nf, nc := get(dFlat, false), get(dCum, true), get(bFlat, false), get(bCum, true), get(nFlat, false), get(nCum, true)
	names := map[string]bool{}
	for n := range dc {
		names[n] = true
	}
	for n := range df {
		names[n] = true
	}
	var out []ProfileDelta
	for n := range names {
		out = append(out, ProfileDelta{Name: n, Base: bf[n], New: nf[n], Delta: df[n], BaseCum: bc[n], NewCum: nc[n], Cum: dc[n]})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Delta != out[b].Delta {
			return out[a].Delta > out[b].Delta
		}
		if out[a].Cum != out[b].Cum {
			return out[a].Cum > out[b].Cum
		}
		return out[a].Name < out[b].Name
	})
	return out, baseTotal, nil
}

// WriteProfileDiff writes the functions that grew most (flat), then those
// that shrank most, n of each, with changes as a share of the base total.
func WriteProfileDiff(w io.Writer, ds []ProfileDelta, baseTotal int64, unit string, n int) error {
	ew := &errWriter{w: w}
	signed := func(v int64) string {
		if v > 0 {
			return "+" + FormatProfileValue(v, unit)
		}
		return FormatProfileValue(v, unit)
	}
	row := func(d ProfileDelta) {
		fmt.Fprintf(ew, "  %10s %+8.2f%%  %10s → %-10s  cum %10s  %s\n", signed(d.Delta), pctOf(d.Delta, baseTotal),
			FormatProfileValue(d.Base, unit), FormatProfileValue(d.New, unit), signed(d.Cum), d.Name)
	}
	fmt.Fprintf(ew, "grew (flat change, %% of the base total %s):\n", FormatProfileValue(baseTotal, unit))
	k := 0
	for _, d := range ds {
		if d.Delta <= 0 || k == n {
			break
		}
		row(d)
		k++
	}
	if k == 0 {
		fmt.Fprintln(ew, "  (no function grew)")
	}
	fmt.Fprintln(ew, "shrank:")
	k = 0
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Delta >= 0 || k == n {
			break
		}
		row(ds[i])
		k++
	}
	if k == 0 {
		fmt.Fprintln(ew, "  (no function shrank)")
	}
	return ew.err
}

// EncodeProfile writes p as go tool pprof reads it (gzipped protobuf).
func EncodeProfile(p *profile.Profile) ([]byte, error) {
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
