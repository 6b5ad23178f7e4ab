package core

import "pmtr/logsafe"

// onControl applies enable, disable and restart commands. A disable (pmtr
// stop) lasts until an enable or restart, across reloads; an enable lasts
// until the next successful reload, which gives the job back to the config.
// Any other verb is an invalid message (C pmtr's wording).
func (m *Machine) onControl(e Control) {
	if e.Verb != Enable && e.Verb != Disable && e.Verb != Restart {
		m.counters.ControlRejected++
		m.netLog(e.Via, Error, "invalid control msg from "+logsafe.Text(e.From))
		return
	}
	m.counters.ControlAccepted++
	for _, name := range e.Names {
		j := m.byName[name]
		if j == nil {
			m.netLog(e.Via, Info, "control msg for unknown job "+logsafe.Text(name))
			continue
		}
		switch e.Verb {
		case Enable:
			m.enable(j)
		case Disable:
			m.disable(j)
		default:
			if j.control == forceDisabled { // a restart of a stopped job starts it
				m.enable(j)
			}
			m.restart(j)
		}
		if e.Verb != Restart || j.control == forceEnabled {
			j.controlledBy, j.controlledAt = e.From, m.now
		}
	}
	// One rescan after the whole message, so "disable a b" is atomic: the
	// wait gate moving for a cannot start b in between.
	m.scanAll()
}

// enable is also pmtr start: a job that gave up, or waits for its backoff,
// starts now with fresh counts.
func (m *Machine) enable(j *job) {
	m.clearPolicy(j)
	m.clearCheckStop(j)
	if j.enabled() {
		return
	}
	m.jlogf(j, Info, "enabling %s", j.name)
	j.control = forceEnabled
	j.nextStart = min(j.nextStart, m.now)
	m.reportDirty = true
}

// disable stops j until an enable or restart. A job the config disables
// is marked too, so that an edit enabling it in the file keeps it stopped.
func (m *Machine) disable(j *job) {
	was := j.enabled()
	j.control = forceDisabled
	if !was {
		return
	}
	m.jlogf(j, Info, "disabling %s", j.name)
	m.reportDirty = true
	m.stop(j)
}

// stoppedByControl: a disable (pmtr stop) holds j stopped.
func (j *job) stoppedByControl() bool { return j.control == forceDisabled }

func (m *Machine) restart(j *job) {
	if !j.enabled() {
		m.jlogf(j, Info, "job %s is disabled; not restarting it", j.name)
		return
	}
	m.jlogf(j, Info, "restarting job %s", j.name)
	m.clearPolicy(j)
	m.clearCheckStop(j)
	j.done = false
	j.nextStart = min(j.nextStart, m.now)
	m.stop(j)
}

// onShutdown stops every job; nothing starts again, and Ready reports Done
// once every process has been reaped.
func (m *Machine) onShutdown(e Shutdown) {
	if m.shutdown {
		return
	}
	if e.Signal != 0 {
		m.logf(Info, "pmtr: exiting on signal %d", e.Signal)
	} else {
		m.logf(Info, "pmtr: exiting")
	}
	m.shutdown = true
	for _, j := range m.jobs {
		m.stopOrdered(j)
	}
}

// clearCheckStop: pmtr start, restart or an edit ends a stop by
// on-check-fail stop.
func (m *Machine) clearCheckStop(j *job) {
	if j.h.checkStop {
		j.h.checkStop = false
		j.nextStart = min(j.nextStart, m.now)
		m.reportDirty = true
	}
}
