package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Renderer writes a Result in one output format.
type Renderer func(w io.Writer, r *Result) error

// FormatMeta describes a registered output format.
type FormatMeta struct {
	Name   string
	Help   string
	Render Renderer
}

var (
	formatsMu sync.RWMutex
	formats   = map[string]FormatMeta{}
)

// RegisterFormat adds an output format for `engram-bench report --format`.
// A duplicate name panics.
func RegisterFormat(m FormatMeta) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[m.Name]; dup {
		panic("reports: format " + m.Name + " registered twice")
	}
	formats[m.Name] = m
}

// Formats lists the registered formats, sorted by name.
func Formats() []FormatMeta {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	out := make([]FormatMeta, 0, len(formats))
	for _, m := range formats {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Render writes r in the named format.
func Render(format string, w io.Writer, r *Result) error {
	formatsMu.RLock()
	m, ok := formats[format]
	formatsMu.RUnlock()
	if !ok {
		var names []string
		for _, f := range Formats() {
			names = append(names, f.Name)
		}
		return fmt.Errorf("unknown format %q (have %s)", format, strings.Join(names, ", "))
	}
	return m.Render(w, r)
}

func init() {
	RegisterFormat(FormatMeta{Name: "text", Help: "the human summary printed after a run", Render: WriteText})
	RegisterFormat(FormatMeta{Name: "json", Help: "the result itself (schema " + Schema + ")", Render: func(w io.Writer, r *Result) error { return r.WriteJSON(w) }})
}
