package reports

import (
	"bytes"
	"strings"
	"testing"
)

func chaosResult() *Result {
	r := &Result{Schema: Schema, Scenario: "chaos_kill", Driver: "engram", Verdict: VerdictFail, Ops: map[string]OpStats{}}
	h := 0.17
	r.Windows = []Window{{Kind: WindowFault, Name: "kill at=4s", StartS: 4, EndS: 4.02}}
	r.Chaos = &ChaosResult{
		Target:  "engramd owned by the harness",
		Verdict: VerdictFail,
		Reasons: []string{"read-back: 2 lost, 0 corrupted, 0 unexpected of 100 acknowledged writes (0 reads failed)"},
		Faults: []FaultResult{{Spec: "kill at=4s", Kind: "kill", Class: "process", StartS: 4, EndS: 4.02,
			Before:         WindowStats{Count: 800, Errors: 0, Availability: 1, Latency: Percentiles{P99: 11_600_000}},
			During:         WindowStats{Count: 3, Errors: 3, Availability: 0, ErrorsByClass: map[string]int64{"connection_refused": 3}},
			After:          WindowStats{Count: 1000, Errors: 60, Availability: 0.94, Latency: Percentiles{P99: 52_400_000}},
			RecoverHealthS: &h, Notes: []string{"restarted in 173ms"}}},
		ErrorBudget: &ErrorBudget{MaxErrorRate: 0.1, Allowed: 100, Spent: 63, Consumed: 0.63},
		Check:       &CheckStats{Writes: 120, Acknowledged: 100, Intact: 98, Lost: 2, LostExamples: []string{"default/m7", "default/m9"}},
	}
	return r
}

// The chaos section in every human format: faults with their windows and
// recovery, the budget, the read-back and why the drill failed.
func TestChaosRendering(t *testing.T) {
	r := chaosResult()
	var text, md, html bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "html": html.String()} {
		for _, want := range []string{"kill at=4s", "100.0% of 800", "0.0% of 3", "94.0% of 1000", "0.17s", "restarted in 173ms",
			"98 intact, 2 lost", "2 lost, 0 corrupted", "63 of 100 allowed failed ops spent (63%)", "connection_refused × 3"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if !strings.Contains(text.String(), "chaos: FAIL") || !strings.Contains(text.String(), "lost, e.g.: default/m7 default/m9") {
		t.Errorf("text:\n%s", text.String())
	}
	if !strings.Contains(html.String(), "band-fault") {
		t.Error("the HTML has no fault window key")
	}
	// A result without chaos renders no chaos section.
	r.Chaos = nil
	text.Reset()
	WriteText(&text, r)
	if strings.Contains(text.String(), "chaos:") {
		t.Error("chaos section without a chaos result")
	}
}

// The chaos result survives the JSON round trip.
func TestChaosJSONRoundTrip(t *testing.T) {
	r := chaosResult()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Decode("r.json", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Chaos == nil || got.Chaos.Check.Lost != 2 || got.Chaos.Faults[0].After.Availability != 0.94 || *got.Chaos.Faults[0].RecoverHealthS != 0.17 {
		t.Errorf("%+v", got.Chaos)
	}
}
