package core

import "pmtr/confgrammar"

// onConfig applies a new config: unchanged jobs keep running untouched,
// changed jobs restart with the new definition, removed jobs stop and are
// forgotten, new jobs start. An enable by control ends here; a job stopped
// by control stays stopped, whatever the new definition.
func (m *Machine) onConfig(e ConfigLoaded) {
	if e.Config == nil {
		return
	}
	if m.loaded {
		m.rescanning(e.Changes)
	} else {
		m.logf(Info, "pmtr: starting")
	}
	if m.loaded {
		m.counters.ReloadsOK++
	}
	m.counters.LastReloadOK, m.counters.LastReloadOKAt = true, m.now
	m.loaded = true
	for _, w := range e.Warnings {
		m.logf(Error, "%s", w)
	}
	if m.rejected {
		m.rejected = false
		m.logf(Info, "config ok again: %d %s", len(e.Config.Jobs), plural(len(e.Config.Jobs), "job"))
	}
	old := m.jobs
	next := make([]*job, 0, len(e.Config.Jobs)+len(old))
	seen := map[string]bool{}
	var removed, kept []*job
	for i := range e.Config.Jobs {
		spec := &e.Config.Jobs[i] // not a copy: the field table's calls would move it to the heap
		seen[spec.Name] = true
		if j := m.byName[spec.Name]; j != nil {
			m.update(j, spec)
			next = append(next, j)
			continue
		}
		j := &job{spec: *spec, name: spec.Name, waitPending: spec.Wait, nextStart: m.now}
		m.byName[spec.Name] = j
		next = append(next, j)
		if pid := e.Running[spec.Name]; pid > 0 && m.byPID[pid] == nil {
			m.keep(j, pid)
			kept = append(kept, j)
		}
	}
	for _, j := range old {
		if !j.deleted && seen[j.spec.Name] {
			continue
		}
		if m.remove(j) {
			next = append(next, j)
			removed = append(removed, j)
		}
	}
	m.jobs = next
	m.indexAfter()
	for _, j := range removed { // once all are marked: a removed job waits for those removed after it
		m.stopOrdered(j)
	}
	m.setReports(len(e.Config.Reports) > 0)
	m.applyDeps(e.Deps)
	for _, j := range kept { // once held and after are known: it may free the jobs after it
		m.beginRun(j)
	}
	m.scanAll()
}

// keep takes pid, already running, as the run of the new job j (a pmtr
// upgrade whose state could not be read: the jobs were found in their
// cgroups or pid records). Its readiness starts afresh.
func (m *Machine) keep(j *job, pid int) {
	m.attempts++
	j.attempt, j.pid, j.startedAt, j.everStarted, j.starts = m.attempts, pid, m.now, true, 1
	m.byPID[pid] = j
	m.setPhase(j, running)
	m.jlogf(j, Info, "job %s [%d] kept: found running", j.name, pid)
}

// update moves an existing job to its new definition, as the strongest
// change among its fields asks (see JobFields).
func (m *Machine) update(j *job, spec *confgrammar.Job) {
	if j.control == forceEnabled {
		j.control = noOverride
	}
	change := specChange(&j.spec, spec)
	if j.stoppedByControl() && change > SwitchesJob {
		m.jlogf(j, Info, "job %s changed; it stays stopped (stopped by %s) until pmtr start", j.name, j.controlledBy)
	}
	if change >= AppliesInPlace {
		m.clearPolicy(j) // an edited job starts afresh
		m.clearCheckStop(j)
		j.h.ranOK, j.h.ranBad = false, false
	}
	checkChanged := !j.spec.Check.Equal(spec.Check)
	switch change {
	case RestartsJob:
		j.spec = *spec
		j.done = false
		j.waitPending = spec.Wait
		j.nextStart = m.now
		m.stop(j)
	case AppliesInPlace:
		// no restart needed, but an edited job that had finished for good
		// runs again.
		j.done = false
		j.nextStart = min(j.nextStart, m.now)
		j.spec = *spec
	default:
		j.spec = *spec // at most disable changed, or the position
	}
	if checkChanged && j.h.checking && !j.stopRequested { // the new check runs from now
		j.h.probeAt = Never
		m.startChecks(j)
	}
	if !j.enabled() {
		m.stop(j)
	}
	m.arm(j)
}

// remove marks a job that is no longer in the config. It reports whether
// the job must be kept (and stopped) until its process has exited.
func (m *Machine) remove(j *job) bool {
	if !j.deleted {
		delete(m.byName, j.spec.Name)
		j.deleted = true
		j.name = j.spec.Name + "(deleted)"
	}
	if j.phase == idle {
		j.gone = true
		return false
	}
	return true
}

// rescanning logs C pmtr's line of a reload, with the files that changed
// when the config has more than one.
func (m *Machine) rescanning(changes string) {
	if changes == "" {
		m.logf(Info, "rescanning job configuration")
		return
	}
	m.logf(Info, "rescanning job configuration: %s", changes)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func (m *Machine) onRejected(e ConfigRejected) {
	m.rejected = true
	m.counters.ReloadsRejected++
	m.counters.LastReloadOK = false
	m.rescanning(e.Changes)
	m.logf(Error, "FAILED to parse %s", e.File)
	for _, msg := range e.Errors {
		m.logf(Error, "ERROR: %s", msg)
	}
	m.logf(Error, "NOTE: using PREVIOUS job config")
}

// onRestored: the file went back to the config in force after a rejected
// reload, so the refusal is over (the metric and the alert on it follow).
func (m *Machine) onRestored(e ConfigRestored) {
	if !m.rejected {
		return
	}
	m.rejected = false
	m.counters.LastReloadOK = true
	m.logf(Info, "config %s is valid again (same as in force)", e.File)
}

func (m *Machine) setReports(on bool) {
	if on && !m.reports {
		m.reportDirty = true
		m.nextReport = m.now
	}
	m.reports = on
}
