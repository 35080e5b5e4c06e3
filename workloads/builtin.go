package workloads

import (
	"embed"
	"path"
	"sort"
	"strings"
)

//go:embed scenarios/*.toml
var builtinFS embed.FS

// BuiltinNames lists the built-in scenarios: quickstart and Engram's seven
// loadtest scenarios, by file name without ".toml".
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	sort.Strings(names)
	return names
}

// IsBuiltin reports whether name is a built-in scenario.
func IsBuiltin(name string) bool {
	_, err := builtinFS.ReadFile(path.Join("scenarios", name+".toml"))
	return err == nil && !strings.ContainsAny(name, "/.")
}

// BuiltinText returns the TOML text of a built-in scenario.
func BuiltinText(name string) ([]byte, bool) {
	if strings.ContainsAny(name, "/.") {
		return nil, false
	}
	b, err := builtinFS.ReadFile(path.Join("scenarios", name+".toml"))
	return b, err == nil
}

// LoadBuiltin parses the built-in scenario called name.
func LoadBuiltin(name string) (*Scenario, error) {
	b, ok := BuiltinText(name)
	if !ok {
		return nil, &SpecError{File: "builtin:" + name, Msg: "no such built-in scenario (have " + strings.Join(BuiltinNames(), ", ") + ")"}
	}
	sc, err := Parse("builtin:"+name, b)
	if err != nil {
		return nil, err
	}
	return sc, nil
}
