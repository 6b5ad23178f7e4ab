package core

import (
	"fmt"
	"time"

	"pmtr/confgrammar"
)

// Readiness (issue 23): a job with a ready condition is starting until it
// holds, then ready. tcp, http, exec and file conditions are probed from
// 100 ms apart, growing to 1 s (see readyGap); notify and fd are told. Not
// ready by its ready timeout, the job is stopped and the run counts as a
// failed one for the restart rules.

// The gaps between ready attempts, and the bound of one attempt.
const (
	ReadyFirstGap   = Time(100 * time.Millisecond)
	ReadyMaxGap     = Time(time.Second)
	ReadyTryTimeout = Time(time.Second)
)

// readyGap is the wait after a failed ready attempt made elapsed after the
// start: 100 ms plus 5% of elapsed, to 1 s (reached at 18 s). A doubling
// gap left a port that opened at 3 s waiting ~0.4 s for the next attempt;
// this way the wait stays within ~5% of the time the service took to
// start, for about 24 more attempts in the first minute. Whole
// milliseconds keep the times in logs and goldens short.
func readyGap(elapsed Time) Time {
	gap := ReadyFirstGap + elapsed/20
	gap -= gap % Time(time.Millisecond)
	return min(gap, ReadyMaxGap)
}

// health is what the core knows of a job's readiness and health. The
// run's part is reset at each start; the counts since pmtr started and the
// last outcome stay.
type health struct {
	// The current run.
	ready      bool
	readyAt    Time
	readyBy    Time // the ready timeout; Never once ready, or without a condition
	readyHow   string
	tries      int  // ready attempts so far
	gap        Time // the last wait for the next ready attempt (readyGap)
	probeAt    Time // the next ready attempt or check; Never: none
	checking   bool // checks and the watchdog run
	fails      int  // failed checks in a row (a missed watchdog is one)
	watchdogBy Time // WATCHDOG=1 is due by then; Never: not armed
	notReady   bool // the run was stopped for not being ready in time: a failed run
	stopping   bool // the job said STOPPING=1
	early      bool // READY=1 came before its start was known
	earlyEnd   bool // its readiness pipe ended, without a newline, before its start was known
	skipLogged bool // a check was skipped while this attempt runs (logged once)
	status     string

	// The one probe attempt out, whatever run it was sent for.
	inflight    uint64 // its Seq; 0: none
	inflightRun uint64 // the spawn attempt it was sent for
	sentAt      Time

	// Kept across runs.
	last      string // the last probe outcome (or missed watchdog)
	lastAt    Time
	lastOK    bool
	lastOut   string
	failures  int  // failed checks since pmtr started
	ranOK     bool // the last run ended well: exit 0 or 33 (or a success code), in time
	ranBad    bool // the last run ended otherwise
	checkStop bool // on-check-fail stop: down until pmtr start or an edit
	stopFree  bool // to stop once every job after it has exited (shutdown, removal)
	stopAt    Time // when checkStop was set
}

// probed: a condition pmtr tries (tcp, http, exec, file).
func probed(p confgrammar.Probe) bool {
	return p.Kind >= confgrammar.ProbeTCP && p.Kind <= confgrammar.ProbeFile
}

// beginRun sets up readiness for a run that just started.
func (m *Machine) beginRun(j *job) {
	h := &j.h
	early, earlyEnd := h.early, h.earlyEnd
	h.ready, h.readyAt, h.readyHow, h.tries, h.checking, h.fails = false, 0, "", 0, false, 0
	h.readyBy, h.probeAt, h.watchdogBy = Never, Never, Never
	h.notReady, h.stopping, h.early, h.earlyEnd, h.status = false, false, false, false, ""
	r := j.spec.Ready
	switch {
	case r.Kind == confgrammar.NoProbe:
		m.startChecks(j)
		m.releaseAfter(j)
	case early:
		h.readyBy = m.now + Time(j.spec.ReadyTimeoutOf())
		m.becomeReady(j, readyWords(r))
	case earlyEnd:
		m.notReadyNow(j, pipeClosedWords(r))
	default:
		h.readyBy = m.now + Time(j.spec.ReadyTimeoutOf())
		if probed(r) {
			h.probeAt, h.gap = m.now+ReadyFirstGap, ReadyFirstGap
		}
	}
}

// readyWords: how a notify or fd job said it is ready.
func readyWords(r confgrammar.Probe) string {
	if r.Kind == confgrammar.ProbeFD {
		return fmt.Sprintf("it wrote a newline to fd %d", r.FD)
	}
	return "it sent READY=1"
}

// pipeClosedWords: why a fd job cannot become ready.
func pipeClosedWords(r confgrammar.Probe) string {
	return fmt.Sprintf("it closed fd %d without writing a newline, so it cannot become ready", r.FD)
}

// endRun stops the run's probes and timers (the job is being stopped, or
// has exited).
func (j *job) endRun() {
	h := &j.h
	h.checking, h.probeAt, h.readyBy, h.watchdogBy = false, Never, Never, Never
}

// becomeReady: the job's ready condition holds.
func (m *Machine) becomeReady(j *job, how string) {
	h := &j.h
	h.ready, h.readyAt, h.readyHow, h.readyBy, h.probeAt = true, m.now, how, Never, Never
	m.reportDirty = true
	m.jlogf(j, Info, "job %s is ready: %s (%v after its start)", j.name, how, shortDuration(m.now-j.startedAt))
	m.startChecks(j)
	m.releaseAfter(j)
}

