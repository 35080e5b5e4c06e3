//go:build unix && !linux

package engine

// adviseHuge does nothing where there are no transparent huge pages.
func adviseHuge([]byte) {}
