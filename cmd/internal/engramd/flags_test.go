package engramd

import (
	"io"
	"testing"

	"github.com/engram-bench/engram-bench/engine"
)

// The index flags reach the engine's options; their defaults are the
// engine's.
func TestIndexFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (engine.IndexOptions{M: engine.DefaultIndexM, EfConstruction: engine.DefaultEfConstruction, EfSearch: engine.DefaultEfSearch}); c.index != want {
		t.Errorf("defaults %+v, want %+v", c.index, want)
	}
	c, err = parseFlags([]string{"--index-m", "24", "--ef-construction", "256", "--ef-search", "200"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (engine.IndexOptions{M: 24, EfConstruction: 256, EfSearch: 200}); c.index != want {
		t.Errorf("index options %+v, want %+v", c.index, want)
	}
}
