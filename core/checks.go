package core

import (
	"fmt"
	"hash/fnv"
	"time"

	"pmtr/confgrammar"
)

// Health checks (issue 23): once a job is ready (or runs, without a ready
// condition) its check runs every period, never two at once, and a
// watchdog expects WATCHDOG=1 within its time. Failures are counted in a
// row; a success resets the count; the job's fails-th failure in a row
// does what on-check-fail says.

// hasHealth: the job is checked while it runs.
func hasHealth(s *confgrammar.Job) bool {
	return s.Check.Probe.Kind != confgrammar.NoProbe || s.Watchdog > 0
}

// startChecks arms the checks and the watchdog of a run that is ready.
// The first check comes at an offset within the period drawn from the
// job's name, so that jobs started together are checked spread over it.
func (m *Machine) startChecks(j *job) {
	h := &j.h
	if !hasHealth(&j.spec) || h.stopping {
		return
	}
	h.checking = true
	if c := j.spec.Check; c.Probe.Kind != confgrammar.NoProbe {
		h.probeAt = m.now + spread(j.spec.Name, Time(c.EveryOf()))
	}
	if j.spec.Watchdog > 0 {
		h.watchdogBy = m.now + Time(j.spec.Watchdog)
	}
}

// spread is a fixed offset in [0, period) for the job of that name.
func spread(name string, period Time) Time {
	if period <= 0 {
		return 0
	}
	f := fnv.New64a()
	f.Write([]byte(name))
	const ms = Time(1e6) // whole milliseconds: times in logs stay short
	if period < ms {
		return Time(f.Sum64() % uint64(period))
	}
	return Time(f.Sum64()%uint64(period/ms)) * ms
}

// CheckSlot is the grid that checks of a period of a second or more come
// on: a check is due at the first slot boundary at or after its time, so
// that the checks of many jobs due within one slot run in one step of the
// machine and one wake-up of the driver and the probe runner (1000 jobs
// checked every second: 40 wake-ups a second, not 1000). Shorter periods
// use a 40th of the period. Times stay on the period's own grid (probeAt):
// the slot only delays each check by less than a slot, so the period is
// kept on average. Ready attempts are not slotted: their latency counts.
const CheckSlot = Time(25 * time.Millisecond)

// checkSlot is the slot of the job's check period; 0: none.
func (j *job) checkSlot() Time {
	if j.spec.Check.Probe.Kind == confgrammar.NoProbe {
		return 0
	}
	return slotOf(Time(j.spec.Check.EveryOf()))
}

// slotOf: CheckSlot, or a 40th of a shorter period (whole milliseconds
// from 40 ms up, so that times in logs stay short).
func slotOf(period Time) Time {
	slot := min(CheckSlot, period/40)
	if ms := Time(time.Millisecond); slot >= ms {
		slot -= slot % ms
	}
	return slot
}

// slotUp is t moved on to the next multiple of slot (t itself when on one).
func slotUp(t, slot Time) Time {
	if slot <= 0 || t == Never {
		return t
	}
	if r := t % slot; r != 0 {
		return t + slot - r
	}
	return t
}

// checkDue runs the check whose time has come, or skips it while the last
// one still runs (logged once per attempt), and misses the watchdog.
func (m *Machine) checkDue(j *job) {
	h := &j.h
	if !h.checking || j.stopRequested {
		return
	}
	if h.watchdogBy != Never && m.now >= h.watchdogBy {
		h.watchdogBy = m.now + Time(j.spec.Watchdog)
		m.checkFailure(j, fmt.Sprintf("no WATCHDOG=1 for %s", confgrammar.FormatDuration(j.spec.Watchdog)), "")
		if !h.checking || j.phase != running {
			return
		}
	}
	if h.probeAt == Never || m.now < slotUp(h.probeAt, j.checkSlot()) {
		return
	}
	c := j.spec.Check
	every := Time(c.EveryOf())
	for h.probeAt <= m.now { // on the grid of the period, whatever was missed
		h.probeAt += every
	}
	if h.inflight != 0 {
		if !h.skipLogged {
			h.skipLogged = true
			m.jlogf(j, Info, "job %s: check skipped: the one started at %v still runs", j.name, h.sentAt)
		}
		return
	}
	m.sendProbe(j, ForCheck, c.Probe, Time(c.TimeoutOf()))
}

