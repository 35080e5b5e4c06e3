package recovery

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// finish measures RTO and RPO, checks the restored data, and writes the
// drill into the result: its section, windows, marks, targets and verdict.
func (dr *drill) finish(ctx context.Context, res *reports.Result) {
	st := &dr.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d := &reports.Drill{Backups: st.backups, Disaster: st.disaster, Recovery: st.recovery}
	if d.Backups == nil {
		d.Backups = []reports.DrillBackup{}
	}
	res.Drill = d
	crit := criteriaOf(dr.sc)
	d.Recovery.Criteria = crit.String()
	v := dr.sc.Validation

	// The whole run's latency and error targets do not apply: an outage is
	// the point of a drill. They judge each recovery window instead.
	res.Evaluate(reports.Limits{})

	for _, b := range d.Backups {
		if b.Error == "" {
			res.Windows = append(res.Windows, reports.Window{Kind: reports.WindowBackup, Name: b.Kind + " backup", StartS: b.StartS, EndS: b.EndS})
		}
	}
	res.Warnings = append(res.Warnings, backupWarnings(dr.spec.Backups(), d.Backups, st.hit, d.Disaster.AtS)...)
	if !st.hit {
		res.Verdict = reports.VerdictInvalid
		res.Reasons = append(res.Reasons, "the disaster never happened: the run ended first")
		return
	}
	res.Marks = append(res.Marks, reports.Mark{Kind: reports.MarkDisaster, Name: "disaster", AtS: d.Disaster.AtS})
	runEnd := dr.measure.Add(time.Duration(res.DurationS * 1e9))
	targets := []reports.Target{}
	why := map[string]string{}

	// RTO.
	var recovered time.Time
	ok := false
	if !st.healthy.IsZero() {
		hs := dr.secs(st.healthy)
		d.Recovery.HealthyS = &hs
		res.Marks = append(res.Marks, reports.Mark{Kind: reports.MarkHealthy, Name: "healthy", AtS: hs})
		res.Windows = append(res.Windows, reports.Window{Kind: reports.WindowOutage, Name: "outage", StartS: d.Disaster.AtS, EndS: hs})
		dr.winMu.Lock()
		dr.trk.setHealthy(st.healthy) // already known unless the recovery raced the end
		recovered, ok = dr.trk.recovered()
		inexact := dr.trk.inexact
		dr.winMu.Unlock()
		if inexact {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the RTO may be late: more than %d windows closed between the restored server's first answer and the drill noting it, and the oldest of them were not judged", dr.trk.maxPending/2))
		}
	} else {
		res.Windows = append(res.Windows, reports.Window{Kind: reports.WindowOutage, Name: "outage", StartS: d.Disaster.AtS, EndS: dr.secs(runEnd)})
	}
	if ok {
		rs, rto := dr.secs(recovered), recovered.Sub(st.dAt).Seconds()
		d.Recovery.RecoveredS, d.Recovery.RTOS = &rs, &rto
		res.Marks = append(res.Marks, reports.Mark{Kind: reports.MarkRecovered, Name: "recovered", AtS: rs})
		if hs := *d.Recovery.HealthyS; rs > hs {
			res.Windows = append(res.Windows, reports.Window{Kind: reports.WindowRecovery, Name: "back to targets", StartS: hs, EndS: rs})
		}
		if v.ExpectedRTOS != nil {
			targets = append(targets, reports.Target{Name: "rto", Unit: "s", Target: *v.ExpectedRTOS, Achieved: rto, Pass: rto <= *v.ExpectedRTOS})
		}
	} else {
		// At least until the run ended, and until the restored server
		// answered when that came later.
		lower := runEnd.Sub(st.dAt).Seconds()
		if !st.healthy.IsZero() {
			lower = max(lower, st.healthy.Sub(st.dAt).Seconds())
		}
		if v.ExpectedRTOS != nil {
			targets = append(targets, reports.Target{Name: "rto", Unit: "s", Target: *v.ExpectedRTOS, Achieved: lower, Pass: false})
		}
		why["rto"] = fmt.Sprintf("rto: the workload was not back within its targets (%s) by the end of the run, %.1fs after the disaster", crit, runEnd.Sub(st.dAt).Seconds())
		if !st.healthy.IsZero() && st.healthy.After(runEnd) {
			why["rto"] += fmt.Sprintf("; the restored engramd answered only %.1fs after it", st.healthy.Sub(st.dAt).Seconds())
		}
		if v.ExpectedRTOS == nil {
			fail(res, why["rto"])
		}
	}
	for _, r := range d.Recovery.Refused {
		fail(res, "a backup was refused at restore, so an older one had to be restored: "+r)
	}
	if d.Recovery.Error != "" {
		fail(res, "recovery: "+d.Recovery.Error)
	}

	// RPO and integrity: read every acknowledged memory back.
	if !st.healthy.IsZero() && ctx.Err() == nil {
		t0 := time.Now()
		err := dr.readBack(ctx, res, &d.Data)
		d.Data.CheckS = time.Since(t0).Seconds()
		if err != nil {
			res.Verdict = reports.VerdictInvalid
			res.Reasons = append(res.Reasons, "the read-back check failed: "+err.Error())
		}
		dr.logf("read-back: %d acknowledged, %d intact, %d lost, %d corrupt, %d unexpected, in %.1fs",
			d.Data.Acknowledged, d.Data.Present, d.Data.Lost, d.Data.Corrupt, d.Data.Unexpected, d.Data.CheckS)
		if v.ExpectedRPOS != nil {
			none := d.Data.Present == 0 && d.Data.Lost > 0
			if none {
				why["rpo"] = fmt.Sprintf("rpo: no acknowledged memory survived: all %d were lost", d.Data.Lost)
			}
			targets = append(targets, reports.Target{Name: "rpo", Unit: "s", Target: *v.ExpectedRPOS, Achieved: d.Data.NewestSurvivorAgeS, Pass: !none && d.Data.NewestSurvivorAgeS <= *v.ExpectedRPOS})
		}
		targets = append(targets,
			reports.Target{Name: "corrupt_memories", Unit: "memories", Achieved: float64(d.Data.Corrupt), Pass: d.Data.Corrupt == 0},
			reports.Target{Name: "lost_backed_up", Unit: "memories", Achieved: float64(d.Data.LostBackedUp), Pass: d.Data.LostBackedUp == 0},
			reports.Target{Name: "unexpected_memories", Unit: "memories", Achieved: float64(d.Data.Unexpected), Pass: d.Data.Unexpected == 0},
		)
		why["corrupt_memories"] = fmt.Sprintf("%d restored memories are corrupt (e.g. %v)", d.Data.Corrupt, d.Data.CorruptExamples)
		why["lost_backed_up"] = fmt.Sprintf("%d memories acknowledged before the restored backup began are missing (e.g. %v): the backup or the restore lost them", d.Data.LostBackedUp, d.Data.LostExamples)
		why["unexpected_memories"] = fmt.Sprintf("%d memories written after the backup's consistent point are present (e.g. %v)", d.Data.Unexpected, d.Data.UnexpectedExamples)
		if d.Data.ReadErrors > 0 {
			res.Verdict = reports.VerdictInvalid
			res.Reasons = append(res.Reasons, fmt.Sprintf("%d memories could not be read back: the check is incomplete", d.Data.ReadErrors))
		}
	} else if v.ExpectedRPOS != nil {
		why["rpo"] = "rpo: not measured: the restored server never answered"
		targets = append(targets, reports.Target{Name: "rpo", Unit: "s", Target: *v.ExpectedRPOS, Achieved: 0, Pass: false})
	}
	res.AddTargets(why, targets...)
}

