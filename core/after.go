package core

import (
	"slices"

	"pmtr/confgrammar"
)

// after (issue 23): a job starts only once each job it is after is ready
// (a job with a ready condition), running (one without), or finished well
// (a once or wait job, or one under restart never: its last run exited 0
// or 33, or a success code, and was not stopped for not being ready). A
// job it is after that failed, is disabled or stopped holds it. A job
// restarting later does not restart the jobs after it. On shutdown and
// when a reload removes jobs, a job is stopped only once every job after
// it has exited.

// finishes: the job is a step that ends, not a service.
func finishes(s *confgrammar.Job) bool {
	return s.Once || s.Wait || s.Restart == confgrammar.RestartNever
}

// afterHold says why j may not start yet for its after names (the first
// that holds it, and why), or "" when none does.
func (m *Machine) afterHold(j *job) (name, why string) {
	for _, name := range j.spec.After {
		if why := m.holds(name); why != "" {
			return name, why
		}
	}
	return "", ""
}

// holds says why the job named name keeps the jobs after it from
// starting, or "".
func (m *Machine) holds(name string) string {
	d := m.byName[name]
	switch {
	case d == nil:
		return "not in the config"
	case d.stoppedByControl():
		return "stopped by " + d.controlledBy
	case !d.enabled():
		return "disabled"
	case d.h.checkStop:
		return "stopped for its failed checks"
	case d.h.ranOK && finishes(&d.spec):
		return ""
	case finishes(&d.spec) && d.h.ranBad:
		return "failed: " + d.lastExit
	case finishes(&d.spec):
		return "not finished"
	case d.phase != running || d.stopRequested:
		return "not running"
	case d.spec.Ready.Kind != confgrammar.NoProbe && !d.h.ready:
		return "not ready"
	}
	return ""
}

// afterHeld: j waits for a job it is after.
func (m *Machine) afterHeld(j *job) bool {
	if len(j.spec.After) == 0 {
		return false
	}
	name, _ := m.afterHold(j)
	return name != ""
}

// indexAfter rebuilds, from the config in force, which jobs are after
// each name, and whether any job (removed ones still running included) is
// after another.
func (m *Machine) indexAfter() {
	clear(m.afterOf)
	m.anyAfter = false
	for _, j := range m.jobs {
		m.anyAfter = m.anyAfter || len(j.spec.After) > 0 // removed jobs too: they stop in order
		if j.deleted {
			continue
		}
		for _, name := range j.spec.After {
			m.afterOf[name] = append(m.afterOf[name], j)
		}
	}
}

// releaseAfter: j may now hold or free the jobs after it; those that may
// start now do.
func (m *Machine) releaseAfter(j *job) {
	if j.deleted {
		return
	}
	for _, o := range m.afterOf[j.spec.Name] {
		if !o.gone {
			m.consider(o)
		}
	}
}

// endRunOutcome records how a run of j ended, for the jobs after it.
func (j *job) endRunOutcome(status, signal int, byPmtr bool) {
	if byPmtr && !j.h.notReady {
		return // pmtr stopped it: neither a success nor a failure
	}
	ok := !j.h.notReady && (succeeded(&j.spec, status, signal) || signal == 0 && status == 33)
	j.h.ranOK, j.h.ranBad = ok, !ok
}

// stopOrdered stops j now, or once every job after it has exited (it is
// marked, and stopFreed stops it then).
func (m *Machine) stopOrdered(j *job) {
	if m.anyAfter && m.afterAlive(j) {
		if !j.h.stopFree {
			j.h.stopFree = true
			m.jlogf(j, Info, "job %s: stopping it once the jobs after it have exited", j.name)
		}
		return
	}
	j.h.stopFree = false
	m.stop(j)
}

// afterAlive: a job after j still has a process (or a spawn under way).
// A job removed from the config is after only jobs removed with it.
func (m *Machine) afterAlive(j *job) bool {
	for _, o := range m.jobs {
		if o == j || o.phase == idle || j.deleted && !o.deleted {
			continue
		}
		if slices.Contains(o.spec.After, j.spec.Name) {
			return true
		}
	}
	return false
}

// stopFreed stops the jobs that waited for j (now without a process) to
// exit before being stopped themselves.
func (m *Machine) stopFreed(j *job) {
	if !m.anyStopFree(j) {
		return
	}
	for _, name := range j.spec.After {
		for _, k := range m.jobs {
			if k.spec.Name == name && k.h.stopFree && !m.afterAlive(k) {
				k.h.stopFree = false
				m.stop(k)
			}
		}
	}
}

// anyStopFree: some job waits to be stopped, and j is after another job.
func (m *Machine) anyStopFree(j *job) bool {
	if len(j.spec.After) == 0 {
		return false
	}
	for _, k := range m.jobs {
		if k.h.stopFree {
			return true
		}
	}
	return false
}
