package drivers

import "fmt"

// PreloadMode says which shards of a sharded run store the scenario's
// initial memories before measuring.
//
// What an operator expects: N shards against one shared target (a server)
// load its data once — shard 0 does it, the others would only store the same
// memories N times over — while N shards that each run their own in-process
// engine (the embedded driver) each need the data in their own engine, or
// every read of a preloaded memory would miss. PreloadAuto does exactly
// that, from the driver's Meta.InProcess.
type PreloadMode string

// Preload modes.
const (
	PreloadAuto  PreloadMode = ""       // every shard for an in-process driver, else shard 0 only
	PreloadFirst PreloadMode = "shard0" // shard 0 only (a shared target)
	PreloadAll   PreloadMode = "all"    // every shard (a target per shard)
	PreloadNone  PreloadMode = "none"   // no shard: the target already holds the data
)

// ParsePreloadMode reads the --preload flag: auto, shard0, all or none.
func ParsePreloadMode(s string) (PreloadMode, error) {
	switch PreloadMode(s) {
	case "auto", PreloadAuto:
		return PreloadAuto, nil
	case PreloadFirst, PreloadAll, PreloadNone:
		return PreloadMode(s), nil
	}
	return "", fmt.Errorf("preload mode %q: want auto, shard0, all or none", s)
}

// Applies reports whether shard preloads with driver under m, and the mode
// that decided it (PreloadAuto resolved to PreloadAll or PreloadFirst).
func (m PreloadMode) Applies(driver string, shard int) (bool, PreloadMode, error) {
	if m == PreloadAuto {
		m = PreloadFirst
		if meta, ok := lookup(driver); ok && meta.InProcess {
			m = PreloadAll
		}
	}
	switch m {
	case PreloadFirst:
		return shard == 0, m, nil
	case PreloadAll:
		return true, m, nil
	case PreloadNone:
		return false, m, nil
	}
	return false, m, fmt.Errorf("preload mode %q: want auto, shard0, all or none", string(m))
}
