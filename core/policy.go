package core

import (
	"fmt"
	"slices"
	"time"

	"pmtr/confgrammar"
)

// The restart policy of a job (issue 24): which exits count as failures,
// how long pmtr waits after one, when it gives up, and how a job is
// stopped. With none of its options set, a job follows C pmtr's rule
// exactly: a run under 10 s restarts 10 s after its exit, a longer one at
// once.

// stable is the shortest run that is not a failure by its length.
func stable(s *confgrammar.Job) Time {
	if s.Stable > 0 {
		return Time(s.Stable)
	}
	return QuickExit
}

// stopSignal is the signal that stops the job.
func stopSignal(s *confgrammar.Job) int {
	if s.StopSignal != 0 {
		return s.StopSignal
	}
	return SIGTERM
}

// stopTimeout is the time from the stop signal to SIGKILL.
func stopTimeout(s *confgrammar.Job) Time {
	if s.StopTimeout > 0 {
		return Time(s.StopTimeout)
	}
	return KillGrace
}

// neverRestarts: once, or restart never.
func neverRestarts(s *confgrammar.Job) bool {
	return s.Once || s.Restart == confgrammar.RestartNever
}

// succeeded: the exit is a success under the job's success codes.
func succeeded(s *confgrammar.Job, status, signal int) bool {
	if signal != 0 {
		return false
	}
	if len(s.Success) == 0 {
		return status == 0
	}
	return slices.Contains(s.Success, status)
}

// finishedForGood: the job's own exit means it is not started again until
// its definition changes or pmtr start.
func finishedForGood(s *confgrammar.Job, status, signal int) bool {
	switch {
	case neverRestarts(s), signal == 0 && status == 33:
		return true
	case s.Restart == confgrammar.RestartOnFailure:
		return succeeded(s, status, signal)
	}
	return false
}

// ShellCode is an exit as a shell reports it: the status, or 128+N for a
// death by signal N.
func ShellCode(status, signal int) int {
	if signal != 0 {
		return 128 + signal
	}
	return status
}

// reschedule applies the restart rules to a job that ended by itself and
// will run again: a failed run waits (10 s, or its backoff), counts toward
// give-up; a stable one resets the counts and restarts at once.
func (m *Machine) reschedule(j *job, status, signal int, lived Time) {
	quick := lived < stable(&j.spec)
	failed := quick || j.h.notReady || j.spec.Restart == confgrammar.RestartOnFailure && !succeeded(&j.spec, status, signal)
	if !quick && !j.h.notReady {
		j.resetCounts()
	}
	if !failed {
		j.nextStart = m.now
		return
	}
	j.failedRuns++
	j.quickFail = quick
	if g := j.spec.GiveUp; g.Runs > 0 {
		if len(j.failTimes) == g.Runs {
			j.failTimes = append(j.failTimes[:0], j.failTimes[1:]...)
		}
		j.failTimes = append(j.failTimes, m.now)
		if len(j.failTimes) == g.Runs && m.now-j.failTimes[0] <= Time(g.Window) {
			m.giveUp(j)
			return
		}
	}
	j.delay = m.backoff(j)
	j.nextStart = m.now + j.delay
	j.policyWait = j.spec.Backoff.First > 0
	if j.policyWait {
		m.jlogf(j, Info, "job %s: failed run %d in a row; next start in %v (backoff %s)",
			j.name, j.failedRuns, roundMS(j.delay), confgrammar.FormatBackoff(j.spec.Backoff))
	}
}

// backoff is the wait after the job's failedRuns-th failed run in a row:
// 10 s without a backoff option; else FIRST*2^(n-1), capped at MAX, with
// +-10% jitter.
func (m *Machine) backoff(j *job) Time {
	b := j.spec.Backoff
	if b.First <= 0 {
		return RestartWait
	}
	d := Time(b.First)
	for i := 1; i < j.failedRuns && d < Time(b.Max); i++ {
		d *= 2
	}
	return m.jitter(min(d, Time(b.Max)))
}

// jitter spreads d over [0.9 d, 1.1 d], so that jobs that failed together
// do not all start again at one instant.
func (m *Machine) jitter(d Time) Time {
	lo, hi := d-d/10, d+d/10
	if hi <= lo {
		return d
	}
	return lo + Time(m.random()%uint64(hi-lo+1))
}

// random is splitmix64 over the seed the machine was given: reproducible
// from the seed, and owned by the machine (no global source).
func (m *Machine) random() uint64 {
	m.rng += 0x9e3779b97f4a7c15
	z := m.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// giveUp: too many failed runs within the window. The job is failed until
// the retry, or until pmtr start when it retries never.
func (m *Machine) giveUp(j *job) {
	g := j.spec.GiveUp
	j.gaveUp, j.policyWait, j.delay = true, true, Time(g.Retry)
	j.nextStart = m.now + Time(g.Retry)
	if g.Retry == 0 {
		m.jlogf(j, Error, "job %s: gave up after %d failed runs within %s; it stays down until pmtr start or an edit of its definition (retry never)",
			j.name, g.Runs, confgrammar.FormatDuration(g.Window))
		return
	}
	m.jlogf(j, Error, "job %s: gave up after %d failed runs within %s; trying again in %s",
		j.name, g.Runs, confgrammar.FormatDuration(g.Window), confgrammar.FormatDuration(g.Retry))
}

// resetCounts forgets the failed runs (a stable run, a retry after giving
// up, pmtr start or restart, an edit of the job).
func (j *job) resetCounts() {
	j.failedRuns, j.failTimes, j.gaveUp, j.policyWait, j.delay = 0, j.failTimes[:0], false, false, 0
}

// clearPolicy is pmtr start, pmtr restart or an edit of the job: the counts
// go, and a job that waits only because of its backoff or give-up starts now.
func (m *Machine) clearPolicy(j *job) {
	if j.policyWait {
		j.nextStart = min(j.nextStart, m.now)
	}
	j.resetCounts()
}

// downForGood: the job gave up and retries never.
func (j *job) downForGood() bool { return j.gaveUp && j.spec.GiveUp.Retry == 0 }

// critical: a critical job ended by itself (it was not asked to stop).
// Without give-up that ends pmtr; with give-up, its ending for good or its
// giving up does. The first critical job to end decides pmtr's exit code.
func (m *Machine) critical(j *job, status, signal int) {
	if !j.spec.Critical || m.shutdown || j.spec.GiveUp.Runs > 0 && !j.done && !j.gaveUp {
		return
	}
	code := ShellCode(status, signal)
	why := fmt.Sprintf("ended with %s", exitText(status, signal))
	switch {
	case j.gaveUp:
		why = fmt.Sprintf("gave up after %d failed runs", j.spec.GiveUp.Runs)
	case j.h.notReady:
		why = "was not ready in time"
	}
	m.exitCode, m.exitBy, m.exitWhy = code, j.spec.Name, "critical job "+j.spec.Name
	m.jlogf(j, Error, "job %s is critical and %s: stopping every job; pmtr exits %d", j.name, why, code)
	m.onShutdown(Shutdown{})
}

// ExitCode is the code pmtr exits with once Ready says Done: 0 after an
// orderly stop, or the code of the critical job that ended it (by names
// that job, "" for 0).
func (m *Machine) ExitCode() (code int, by string) { return m.exitCode, m.exitBy }

// ExitCause words why pmtr exits with a code other than 0 ("critical job
// db"), or "".
func (m *Machine) ExitCause() string { return m.exitWhy }

// roundMS cuts a wait to the millisecond, as Time.String prints times.
func roundMS(t Time) time.Duration { return time.Duration(t).Truncate(time.Millisecond) }
