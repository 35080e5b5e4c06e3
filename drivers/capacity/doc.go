// Package capacity runs the measurements an operator sizes a deployment
// from: the capacity search (the highest offered rate that meets an SLO),
// scaling curves (throughput at 1, 2, 4, … workers or cores) and sizing
// (memory, disk and CPU per memory and per op).
//
// It belongs to the drivers room: it makes load, always through
// drivers.Execute, and leaves the statistics to reports (SLO.Judge,
// FitScaling, the sizing fits). In: a drivers.Plan template and a Config.
// Out: a reports.Capacity, a reports.Result with Scaling, a
// reports.Sizing.
//
//   - [Search] steps the offered rate up (×Factor or +StepRate) until a step
//     fails the SLO, then bisects between the last passing and the first
//     failing rate; every step is a [Stepper] call — [Runner] runs it as one
//     open-loop Execute at a fixed rate — judged by reports.SLO.Judge. A
//     [Watch] cuts a step short once its backlog grows without bound.
//   - [Scale] saturates the target with N closed-loop users per point (or
//     N cores: GOMAXPROCS of this process, for the embedded engine), on the
//     same data or a fresh target per point ([ScalingConfig].Fresh).
//   - [Size] loads N memories, sampling the target's memory (PSS) and disk as
//     they arrive, then reads its CPU time over a steady open-loop run; for
//     an in-process target the harness's own CPU per op (the null driver on
//     the same op stream) is subtracted. reports.FitSizing fits the lines
//     and reports.Project (engram-bench plan) projects from them.
//
// Concurrency: Search, Scale, Size and Runner.Step run one step at a time and
// are not safe for concurrent use; a Stepper is called from one goroutine.
//
// Adding a measurement: take a drivers.Plan, run it with drivers.Execute
// (never a runner of your own), put its statistics in reports, document the
// method in docs/capacity-planning.md, and test it against a target whose
// answer is known by construction (the null driver's delay and capacity
// options).
package capacity