// notReadyNow: the job cannot be ready in time; it is stopped, and the run
// counts as a failed one.
func (m *Machine) notReadyNow(j *job, why string) {
	m.jlogf(j, Error, "job %s: %s; stopping it (a failed run)", j.name, why)
	j.h.notReady = true
	j.endRun()
	m.stop(j)
}

// readyDue acts on a running job's readiness deadlines: the ready timeout
// and the next ready attempt.
func (m *Machine) readyDue(j *job) {
	h := &j.h
	if h.ready || j.stopRequested || j.spec.Ready.Kind == confgrammar.NoProbe || j.phase != running {
		return
	}
	if h.readyBy != Never && m.now >= h.readyBy {
		last := "no attempt answered"
		if h.tries > 0 && h.last != "" {
			last = fmt.Sprintf("the last of %d attempts: %s", h.tries, h.last)
		} else if !probed(j.spec.Ready) {
			last = notToldWords(j.spec.Ready)
		}
		m.notReadyNow(j, fmt.Sprintf("not ready within %s (%s)", confgrammar.FormatDuration(j.spec.ReadyTimeoutOf()), last))
		return
	}
	if h.probeAt != Never && m.now >= h.probeAt && h.inflight == 0 {
		timeout := min(ReadyTryTimeout, h.readyBy-m.now)
		h.tries++
		h.probeAt = Never
		m.sendProbe(j, ForReady, j.spec.Ready, timeout)
	}
}

func notToldWords(r confgrammar.Probe) string {
	if r.Kind == confgrammar.ProbeFD {
		return fmt.Sprintf("no newline on fd %d", r.FD)
	}
	return "no READY=1 on its notify socket"
}

// sendProbe emits one probe attempt for j.
func (m *Machine) sendProbe(j *job, purpose Purpose, what confgrammar.Probe, timeout Time) {
	m.probeSeq++
	h := &j.h
	h.inflight, h.inflightRun, h.sentAt = m.probeSeq, j.attempt, m.now
	p := Probe{Job: j.spec.Name, Seq: m.probeSeq, Purpose: purpose, What: what, Timeout: time.Duration(timeout)}
	if what.Kind == confgrammar.ProbeExec { // only an exec probe needs the job (its user, env, dir): no copy per tcp check
		spec := j.spec
		p.Spec = &spec
	}
	m.emit(p)
}

// onProbeResult takes an attempt's outcome: for a ready attempt of the
// current run, ready or the next attempt; for a check, the count of
// failures in a row. Anything else is stale.
func (m *Machine) onProbeResult(e ProbeResult) {
	j := m.byName[e.Job]
	if j == nil || j.h.inflight != e.Seq {
		return
	}
	h := &j.h
	current := h.inflightRun == j.attempt && j.phase == running && !j.stopRequested
	h.inflight, h.skipLogged = 0, false
	switch {
	case !current:
	case e.Busy:
		m.busyProbe(j)
	case !h.ready && j.spec.Ready.Kind != confgrammar.NoProbe:
		m.readyResult(j, e)
	case h.checking:
		m.checkResult(j, e)
	}
	m.readyDue(j) // an attempt held back by a stale one goes now
	m.arm(j)
}

// busyProbe: the backend still ran an attempt of an earlier run; this one
// did not run. A ready attempt is tried again after the gap; a check
// waits for its next time.
func (m *Machine) busyProbe(j *job) {
	if !j.h.ready && j.spec.Ready.Kind != confgrammar.NoProbe {
		j.h.tries--
		j.h.gap = readyGap(m.now - j.startedAt)
		j.h.probeAt = m.now + j.h.gap
	}
}

func (m *Machine) readyResult(j *job, e ProbeResult) {
	h := &j.h
	h.last, h.lastAt, h.lastOK, h.lastOut = e.Outcome, m.now, e.OK, e.Output
	if e.OK {
		m.becomeReady(j, e.Outcome)
		return
	}
	h.gap = readyGap(m.now - j.startedAt)
	h.probeAt = m.now + h.gap
}

// onNotified takes what a job said on its notify socket or descriptor.
func (m *Machine) onNotified(e Notified) {
	j := m.byName[e.Job]
	if j == nil || e.Attempt != 0 && e.Attempt != j.attempt {
		return // a pipe of an earlier run
	}
	h := &j.h
	if e.HasStatus && j.phase == running {
		h.status = e.Status
		m.reportDirty = true
	}
	fromPipe := e.Attempt != 0
	told := j.spec.Ready.Kind == confgrammar.ProbeFD && fromPipe || j.spec.Ready.Kind == confgrammar.ProbeNotify && !fromPipe
	switch {
	case j.phase == starting && e.Ready && told:
		h.early = true // its Spawned is still on its way
	case j.phase == starting && e.PipeClosed && told:
		h.earlyEnd = true
	case j.phase != running || j.stopRequested:
	case e.Ready && told && !h.ready:
		m.becomeReady(j, readyWords(j.spec.Ready))
	case e.PipeClosed && told && !h.ready:
		m.notReadyNow(j, pipeClosedWords(j.spec.Ready))
	}
	if j.phase == running && !fromPipe {
		m.watchdogTold(j, e)
	}
	m.arm(j)
}
