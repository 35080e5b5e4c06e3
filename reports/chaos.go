package reports

// ChaosResult is what a chaos drill did and proved: the faults it injected
// and how the target fared around each, the error budget, and the read-back
// of every acknowledged write. Result.Chaos holds it; nil for a run without
// faults.
type ChaosResult struct {
	// Target says what the faults hit ("engramd owned by the harness, sync").
	Target string `json:"target"`
	// Faults are the scheduled faults, in schedule order.
	Faults []FaultResult `json:"faults"`
	// ErrorBudget is the run's error budget and how much of it was spent;
	// nil when the scenario sets none.
	ErrorBudget *ErrorBudget `json:"error_budget,omitempty"`
	// Check is the read-back of every write after recovery; nil when the
	// drill does not check (chaos.check = false) or could not.
	Check *CheckStats `json:"check,omitempty"`
	// CheckSkipped says why there is no Check.
	CheckSkipped string `json:"check_skipped,omitempty"`
	// Verdict is "pass" or "fail" (the run's verdict is failed with it);
	// Reasons say why it failed.
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons,omitempty"`
	// Spill is the file of writes and outcomes the check read (when kept).
	Spill string `json:"spill,omitempty"`
}

// FaultResult is one fault of the schedule: when it was active and how the
// target behaved before, during and after it.
type FaultResult struct {
	// Spec is the fault's text form ("kill at=10s restart_after=1s").
	Spec  string `json:"spec"`
	Kind  string `json:"kind"`
	Class string `json:"class"` // network, process, disk, data, resources, herd
	// StartS and EndS are when it was injected and healed, seconds from the
	// start of measuring (EndS = StartS for an instant fault such as kill).
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	// InjectError and HealError are set when injecting or healing failed.
	InjectError string `json:"inject_error,omitempty"`
	HealError   string `json:"heal_error,omitempty"`
	// Notes say what happened along the way (restarts, refusals, counts).
	Notes []string `json:"notes,omitempty"`
	// Before, During and After split the ops by intended start: Before
	// from the previous fault's heal (or the start) to the injection,
	// During while it was active, After from the heal for as long as it
	// lasted (at least 5 s), cut at the next fault or the end.
	Before WindowStats `json:"before"`
	During WindowStats `json:"during"`
	After  WindowStats `json:"after"`
	// RecoverHealthS is the time from the heal until the target's health
	// check answered 200; nil when it has no health check or never did.
	RecoverHealthS *float64 `json:"recover_health_s,omitempty"`
	// RecoverP99S is the time from the heal to the end of the first
	// interval starting at or after the heal whose p99 (the largest among
	// op kinds) was back under P99TargetMs with no errors, in seconds; nil
	// when it never was. Its resolution is the run's interval: 1 s in runs
	// up to an hour, TicksPerInterval ticks in longer ones (24 s in a
	// 24-hour run); it is at least one interval and up to two over the
	// true recovery.
	RecoverP99S *float64 `json:"recover_p99_s,omitempty"`
	P99TargetMs float64  `json:"p99_target_ms,omitempty"`
	// Restarts counts engramd processes started because of this fault.
	Restarts int `json:"restarts,omitempty"`
	// Herd is set for a thundering-herd fault.
	Herd *HerdStats `json:"herd,omitempty"`
}

// WindowStats summarises the measured ops whose intended start fell in a
// window of the run.
type WindowStats struct {
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	// Availability is the share of ops that succeeded (1 when there were none).
	Availability  float64          `json:"availability"`
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	// Latency is end − intended start of the successful ops.
	Latency Percentiles `json:"latency_ns"`
}

// ErrorBudget is the share of ops a run may fail, and what it spent.
type ErrorBudget struct {
	// MaxErrorRate is the budget: the share of ops allowed to fail.
	MaxErrorRate float64 `json:"max_error_rate"`
	// Allowed is MaxErrorRate × the measured ops; Spent the failed ops.
	Allowed float64 `json:"allowed"`
	Spent   int64   `json:"spent"`
	// Consumed is Spent / Allowed (above 1: the budget is exhausted).
	Consumed  float64 `json:"consumed"`
	Exhausted bool    `json:"exhausted"`
}

// HerdStats is what a thundering herd of reconnecting clients met.
type HerdStats struct {
	Clients       int              `json:"clients"`
	OK            int              `json:"ok"`
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	// Latency of each client's first request, from the common start.
	Latency Percentiles `json:"latency_ns"`
	// AllDoneS is when the last client had its answer, from the heal.
	AllDoneS float64 `json:"all_done_s"`
}

// CheckStats is the read-back of every write after recovery: each memory
// whose store was acknowledged must be there with the content sent, each
// write the target refused must not be, and the target must hold no
// memories nobody sent.
type CheckStats struct {
	// Writes is the number of writes in the spill (every store and delete
	// sent, with its outcome).
	Writes int64 `json:"writes"`
	// Acknowledged counts memories with an acknowledged store (and no delete).
	Acknowledged int64 `json:"acknowledged"`
	// Intact, Lost and Corrupted split them: found with the content sent,
	// not found, found with other content.
	Intact    int64 `json:"intact"`
	Lost      int64 `json:"lost"`
	Corrupted int64 `json:"corrupted"`
	// Unexpected counts memories that should not be there: RejectedPresent
	// (writes the target refused, yet stored) plus Extra (memories beyond
	// every write sent, from the target's per-space counts).
	Unexpected      int64 `json:"unexpected"`
	RejectedPresent int64 `json:"rejected_present"`
	Extra           int64 `json:"extra"`
	// Indeterminate counts memories whose every store went unanswered
	// (timeout, reset, 5xx): either outcome is correct;
	// IndeterminatePresent of them were stored.
	Indeterminate        int64 `json:"indeterminate"`
	IndeterminatePresent int64 `json:"indeterminate_present"`
	// Deleted counts memories a delete was sent for (not checked).
	Deleted int64 `json:"deleted,omitempty"`
	// ReadErrors counts read-backs that failed three times: those memories
	// have no verdict, and the check is incomplete.
	ReadErrors int64 `json:"read_errors"`
	// Examples name up to 10 memories of each problem, "space/id".
	LostExamples       []string `json:"lost_examples,omitempty"`
	CorruptedExamples  []string `json:"corrupted_examples,omitempty"`
	UnexpectedExamples []string `json:"unexpected_examples,omitempty"`
	// Truncated is set when the spill's last record was cut short.
	Truncated bool `json:"truncated,omitempty"`
	// DurationS is how long the read-back took; Target what it read.
	DurationS float64 `json:"duration_s"`
	Target    string  `json:"target"`
	// LossAllowed is set when a fault destroyed stored data on purpose (a
	// corrupted WAL tail): lost writes are then reported, not failed.
	LossAllowed bool `json:"loss_allowed,omitempty"`
}

// OK reports whether the check found nothing wrong: no lost (unless
// allowed), corrupted or unexpected memory and no failed read-back.
func (c *CheckStats) OK() bool {
	return (c.Lost == 0 || c.LossAllowed) && c.Corrupted == 0 && c.Unexpected == 0 && c.ReadErrors == 0
}
