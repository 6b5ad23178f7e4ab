package core

import "time"

// applyDeps records the dependency contents delivered with a config and
// reacts to any that changed since last seen, then forgets unused paths.
func (m *Machine) applyDeps(states []DepState) {
	for _, s := range states {
		m.setDep(s)
	}
	used := map[string]bool{}
	for _, j := range m.jobs {
		if !j.deleted {
			for _, p := range j.spec.Depends {
				used[p] = true
			}
			m.refreshHeld(j) // the caller rescans every job afterwards
		}
	}
	for p := range m.deps {
		if !used[p] {
			delete(m.deps, p)
		}
	}
}

func (m *Machine) onDep(s DepState) {
	if _, known := m.deps[s.Path]; !known {
		return // no job depends on it (any more)
	}
	m.setDep(s)
	users := m.jobsUsing(s.Path)
	changed := false
	for _, j := range users { // every hold first, so a rescan sees them all
		changed = m.refreshHeld(j) || changed
	}
	if changed {
		m.scanAll()
		return
	}
	for _, j := range users {
		m.consider(j)
	}
}

// setDep stores a file's state; a content change restarts the jobs that
// depend on it.
func (m *Machine) setDep(s DepState) {
	prev, known := m.deps[s.Path]
	m.deps[s.Path] = s
	if !known || prev.Missing || s.Missing || prev.Hash == s.Hash {
		return
	}
	for _, j := range m.jobsUsing(s.Path) {
		if j.phase == running || j.phase == starting {
			m.depRestart(j, s.Path)
		}
	}
}

// depRestart restarts j for a changed dependency, or, within
// DepRestartGap of the last such restart, once that time is over.
func (m *Machine) depRestart(j *job, path string) {
	if j.depRestarted != 0 && m.now < j.depRestarted+DepRestartGap {
		if !j.depPending {
			j.depPending = true
			m.logf(Info, "job %s: dependency %s changed again; restarting it at %v (at most once in %v)",
				j.name, path, j.depRestarted+DepRestartGap, time.Duration(DepRestartGap))
			m.arm(j)
		}
		return
	}
	m.jlogf(j, Info, "job %s: dependency %s changed; restarting", j.name, path)
	j.depRestarted, j.depPending = max(m.now, 1), false
	m.stop(j)
}

func (m *Machine) jobsUsing(path string) []*job {
	var out []*job
	for _, j := range m.jobs {
		if j.deleted {
			continue
		}
		for _, p := range j.spec.Depends {
			if p == path {
				out = append(out, j)
				break
			}
		}
	}
	return out
}

// refreshHeld holds a job stopped while any of its dependencies is missing,
// and releases it when they are all back. It reports whether the hold
// changed, which may move the wait gate.
func (m *Machine) refreshHeld(j *job) bool {
	var missing *DepState
	for _, p := range j.spec.Depends {
		if st := m.deps[p]; st.Missing {
			missing = &st
			break
		}
	}
	switch {
	case missing != nil && !j.held:
		j.held = true
		if missing.Reason != "" {
			m.jlogf(j, Error, "job %s: can't read dependency %s: %s; holding the job stopped until it can be read", j.name, missing.Path, missing.Reason)
		} else {
			m.jlogf(j, Error, "job %s: can't open dependency %s; holding the job stopped until it exists", j.name, missing.Path)
		}
		m.stop(j)
		return true
	case missing == nil && j.held:
		j.held = false // a stop caused by the hold left nextStart at its exit time
		m.jlogf(j, Info, "job %s: dependencies present again", j.name)
		return true
	}
	return false
}