// fail makes the verdict FAIL (unless the run is invalid) with a reason.
func fail(res *reports.Result, reason string) {
	if res.Verdict != reports.VerdictInvalid {
		res.Verdict = reports.VerdictFail
	}
	res.Reasons = append(res.Reasons, reason)
}

// readBack reads every memory acknowledged before the disaster, and every
// write begun after the restored backup's consistent point, from the
// restored server.
func (dr *drill) readBack(ctx context.Context, res *reports.Result, out *reports.DrillData) error {
	st := &dr.st
	disaster := st.dAt.UnixNano()
	var backupStart, checkpoint int64 = -1, -1
	if st.restored != nil {
		backupStart, checkpoint = st.restored.StartedAt.UnixNano(), st.restored.CheckpointAt.UnixNano()
	}
	spaces := dr.sc.SpaceNames()
	rb := &readBack{base: dr.e.URL(), disaster: disaster, d: out,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: dr.cfg.ReadBackWorkers}}}
	preloadAck := dr.measure.UnixNano() // every preloaded memory was acknowledged by then (a drill has no warm-up)
	checkPreload := res.Preload.Errors == 0
	if !checkPreload {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d preloaded memories failed to store: the preload is left out of the read-back (which ones is not known)", res.Preload.Errors))
	}
	feed := func(yield func(expectation) error) error {
		if checkPreload && res.Preload.Memories > 0 {
			sched, err := workloads.NewSchedule(dr.sc, dr.cfg.Seed)
			if err != nil {
				return err
			}
			gen, err := workloads.NewGeneratorFor(dr.sc, sched, dr.cfg.Seed)
			if err != nil {
				return err
			}
			var op workloads.Op
			for j := uint64(0); j < gen.PreloadCount(); j++ {
				gen.FillPreload(j, &op)
				e := expectation{Space: op.Space, Key: op.Key, Conf: op.Confidence, Ack: preloadAck, Acked: true, BackedUp: preloadAck < backupStart, MustBeAbsent: checkpoint < 0}
				if err := yield(e); err != nil {
					return err
				}
			}
		}
		return readSpill(dr.spill.path, func(r writeRecord) error {
			e := expectation{Key: workloads.Key(r.Key), Conf: r.Conf, Ack: r.Ack}
			if int(r.Space) < len(spaces) {
				e.Space = spaces[r.Space]
			}
			e.Acked = r.Acked && r.Ack < disaster
			e.BackedUp = e.Acked && r.Ack < backupStart
			e.MustBeAbsent = checkpoint >= 0 && r.Began > checkpoint && r.Began < disaster
			if checkpoint < 0 && r.Began < disaster {
				e.MustBeAbsent = true // nothing was restored
			}
			if !e.Acked && !e.MustBeAbsent {
				return nil // a write to the restored server, or one whose fate is unknown
			}
			return yield(e)
		})
	}
	return rb.run(ctx, dr.cfg.ReadBackWorkers, feed)
}

