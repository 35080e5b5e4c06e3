package reports

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Window and mark kinds of a disaster-recovery drill.
const (
	WindowBackup   = "backup"   // an online backup was being taken
	WindowOutage   = "outage"   // from the disaster until the restored server answered health
	WindowRecovery = "recovery" // from health until the workload was back within its targets

	MarkDisaster  = "disaster"  // the data directory was destroyed
	MarkHealthy   = "healthy"   // the restored server answered /health
	MarkRecovered = "recovered" // the workload was back within its targets (the end of the RTO)
)

// Mark is an instant of the measured run worth marking on timelines: AtS is
// seconds from the start of measuring (like Window.StartS).
type Mark struct {
	Kind string  `json:"kind"`
	Name string  `json:"name"`
	AtS  float64 `json:"at_s"`
}

// Drill is the account of a disaster-recovery drill
// (docs/disaster-recovery.md): the backups taken under load, the disaster,
// the restore and restart, and what the restored server holds. Times named
// …S are seconds from the start of measuring; …At are wall times.
type Drill struct {
	Backups  []DrillBackup `json:"backups"`
	Disaster DrillDisaster `json:"disaster"`
	Recovery DrillRecovery `json:"recovery"`
	Data     DrillData     `json:"data"`
}

// DrillBackup is one scheduled backup.
type DrillBackup struct {
	Kind string  `json:"kind"`  // "full" or "incremental"
	DueS float64 `json:"due_s"` // when the schedule asked for it
	// StartS and EndS bracket the request; CheckpointS is its consistent
	// point (no write begun after it is in the backup).
	StartS       float64   `json:"start_s"`
	EndS         float64   `json:"end_s"`
	CheckpointS  float64   `json:"checkpoint_s"`
	StartedAt    time.Time `json:"started_at"`
	CheckpointAt time.Time `json:"checkpoint_at"`
	ID           string    `json:"id,omitempty"`
	ChainLength  int       `json:"chain_length,omitempty"`
	Memories     int       `json:"memories"`
	Files        int       `json:"files"`
	CopiedBytes  int64     `json:"copied_bytes"`
	TotalBytes   int64     `json:"total_bytes"`
	Dir          string    `json:"dir,omitempty"`
	// Error says why the backup failed (it is then not restorable).
	Error string `json:"error,omitempty"`
}

// DrillDisaster is what was destroyed.
type DrillDisaster struct {
	AtS float64   `json:"at_s"`
	At  time.Time `json:"at"`
	// How: the process was killed (SIGKILL) and its data directory deleted.
	How            string `json:"how"`
	DataDir        string `json:"data_dir"`
	DestroyedBytes int64  `json:"destroyed_bytes"`
}

// DrillRecovery is the way back: restore, restart, health, targets.
type DrillRecovery struct {
	// Backup is the id of the backup restored (the newest complete chain's
	// last link) and Chain its chain's ids, full backup first.
	Backup string   `json:"backup,omitempty"`
	Chain  []string `json:"chain,omitempty"`
	// BackupAgeS is how old the restored backup's consistent point was at
	// the disaster.
	BackupAgeS float64 `json:"backup_age_s"`
	// RestoreS is how long `engramd restore` took (verify and copy);
	// StartS how long the restored engramd took to answer (opening the store).
	RestoreS float64 `json:"restore_s"`
	StartS   float64 `json:"start_s"`
	// HealthyS is when /health answered on the restored server; RecoveredS
	// when the workload was back within its targets (nil: not within the
	// run). RTOS is RecoveredS − the disaster.
	HealthyS   *float64 `json:"healthy_s,omitempty"`
	RecoveredS *float64 `json:"recovered_s,omitempty"`
	RTOS       *float64 `json:"rto_s,omitempty"`
	// Refused lists the newer backups whose restore was refused (corrupt,
	// incomplete chain), newest first, each as "id: reason": the drill then
	// restored the next older one, as an operator would.
	Refused []string `json:"refused,omitempty"`
	// Criteria says what "within its targets" meant.
	Criteria string `json:"criteria"`
	// Error says why the recovery failed.
	Error string `json:"error,omitempty"`
}

