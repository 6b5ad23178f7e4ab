package core

import (
	"fmt"
	"time"

	"pmtr/confgrammar"
	"pmtr/logsafe"
)

// Why explains a job's state in one sentence, from the machine's own
// records, with times worded by at; ok is false for an unknown job.
func (m *Machine) Why(name string, at func(Time) string) (sentence string, history []Entry, ok bool) {
	j := m.byName[name]
	if j == nil {
		return "", nil, false
	}
	return m.reason(j, at), append([]Entry(nil), j.history...), true
}

// reason is the sentence for j's state.
func (m *Machine) reason(j *job, at func(Time) string) string {
	switch st := m.state(j); st {
	case Running, ReadyState, Unhealthy:
		return m.runningWhy(j, st, at)
	case Starting:
		if j.phase == running {
			return m.notReadyWhy(j, at)
		}
		return fmt.Sprintf("starting: asked for at %s", at(j.since))
	case Stopping:
		return m.stoppingWhy(j, at)
	case Waiting:
		return m.waitingWhy(j, at)
	case Failed:
		if j.gaveUp {
			return m.gaveUpWhy(j, at)
		}
		return fmt.Sprintf("failed: %s at %s; tries again at %s", j.lastExit, at(j.lastExitAt), at(j.nextStart))
	case Held:
		return "held: " + m.holdReason(j)
	case Gated:
		if !m.gated(j) {
			name, why := m.afterHold(j)
			return fmt.Sprintf("gated: after %s, which is %s", name, why)
		}
		return fmt.Sprintf("gated: waiting for job %s (wait) to exit", m.jobs[m.gate].name)
	case Disabled:
		return "disabled in the config"
	case Done:
		switch {
		case j.spec.Once:
			return fmt.Sprintf("done: it runs once (once), and %s", m.lastRun(j, at))
		case j.spec.Restart == confgrammar.RestartNever:
			return fmt.Sprintf("done: it runs once (restart never), and %s", m.lastRun(j, at))
		case j.lastSignal != 0 || j.lastCode != 33:
			return fmt.Sprintf("done: %s, a success under restart on-failure (until pmtr start or its definition changes)", m.lastRun(j, at))
		}
		return fmt.Sprintf("done: %s; exit status 33 means do not restart (until its definition changes)", m.lastRun(j, at))
	default:
		if j.stoppedByControl() {
			return StoppedByControl(j.controlledBy, at(j.controlledAt))
		}
		if j.h.checkStop {
			return fmt.Sprintf("stopped: %d checks failed in a row, the last at %s: %s; stays stopped until pmtr start (on-check-fail stop)",
				j.spec.Check.FailsOf(), at(j.h.stopAt), j.h.lastWords())
		}
		if m.shutdown {
			return "stopped: pmtr is shutting down"
		}
		return "stopped"
	}
}

func (m *Machine) stoppingWhy(j *job, at func(Time) string) string {
	sig := j.stopSig
	if sig == 0 {
		sig = SIGTERM
	}
	if sig == SIGKILL {
		return fmt.Sprintf("stopping: pid %d was sent SIGKILL at %s", j.pid, at(j.since))
	}
	return fmt.Sprintf("stopping: pid %d was sent %s at %s; SIGKILL follows at %s", j.pid, signalName(sig), at(j.since), at(j.since+stopTimeout(&j.spec)))
}

// waitingWhy: after a failed run, the wait of its backoff, or C pmtr's 10 s.
func (m *Machine) waitingWhy(j *job, at func(Time) string) string {
	if j.policyWait {
		b := j.spec.Backoff
		return fmt.Sprintf("waiting %v: failed run %d in a row (backoff %s..%s); next start %s",
			shortDuration(j.delay), j.failedRuns, confgrammar.FormatDuration(b.First), confgrammar.FormatDuration(b.Max), at(j.nextStart))
	}
	if !j.quickFail && j.failedRuns > 0 {
		return fmt.Sprintf("waiting: %s; starts again at %s (restart on-failure, and it is not a success)", m.lastRun(j, at), at(j.nextStart))
	}
	return fmt.Sprintf("waiting: %s; starts again at %s (it ran less than %v)", m.lastRun(j, at), at(j.nextStart), time.Duration(stable(&j.spec)))
}

func (m *Machine) gaveUpWhy(j *job, at func(Time) string) string {
	g := j.spec.GiveUp
	s := fmt.Sprintf("failed: gave up after %d failed runs within %s", g.Runs, confgrammar.FormatDuration(g.Window))
	if g.Retry == 0 {
		return s + "; it stays down until pmtr start or an edit of its definition (retry never)"
	}
	return s + "; trying again at " + at(j.nextStart)
}

// shortDuration rounds a wait for a sentence: to the second from 10 s on.
func shortDuration(t Time) time.Duration {
	if t >= Time(10*time.Second) {
		return time.Duration(t).Round(time.Second)
	}
	return roundMS(t)
}

// StoppedByControl is why a job stopped by control is stopped: "stopped
// by uid 0 at 10:07:03; stays stopped until pmtr start" (status, why and
// the JSON say it alike).
func StoppedByControl(by, at string) string {
	return fmt.Sprintf("stopped by %s at %s; stays stopped until pmtr start", by, at)
}

