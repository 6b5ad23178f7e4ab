package core

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
)

// State is what a job is doing, as status commands and pmtr sim show it.
type State string

// The states of a job.
const (
	Running    State = "running"   // its process is alive
	ReadyState State = "ready"     // its process is alive and its ready condition held
	Unhealthy  State = "unhealthy" // its process is alive and its last check (or watchdog) failed
	Starting   State = "starting"  // a spawn is under way, or its process is not ready yet
	Stopping   State = "stopping"  // signalled, its exit not seen yet
	Waiting    State = "waiting"   // starts again at NextStart (quick exit, failed run, backoff)
	Failed     State = "failed"    // its last start failed, or it gave up (give-up); starts again at NextStart
	Gated      State = "gated"     // a wait job before it has not finished
	Held       State = "held"      // a dependency file is missing
	Disabled   State = "disabled"  // by the config
	Done       State = "done"      // once, or exit 33: not started again until edited
	Stopped    State = "stopped"   // by control (pmtr stop), or not running and not about to (shutdown)
)

// States lists every State, in the order above.
var States = []State{Running, ReadyState, Unhealthy, Starting, Stopping, Waiting, Failed, Gated, Held, Disabled, Done, Stopped}

// ExitReason sorts a job's exits for metrics.
type ExitReason int

// The reasons a process ended (or never ran).
const (
	ExitCode    ExitReason = iota // it exited with a status
	ExitSignal                    // a signal killed it
	ExitNoStart                   // it could not be started (or its exec failed)
)

// ExitReasons names each reason as the metrics label says it.
var ExitReasons = [...]string{ExitCode: "exit", ExitSignal: "signal", ExitNoStart: "spawn_failed"}

// JobStatus is one job's state for reports, pmtr sim and status commands.
type JobStatus struct {
	Name      string
	State     State
	PID       int
	Since     Time // start of the current state
	Starts    int
	NextStart Time // when waiting
	LastExit  string
	Enabled   bool
	Reason    string // a few words on why it is in this state (the REASON column)
	Control   Verb   // Enable or Disable when a control message overrides the config, else ""
	// Who sent that control message and when (pmtr stop: "uid 0").
	ControlBy string
	ControlAt Time
	// The last exit, when HasExited: status or signal, and when.
	HasExited  bool
	LastCode   int
	LastSignal int
	LastExitAt Time
	StartedAt  Time   // of its last process, when it has run
	Source     string // where it is defined, "FILE:LINE"
	Exits      [3]int // counts by ExitReason since pmtr started (kept across reloads)
	// The restart policy: failed runs in a row, whether it gave up (then
	// NextStart is its retry, or Never with retry never), and the wait
	// chosen after its last failed run.
	FailedRuns   int
	GaveUp       bool
	RestartDelay Time
	// Readiness and health (issue 23). HasReady: the job has a ready
	// condition; Ready: its process holds it (since ReadyAt). HasCheck: a
	// check or a watchdog; CheckFails failed in a row now, CheckFailures
	// since pmtr started. LastProbe is the last outcome (a ready attempt,
	// a check, a missed watchdog), at LastProbeAt; NotifyStatus the
	// job's own STATUS= text.
	HasReady      bool
	Ready         bool
	ReadyAt       Time
	HasCheck      bool
	CheckFails    int
	CheckFailures int
	LastProbe     string
	LastProbeOK   bool
	LastProbeAt   Time
	NotifyStatus  string
}

// Up: the job's process is alive and not being stopped (running, ready,
// unhealthy, or started and not ready yet).
func (s JobStatus) Up() bool {
	switch s.State {
	case Running, ReadyState, Unhealthy:
		return true
	case Starting:
		return s.PID != 0
	}
	return false
}

// Status returns every job in start order, removed-but-alive ones last.
func (m *Machine) Status() []JobStatus {
	out := make([]JobStatus, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, m.status(j))
	}
	return out
}

// JobStatus is one job's state, by name; ok is false for an unknown job.
func (m *Machine) JobStatus(name string) (JobStatus, bool) {
	j := m.byName[name]
	if j == nil {
		return JobStatus{}, false
	}
	return m.status(j), true
}