// DrillData is the read-back of every acknowledged memory from the restored
// server. RPO in memories is Lost; RPO in seconds is NewestSurvivorAgeS.
type DrillData struct {
	// Acknowledged counts memories acknowledged before the disaster
	// (preloaded ones included); Present those the restored server holds
	// intact; Lost those it does not hold.
	Acknowledged int64 `json:"acknowledged"`
	Present      int64 `json:"present"`
	Lost         int64 `json:"lost"`
	// LostBackedUp counts lost memories acknowledged before the restored
	// backup began: they were in the backup, so it or the restore lost them.
	LostBackedUp int64 `json:"lost_backed_up"`
	// Corrupt counts memories present with other content or confidence than
	// written (content checksums differ).
	Corrupt int64 `json:"corrupt"`
	// Unexpected counts memories whose write began after the restored
	// backup's consistent point (and before the disaster) that are present
	// anyway; CheckedAbsent is how many such writes were checked.
	Unexpected    int64 `json:"unexpected"`
	CheckedAbsent int64 `json:"checked_absent"`
	// ReadErrors counts reads that failed (neither found nor not found).
	ReadErrors int64 `json:"read_errors"`
	// NewestSurvivorAgeS is the data-loss window: from the acknowledgement
	// of the newest memory that survived to the disaster, seconds. When
	// none survived it is OldestLostAgeS: the loss reaches back to the
	// oldest acknowledged memory.
	NewestSurvivorAgeS float64   `json:"newest_survivor_age_s"`
	NewestSurvivorAt   time.Time `json:"newest_survivor_at"`
	// OldestLostAgeS is how long before the disaster the oldest lost memory
	// was acknowledged (0 when none was lost).
	OldestLostAgeS float64 `json:"oldest_lost_age_s"`
	// Examples name up to 10 memories of each kind of problem (space/id).
	LostExamples       []string `json:"lost_examples,omitempty"`
	CorruptExamples    []string `json:"corrupt_examples,omitempty"`
	UnexpectedExamples []string `json:"unexpected_examples,omitempty"`
	// CheckS is how long the read-back took.
	CheckS float64 `json:"check_s"`
}

// AddTargets appends targets and, unless the verdict is already invalid,
// makes it FAIL with a reason for each that missed. why, when set, gives a
// missed target's reason instead of the standard one.
func (r *Result) AddTargets(why map[string]string, ts ...Target) {
	r.Targets = append(r.Targets, ts...)
	if r.Verdict == VerdictInvalid {
		return
	}
	for _, t := range ts {
		if t.Pass {
			continue
		}
		r.Verdict = VerdictFail
		if w := why[t.Name]; w != "" {
			r.Reasons = append(r.Reasons, w)
		} else {
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s %s above target %s", t.Name, fmtNum(round3(t.Achieved)), t.Unit, fmtNum(t.Target)))
		}
	}
	if r.Verdict == "" {
		r.Verdict = VerdictPass
	}
}

func optSecs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fs", *p)
}

// DrillTimeline lists the drill's events in order, one line each, for the
// text and Markdown reports.
func (d *Drill) Timeline() []string {
	var out []string
	for _, b := range d.Backups {
		if b.Error != "" {
			out = append(out, fmt.Sprintf("%6.1fs  %s backup FAILED: %s", b.StartS, b.Kind, b.Error))
			continue
		}
		out = append(out, fmt.Sprintf("%6.1fs  %s backup %s (chain of %d): %d memories, %s copied of %s, consistent at %.1fs, done at %.1fs",
			b.StartS, b.Kind, b.ID, b.ChainLength, b.Memories, FormatBytes(b.CopiedBytes), FormatBytes(b.TotalBytes), b.CheckpointS, b.EndS))
	}
	out = append(out, fmt.Sprintf("%6.1fs  DISASTER: %s (%s destroyed)", d.Disaster.AtS, d.Disaster.How, FormatBytes(d.Disaster.DestroyedBytes)))
	rc := d.Recovery
	for _, r := range rc.Refused {
		out = append(out, "        restore REFUSED: "+r)
	}
	if rc.Backup != "" {
		out = append(out, fmt.Sprintf("%6.1fs  restored %s (chain of %d, %.1fs old) in %.2fs; engramd answered %.2fs after its start",
			d.Disaster.AtS+rc.RestoreS, rc.Backup, len(rc.Chain), rc.BackupAgeS, rc.RestoreS, rc.StartS))
	}
	if rc.HealthyS != nil {
		out = append(out, fmt.Sprintf("%6.1fs  healthy: /health answers", *rc.HealthyS))
	}
	if rc.RecoveredS != nil {
		out = append(out, fmt.Sprintf("%6.1fs  RECOVERED: the workload is back within its targets (%s)", *rc.RecoveredS, rc.Criteria))
	} else {
		out = append(out, fmt.Sprintf("        not recovered within the run (%s)", rc.Criteria))
	}
	if rc.Error != "" {
		out = append(out, "        recovery error: "+rc.Error)
	}
	return out
}