// lastRun words the last exit: "exited after 3 s with exit status 1 at T".
func (m *Machine) lastRun(j *job, at func(Time) string) string {
	if !j.hasExited {
		return "it has not run"
	}
	if j.lastExitAt >= j.startedAt && j.everStarted {
		return fmt.Sprintf("exited after %d s with %s at %s", (j.lastExitAt - j.startedAt).Seconds(), exitText(j.lastCode, j.lastSignal), at(j.lastExitAt))
	}
	return fmt.Sprintf("exited with %s at %s", exitText(j.lastCode, j.lastSignal), at(j.lastExitAt))
}

func (m *Machine) holdReason(j *job) string {
	for _, p := range j.spec.Depends {
		if st := m.deps[p]; st.Missing {
			if st.Reason != "" {
				return fmt.Sprintf("dependency %s %s", p, st.Reason)
			}
			return fmt.Sprintf("dependency %s is missing", p)
		}
	}
	return "a dependency is missing"
}

// short is the REASON column of pmtr status: why a job is in its state,
// in a few words ("" when there is nothing to say).
func (m *Machine) short(j *job) string {
	switch m.state(j) {
	case Running, ReadyState:
		return logsafe.Cap(j.h.status, 40) // what the job says of itself (STATUS=)
	case Waiting:
		switch {
		case j.policyWait:
			return fmt.Sprintf("failed run %d", j.failedRuns)
		case !j.quickFail && j.failedRuns > 0:
			return "not a success"
		case j.spec.Stable > 0:
			return "ran < " + confgrammar.FormatDuration(j.spec.Stable)
		}
		return "ran < 10 s"
	case Failed:
		if j.gaveUp {
			return "gave up"
		}
		return "start failed"
	case Held:
		for _, p := range j.spec.Depends {
			if m.deps[p].Missing {
				return "needs " + p
			}
		}
	case Gated:
		if !m.gated(j) {
			name, why := m.afterHold(j)
			return "after " + name + " (" + why + ")"
		}
		return "after " + m.jobs[m.gate].name
	case Starting:
		if j.phase == running {
			return "not ready"
		}
	case Unhealthy:
		return fmt.Sprintf("check %d of %d failed", j.h.fails, j.spec.Check.FailsOf())
	case Disabled:
		return "in the config"
	case Stopped:
		if j.stoppedByControl() {
			return "stopped by " + j.controlledBy
		}
		if j.h.checkStop {
			return "checks failed"
		}
	case Done:
		switch {
		case j.spec.Once:
			return "once"
		case j.spec.Restart == confgrammar.RestartNever:
			return "restart never"
		case j.lastSignal != 0 || j.lastCode != 33:
			return "success"
		}
		return "exit 33"
	}
	return ""
}

// runningWhy: a running job, ready, or failing its checks.
func (m *Machine) runningWhy(j *job, st State, at func(Time) string) string {
	s := fmt.Sprintf("running: pid %d since %s, started %d %s", j.pid, at(j.startedAt), j.starts, plural(j.starts, "time"))
	h := &j.h
	switch st {
	case ReadyState:
		s = fmt.Sprintf("ready: pid %d since %s, ready at %s (%s), started %d %s", j.pid, at(j.startedAt), at(h.readyAt), h.readyHow, j.starts, plural(j.starts, "time"))
	case Unhealthy:
		return m.unhealthyWhy(j, at)
	}
	if h.checking && h.last != "" && h.lastAt >= j.startedAt {
		s += fmt.Sprintf("; last check passed at %s", at(h.lastAt))
	}
	return s + m.saysWords(j)
}

// unhealthyWhy: "unhealthy: http://... answered 503 at T (2 of 3 failed
// checks in a row; at 3: restart)".
func (m *Machine) unhealthyWhy(j *job, at func(Time) string) string {
	h := &j.h
	n := j.spec.Check.FailsOf()
	then := fmt.Sprintf("at %d: %s", n, j.spec.OnCheckFail)
	if h.fails >= n {
		then = "on-check-fail " + j.spec.OnCheckFail.String()
	}
	return fmt.Sprintf("unhealthy: %s at %s (%d of %d failed checks in a row; %s); pid %d since %s%s",
		h.lastWords(), at(h.lastAt), h.fails, n, then, j.pid, at(j.startedAt), m.saysWords(j))
}

// notReadyWhy: a job whose process runs but is not ready yet.
func (m *Machine) notReadyWhy(j *job, at func(Time) string) string {
	h := &j.h
	r := j.spec.Ready
	var s string
	switch {
	case !probed(r):
		s = "not ready: " + notToldWords(r) + " yet"
	case h.tries == 0 || h.lastAt < j.startedAt:
		s = fmt.Sprintf("not ready: the first attempt (%s) is due at %s", confgrammar.FormatProbe(r), at(j.startedAt+ReadyFirstGap))
	default:
		s = fmt.Sprintf("not ready: %s at %s (attempt %d)", h.lastWords(), at(h.lastAt), h.tries)
	}
	s += fmt.Sprintf("; pid %d started at %s", j.pid, at(j.startedAt))
	if h.readyBy != Never {
		s += fmt.Sprintf("; not ready by %s fails the run (ready timeout %s)", at(h.readyBy), confgrammar.FormatDuration(j.spec.ReadyTimeoutOf()))
	}
	return s + m.saysWords(j)
}

// saysWords: the job's own STATUS= text, if it sent one.
func (m *Machine) saysWords(j *job) string {
	if j.h.status == "" {
		return ""
	}
	return fmt.Sprintf("; it says: %s", j.h.status)
}

// lastWords: the last probe's outcome, with the start of its output (an
// exec probe's, an http answer's body), escaped, when it had any.
func (h *health) lastWords() string {
	if h.lastOut == "" {
		return h.last
	}
	return h.last + ": " + h.lastOut
}