// backupWarnings explains the backups that did not go as scheduled: failed,
// started late, cut off by the disaster, or never taken because the one
// before was still running when the disaster came. sched is the schedule,
// taken the backups attempted (in schedule order), hit whether the disaster
// happened and at when.
func backupWarnings(sched []workloads.DrillBackup, taken []reports.DrillBackup, hit bool, at float64) []string {
	var w []string
	for _, b := range taken {
		switch {
		case b.Error == "":
		case hit && b.EndS >= at:
			w = append(w, fmt.Sprintf("the %s backup due at %.1fs was still running at the disaster (%.1fs) and died with engramd: %s", b.Kind, b.DueS, at, b.Error))
		default:
			w = append(w, fmt.Sprintf("the %s backup due at %.1fs failed: %s", b.Kind, b.DueS, b.Error))
		}
		if late := b.StartS - b.DueS; late > 1 {
			w = append(w, fmt.Sprintf("the %s backup due at %.1fs started %.1fs late: the previous one was still running", b.Kind, b.DueS, late))
		}
	}
	if n := len(sched) - len(taken); hit && n > 0 {
		w = append(w, fmt.Sprintf("%d scheduled backup(s) from %.1fs on never started: the one before was still running at the disaster", n, sched[len(taken)].AtS))
	}
	return w
}