func (m *Machine) status(j *job) JobStatus {
	st := JobStatus{
		Name: j.name, State: m.state(j), PID: j.pid, Since: j.since, Starts: j.starts,
		NextStart: j.nextStart, LastExit: j.lastExit, Enabled: j.enabled() && !j.held,
		Reason: m.short(j), HasExited: j.hasExited, LastCode: j.lastCode, LastSignal: j.lastSignal,
		LastExitAt: j.lastExitAt, StartedAt: j.startedAt, Exits: j.exits, Source: j.spec.Source(),
		FailedRuns: j.failedRuns, GaveUp: j.gaveUp, RestartDelay: j.delay,
		HasReady: j.spec.Ready.Kind != confgrammar.NoProbe, Ready: j.phase == running && j.h.ready, ReadyAt: j.h.readyAt,
		HasCheck: hasHealth(&j.spec), CheckFails: j.h.fails, CheckFailures: j.h.failures,
		LastProbe: j.h.last, LastProbeOK: j.h.lastOK, LastProbeAt: j.h.lastAt, NotifyStatus: j.h.status,
	}
	if j.downForGood() {
		st.NextStart = Never
	}
	switch j.control {
	case forceEnabled:
		st.Control = Enable
	case forceDisabled:
		st.Control = Disable
	}
	if j.control != noOverride {
		st.ControlBy, st.ControlAt = j.controlledBy, j.controlledAt
	}
	return st
}

// Specs are the definitions of the jobs of the config in force, in start
// order (pmtr cat).
func (m *Machine) Specs() []confgrammar.Job {
	out := make([]confgrammar.Job, 0, len(m.byName))
	for _, j := range m.jobs {
		if !j.deleted {
			out = append(out, j.spec)
		}
	}
	return out
}

// Names lists the jobs of the config in force, in start order.
func (m *Machine) Names() []string {
	out := make([]string, 0, len(m.byName))
	for _, j := range m.jobs {
		if !j.deleted {
			out = append(out, j.spec.Name)
		}
	}
	return out
}

func (m *Machine) state(j *job) State {
	switch {
	case j.phase == starting:
		return Starting
	case j.phase == running:
		return runningState(j)
	case j.phase == stopping:
		return Stopping
	case j.done:
		return Done
	case j.stoppedByControl(), j.h.checkStop:
		return Stopped
	case !j.enabled():
		return Disabled
	case j.held:
		return Held
	case m.shutdown:
		return Stopped
	case m.gated(j), m.afterHeld(j):
		return Gated
	case j.gaveUp:
		return Failed
	case j.nextStart > m.now && j.failed:
		return Failed
	case j.nextStart > m.now:
		return Waiting
	}
	return Stopped
}

// runningState: a job with a ready condition is starting until it holds,
// then ready; one whose checks fail is unhealthy.
func runningState(j *job) State {
	switch {
	case j.spec.Ready.Kind != confgrammar.NoProbe && !j.h.ready:
		return Starting
	case j.h.fails > 0:
		return Unhealthy
	case j.h.ready:
		return ReadyState
	}
	return Running
}

// reportBody is the C pmtr report payload after its header line: one line
// per job that may still run, "NAME e|d SECONDS PID ARGV0".
func (m *Machine) reportBody() string {
	var b strings.Builder
	for _, j := range m.jobs {
		if j.done || j.deleted {
			continue
		}
		flag := "e"
		if !j.enabled() || j.held {
			flag = "d"
		}
		var secs int64
		if j.everStarted {
			secs = (m.now - j.startedAt).Seconds()
		}
		argv0 := ""
		if len(j.spec.Cmd) > 0 {
			argv0 = j.spec.Cmd[0]
		}
		b.WriteString(fmt.Sprintf("%s %s %d %d %s\n", j.spec.Name, flag, secs, j.pid, argv0))
	}
	return b.String()
}

// maybeReport sends the periodic report, and one soon after a change of job
// state (at most one change-driven report per second, so a crash loop cannot
// flood the collectors).
func (m *Machine) maybeReport() {
	if !m.reports || m.shutdown {
		return
	}
	due := m.now >= m.nextReport
	if m.reportDirty && !due {
		soon := m.lastReport + Time(1e9)
		if !m.reportedOnce || m.now >= soon {
			due = true
		} else if soon < m.nextReport {
			m.nextReport = soon
		}
	}
	if !due {
		return
	}
	m.emit(Report{Body: m.reportBody()})
	m.reportDirty, m.reportedOnce = false, true
	m.lastReport = m.now
	m.nextReport = m.now + ReportEvery
}

// Counters are the daemon-wide counts since pmtr started, for metrics.
type Counters struct {
	ReloadsOK, ReloadsRejected int
	LastReloadOK               bool // the last reload (or the first load) applied
	LastReloadOKAt             Time // when a config was last applied
	ControlAccepted            int  // control commands with a known verb
	ControlRejected            int  // control messages that could not be decoded
}

// Counters returns the daemon-wide counts.
func (m *Machine) Counters() Counters { return m.counters }
