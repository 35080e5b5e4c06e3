package chaos

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct{ name, in, want, err string }{
		{name: "instant kill", in: "kill at=30s", want: "kill at=30s"},
		{name: "a window with parameters, sorted", in: "latency at=1m duration=30s latency=200ms jitter=20ms", want: "latency at=1m0s duration=30s jitter=20ms latency=200ms"},
		{name: "duration=0 is an instant", in: "kill at=1s duration=0s", want: "kill at=1s"},
		{name: "at is required", in: "kill", err: "at=DURATION is required"},
		{name: "negative at", in: "kill at=-1s", err: "want a duration >= 0"},
		{name: "bad kind", in: "Kill! at=1s", err: "kind must be"},
		{name: "no value", in: "kill at=1s restart", err: "want key=value"},
		{name: "at twice", in: "kill at=1s at=2s", err: "at given twice"},
		{name: "param twice", in: "latency at=1s latency=1ms latency=2ms", err: "latency given twice"},
		{name: "quote in a value", in: `latency at=1s latency="1ms"`, err: "without spaces, quotes"},
		{name: "empty", in: " ", err: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpec(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || s.String() != tc.want {
				t.Fatalf("%q → %q, %v; want %q", tc.in, s, err, tc.want)
			}
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"kill at=30s", "latency at=1m duration=30s latency=200ms jitter=20ms", "crashloop at=1s duration=5s every=1s", "herd at=0s duration=1h clients=1000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			return
		}
		again, err := ParseSpec(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("%q → %q → %+v, %v", in, s, again, err)
		}
		Validate(s) // must not panic on any parameters
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ name, in, key, err string }{
		{name: "unknown kind", in: "melt at=1s", key: "kind", err: "unknown fault kind"},
		{name: "a window needs a duration", in: "latency at=1s", key: "duration", err: "needs a duration"},
		{name: "an instant takes none", in: "corrupt_wal at=1s duration=1s", key: "duration", err: "is instant"},
		{name: "unknown parameter", in: "latency at=1s duration=1s lag=3ms", key: "params.lag", err: "unknown parameter of latency (have latency, jitter, stream)"},
		{name: "bad probability", in: "reset at=1s duration=1s prob=2", key: "params.prob", err: "probability"},
		{name: "bad size", in: "memory at=1s duration=1s bytes=lots", key: "params.bytes", err: "512MiB"},
		{name: "bad disk ops", in: "disk_error at=1s duration=1s ops=burn", key: "params.ops", err: "unknown op"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpec(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Validate(s)
			var se *SpecError
			if !errors.As(err, &se) || se.Key != tc.key || !strings.Contains(se.Msg, tc.err) {
				t.Fatalf("err %v, want %s: %q", err, tc.key, tc.err)
			}
		})
	}
	s, _ := ParseSpec("latency at=1s duration=2s")
	_, p, err := Validate(s)
	if err != nil || p["latency"] != "100ms" || p["jitter"] != "0s" || p["stream"] != "downstream" {
		t.Errorf("defaults %v %v", p, err)
	}
	// Every registered kind builds from its defaults when its needs are met.
	for _, k := range Kinds() {
		s := Spec{Kind: k.Name, At: time.Second}
		if k.Duration == "required" {
			s.Duration = time.Second
		}
		if _, _, err := Validate(s); err != nil {
			t.Errorf("%s with defaults: %v", k.Name, err)
		}
		if _, _, err := Build(s, &Env{}, 0); err == nil || !strings.Contains(err.Error(), "needs") {
			t.Errorf("%s on an empty Env: %v, want a missing-needs error", k.Name, err)
		}
	}
}

func TestFromScenario(t *testing.T) {
	const base = "name = \"x\"\n[duration]\ntotal_seconds = 20\n[arrival]\npattern = \"constant\"\nrate = 10.0\n[operations]\nstore_weight = 1.0\n"
	for _, tc := range []struct{ name, toml, err string }{
		{name: "a valid schedule", toml: "[[chaos.faults]]\nkind = \"kill\"\nat = \"5s\"\n\n[[chaos.faults]]\nkind = \"latency\"\nat = \"8s\"\nduration = \"2s\"\nparams = { latency = \"50ms\", jitter = \"5ms\" }\n"},
		{name: "an unknown parameter names its line", toml: "[[chaos.faults]]\nkind = \"kill\"\nat = \"5s\"\n\n[[chaos.faults]]\nkind = \"latency\"\nat = \"8s\"\nduration = \"2s\"\nparams = { lag = \"50ms\" }\n",
			err: "x.toml:17: chaos.faults[1].params.lag: unknown parameter of latency"},
		{name: "a fault past the end of the run", toml: "[[chaos.faults]]\nkind = \"pause\"\nat = \"15s\"\nduration = \"10s\"\n", err: "x.toml:12: chaos.faults[0].duration: the fault ends at 25s, after the measured run (20s)"},
		{name: "an unknown kind", toml: "[[chaos.faults]]\nkind = \"melt\"\nat = \"1s\"\n", err: "x.toml:10: chaos.faults[0].kind: unknown fault kind"},
		{name: "a bad at (workloads' own check)", toml: "[[chaos.faults]]\nkind = \"kill\"\nat = \"soon\"\n", err: "x.toml:11: chaos.faults[0].at: must be a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := workloads.Parse("x.toml", []byte(base+tc.toml))
			if err == nil {
				_, err = FromScenario(sc, 20*time.Second)
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				specs, _ := FromScenario(sc, 20*time.Second)
				if len(specs) != 2 || specs[1].String() != "latency at=8s duration=2s jitter=5ms latency=50ms" {
					t.Errorf("specs %v", specs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	// enabled = false keeps the schedule off (a baseline of the same file).
	sc, err := workloads.Parse("x.toml", []byte(base+"[chaos]\nenabled = false\n[[chaos.faults]]\nkind = \"kill\"\nat = \"5s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if specs, err := FromScenario(sc, 0); err != nil || specs != nil {
		t.Errorf("disabled: %v %v", specs, err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "1GiB": 1 << 30, "1.5KB": 1500, "4096": 4096, "2B": 2} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%s → %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1MiB", "lots", "2TiB", "0"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
