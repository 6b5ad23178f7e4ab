package core

import (
	"fmt"
	"time"
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
	case Running:
		return fmt.Sprintf("running: pid %d since %s, started %d %s", j.pid, at(j.startedAt), j.starts, plural(j.starts, "time"))
	case Starting:
		return fmt.Sprintf("starting: asked for at %s", at(j.since))
	case Stopping:
		return fmt.Sprintf("stopping: pid %d was sent SIGTERM at %s; SIGKILL follows at %s", j.pid, at(j.since), at(j.since+KillGrace))
	case Waiting:
		return fmt.Sprintf("waiting: %s; starts again at %s (it ran less than %v)", m.lastRun(j, at), at(j.nextStart), time.Duration(QuickExit))
	case Failed:
		return fmt.Sprintf("failed: %s at %s; tries again at %s", j.lastExit, at(j.lastExitAt), at(j.nextStart))
	case Held:
		return "held: " + m.holdReason(j)
	case Gated:
		return fmt.Sprintf("gated: waiting for job %s (wait) to exit", m.jobs[m.gate].name)
	case Disabled:
		if j.control == forceDisabled {
			return fmt.Sprintf("stopped by control from %s at %s; the next reload re-enables it", j.controlledBy, at(j.controlledAt))
		}
		return "disabled in the config"
	case Done:
		if j.spec.Once {
			return fmt.Sprintf("done: it runs once (once), and %s", m.lastRun(j, at))
		}
		return fmt.Sprintf("done: %s; exit status 33 means do not restart (until its definition changes)", m.lastRun(j, at))
	default:
		if m.shutdown {
			return "stopped: pmtr is shutting down"
		}
		return "stopped"
	}
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
	case Waiting:
		return "ran < 10 s"
	case Failed:
		return "start failed"
	case Held:
		for _, p := range j.spec.Depends {
			if m.deps[p].Missing {
				return "needs " + p
			}
		}
	case Gated:
		return "after " + m.jobs[m.gate].name
	case Disabled:
		if j.control == forceDisabled {
			return "stopped by " + j.controlledBy
		}
		return "in the config"
	case Done:
		if j.spec.Once {
			return "once"
		}
		return "exit 33"
	}
	return ""
}