// writeDrillText writes the drill section of the text report.
func writeDrillText(w io.Writer, r *Result) {
	d := r.Drill
	if d == nil {
		return
	}
	fmt.Fprintln(w, "\ndisaster-recovery drill")
	for _, l := range d.Timeline() {
		fmt.Fprintln(w, "  "+l)
	}
	rc, dt := d.Recovery, d.Data
	rto := "not reached"
	if rc.RTOS != nil {
		rto = optSecs(rc.RTOS)
	}
	fmt.Fprintf(w, "  RTO %s: restore %.2fs + start %.2fs, healthy at +%s, within targets at +%s\n",
		rto, rc.RestoreS, rc.StartS, optSecsSince(rc.HealthyS, d.Disaster.AtS), optSecsSince(rc.RecoveredS, d.Disaster.AtS))
	fmt.Fprintf(w, "  RPO %.1fs, %d memories: of %d acknowledged before the disaster, %d restored intact, %d lost (acknowledged in the last %.1fs)\n",
		dt.NewestSurvivorAgeS, dt.Lost, dt.Acknowledged, dt.Present, dt.Lost, dt.OldestLostAgeS)
	fmt.Fprintf(w, "  integrity: %d corrupt, %d lost though backed up, %d written after the backup yet restored (of %d checked), %d read errors; read-back took %.1fs\n",
		dt.Corrupt, dt.LostBackedUp, dt.Unexpected, dt.CheckedAbsent, dt.ReadErrors, dt.CheckS)
	for _, ex := range []struct {
		what string
		ids  []string
	}{{"lost", dt.LostExamples}, {"corrupt", dt.CorruptExamples}, {"unexpected", dt.UnexpectedExamples}} {
		if len(ex.ids) > 0 {
			fmt.Fprintf(w, "  %s, e.g.: %s\n", ex.what, strings.Join(ex.ids, ", "))
		}
	}
}

func optSecsSince(p *float64, from float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fs", *p-from)
}

// writeDrillMarkdown writes the drill section of the Markdown report.
func writeDrillMarkdown(w io.Writer, r *Result) {
	d := r.Drill
	if d == nil {
		return
	}
	rc, dt := d.Recovery, d.Data
	fmt.Fprintln(w, "#### Disaster-recovery drill")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| RTO (disaster → within targets) | %s |\n", optSecs(rc.RTOS))
	fmt.Fprintf(w, "| restore · start · healthy after | %.2fs · %.2fs · %s |\n", rc.RestoreS, rc.StartS, optSecsSince(rc.HealthyS, d.Disaster.AtS))
	fmt.Fprintf(w, "| RPO (newest survivor's age) | %.1fs |\n", dt.NewestSurvivorAgeS)
	fmt.Fprintf(w, "| acknowledged memories lost | %d of %d |\n", dt.Lost, dt.Acknowledged)
	fmt.Fprintf(w, "| corrupt · lost though backed up · unexpected | %d · %d · %d |\n", dt.Corrupt, dt.LostBackedUp, dt.Unexpected)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<details><summary>timeline</summary>")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	for _, l := range d.Timeline() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "</details>")
	fmt.Fprintln(w)
}