// checkResult counts a check's outcome.
func (m *Machine) checkResult(j *job, e ProbeResult) {
	if e.OK {
		m.checkSuccess(j, e.Outcome, e.Output)
		return
	}
	m.checkFailure(j, e.Outcome, e.Output)
}

func (m *Machine) checkSuccess(j *job, outcome, output string) {
	h := &j.h
	h.last, h.lastAt, h.lastOK, h.lastOut = outcome, m.now, true, output
	if h.fails > 0 {
		m.jlogf(j, Info, "job %s: check passing again: %s", j.name, outcome)
		m.reportDirty = true
	}
	h.fails = 0
}

// checkFailure counts one failed check (or missed watchdog); the job's
// fails-th in a row acts.
func (m *Machine) checkFailure(j *job, outcome, output string) {
	h := &j.h
	h.last, h.lastAt, h.lastOK, h.lastOut = outcome, m.now, false, output
	h.fails++
	h.failures++
	m.reportDirty = true
	n := j.spec.Check.FailsOf()
	detail := ""
	if output != "" {
		detail = ": " + output
	}
	m.jlogf(j, Error, "job %s: check failed (%d of %d): %s%s", j.name, h.fails, n, outcome, detail)
	if h.fails == n {
		m.checkAction(j, n)
	}
}

// checkAction does what on-check-fail says, once fails checks in a row
// have failed.
func (m *Machine) checkAction(j *job, n int) {
	failed := fmt.Sprintf("job %s: %d %s failed in a row", j.name, n, plural(n, "check"))
	switch j.spec.OnCheckFail {
	case confgrammar.CheckIgnore:
		m.jlogf(j, Info, "%s; ignored (on-check-fail ignore)", failed)
	case confgrammar.CheckStop:
		m.jlogf(j, Error, "%s; stopping it until pmtr start (on-check-fail stop)", failed)
		j.h.checkStop, j.h.stopAt = true, m.now
		j.endRun()
		m.stop(j)
	case confgrammar.CheckShutdown:
		m.jlogf(j, Error, "%s; stopping every job, pmtr exits %d (on-check-fail shutdown)", failed, confgrammar.ExitCheckFailed)
		j.endRun()
		if !m.shutdown {
			m.exitCode, m.exitBy = confgrammar.ExitCheckFailed, j.spec.Name
			m.exitWhy = "on-check-fail shutdown of job " + j.spec.Name
		}
		m.onShutdown(Shutdown{})
	default:
		m.jlogf(j, Error, "%s; restarting it (on-check-fail restart)", failed)
		j.endRun()
		j.nextStart = m.now
		m.stop(j)
	}
}

// watchdogTold takes WATCHDOG=1 (the watchdog starts over; without a
// check it is a success) and STOPPING=1 (checks and the watchdog end for the run: the job is on
// its way out).
func (m *Machine) watchdogTold(j *job, e Notified) {
	h := &j.h
	if e.Stopping && !h.stopping {
		h.stopping = true
		m.jlogf(j, Info, "job %s says it is stopping", j.name)
		j.endRun()
	}
	if !e.Watchdog || j.spec.Watchdog <= 0 || !h.checking {
		return
	}
	h.watchdogBy = m.now + Time(j.spec.Watchdog)
	// With a check, its success resets the count: a job that is alive but
	// fails its check must not be kept by its watchdog.
	if j.spec.Check.Probe.Kind == confgrammar.NoProbe {
		m.checkSuccess(j, "WATCHDOG=1", "")
	}
}
