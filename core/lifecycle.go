package core

import (
	"strconv"
	"strings"

	"pmtr/confgrammar"
)

// consider starts j if nothing keeps it from starting now; otherwise it
// arms j's deadline.
func (m *Machine) consider(j *job) {
	if j.runnable() && !m.shutdown && !m.gated(j) && j.nextStart <= m.now && !m.afterHeld(j) {
		m.spawn(j)
	}
	m.arm(j)
}

// gated: a wait job earlier in start order has not finished its first run.
func (m *Machine) gated(j *job) bool { return m.gate >= 0 && j.index > m.gate }

// scanAll walks every job in start order, recomputing the wait gate as it
// goes (a wait job started in this pass holds the jobs after it).
func (m *Machine) scanAll() {
	m.gate = -1
	for i, j := range m.jobs {
		j.index = i
		m.consider(j)
		if m.gate < 0 && j.gates() {
			m.gate = i
		}
	}
}

func (m *Machine) setPhase(j *job, p phase) {
	j.phase = p
	j.since = m.now
	m.reportDirty = true
}

func (m *Machine) spawn(j *job) {
	if j.gaveUp {
		m.jlogf(j, Info, "job %s: trying again after giving up, with fresh counts", j.name)
		j.resetCounts()
	}
	m.attempts++ // unique across jobs, so a re-added name cannot collide with its deleted twin
	j.attempt = m.attempts
	j.stopRequested = false
	j.depPending = false // the new process reads the dependencies as they are now
	j.h.early, j.h.earlyEnd, j.h.stopFree = false, false, false
	m.setPhase(j, starting)
	spec := j.spec
	m.spawning[spawnKey{j.spec.Name, j.attempt}] = j
	m.spawnMax = max(m.spawnMax, len(m.spawning))
	m.emit(Spawn{Job: j.spec.Name, Attempt: j.attempt, Spec: &spec})
}

// stop asks j's process to end: its stop signal (SIGTERM) to its group now,
// SIGKILL after its stop timeout (10 s). What happens after the exit
// depends on the job's state then.
func (m *Machine) stop(j *job) {
	switch j.phase {
	case starting:
		if !j.stopRequested { // withdraw the spawn if it has not begun; else SIGTERM once the pid is known
			m.emit(Cancel{Job: j.spec.Name, Attempt: j.attempt})
		}
		j.stopRequested = true
	case running:
		j.stopRequested = true
		j.endRun()
		j.stopSig = stopSignal(&j.spec)
		m.jlogf(j, Info, "sending %s to job %s [%d]", signalName(j.stopSig), j.name, j.pid)
		m.emit(Kill{Job: j.spec.Name, PID: j.pid, Signal: j.stopSig})
		m.setPhase(j, stopping)
		j.killAt = m.now + stopTimeout(&j.spec)
		if j.stopSig == SIGKILL {
			j.killAt = Never
		}
	}
	m.arm(j)
}

// findStarting returns the job whose spawn attempt this is, or nil.
func (m *Machine) findStarting(name string, attempt uint64) *job {
	k := spawnKey{name, attempt}
	j := m.spawning[k]
	delete(m.spawning, k)
	if len(m.spawning) == 0 && m.spawnMax > 64 { // a map keeps its size once grown: drop a burst's
		m.spawning, m.spawnMax = map[spawnKey]*job{}, 0
	}
	return j
}

type spawnKey struct {
	name    string
	attempt uint64
}

func (m *Machine) onSpawned(e Spawned) {
	j := m.findStarting(e.Job, e.Attempt)
	if j == nil {
		// A process the machine did not ask for (a driver bug): do not leak it.
		m.logf(Error, "core: unexpected process %d for job %s; killing it", e.PID, e.Job)
		m.emit(Kill{Job: e.Job, PID: e.PID, Signal: SIGKILL})
		return
	}
	j.pid, j.startedAt, j.everStarted = e.PID, m.now, true
	j.starts++
	j.failed, j.execFailure = false, ""
	m.byPID[e.PID] = j
	m.setPhase(j, running)
	m.jlogf(j, Info, "started job %s [%d]", j.name, j.pid)
	if j.gates() {
		m.jlogf(j, Info, "pausing for job %s to finish", j.name)
	}
	if j.stopRequested {
		j.stopRequested = false
		m.stop(j)
	} else {
		m.beginRun(j)
	}
	m.arm(j)
}

func (m *Machine) onSpawnFailed(e SpawnFailed) {
	j := m.findStarting(e.Job, e.Attempt)
	if j == nil {
		m.logf(Error, "job %s: %s", e.Job, e.Reason)
		return
	}
	reason := e.Reason + startHint(&j.spec, e.Reason)
	m.jlogf(j, Error, "job %s: %s", j.name, reason)
	j.starts++ // an attempt, though no process ran
	j.exits[ExitNoStart]++
	j.lastCode, j.lastSignal, j.lastExitAt, j.hasExited = 255, 0, m.now, true
	j.lastExit, j.failed = "failed to start: "+reason, true
	// A stop asked for while starting has nothing left to stop: the failed
	// spawn counts as the job's own exit.
	j.stopRequested = false
	m.setPhase(j, idle)
	m.afterExit(j, 255, 0, 0)
}

// startHint explains the commonest failed start: pmtr does not search PATH.
func startHint(spec *confgrammar.Job, reason string) string {
	if len(spec.Cmd) > 0 && !strings.Contains(spec.Cmd[0], "/") && strings.HasPrefix(reason, "can't exec ") {
		return " (cmd needs an absolute path: pmtr does not search PATH)"
	}
	return ""
}

// onSpawnCancelled: a stop came before the process existed. Nothing ran,
// so nothing counts: the job is idle as if it had not been started.
func (m *Machine) onSpawnCancelled(e SpawnCancelled) {
	j := m.findStarting(e.Job, e.Attempt)
	if j == nil {
		return
	}
	m.jlogf(j, Debug, "job %s: start withdrawn before it began", j.name)
	wasGate := j.gates()
	j.stopRequested = false
	m.setPhase(j, idle)
	m.stopFreed(j)
	if j.deleted {
		m.drop(j)
		return
	}
	j.nextStart = min(j.nextStart, m.now)
	if wasGate {
		m.scanAll()
		return
	}
	m.consider(j)
}

// onExecFailed logs why a started process could not run the job's program,
// before its exit is logged (as C pmtr's child did).
func (m *Machine) onExecFailed(e ExecFailed) {
	j := m.byPID[e.PID]
	if j == nil {
		m.logf(Error, "job %s: %s", e.Job, e.Reason)
		return
	}
	j.execFailure = e.Reason + startHint(&j.spec, e.Reason)
	m.jlogf(j, Error, "job %s: %s", j.name, j.execFailure)
}

func (m *Machine) onExited(e Exited) {
	j := m.byPID[e.PID]
	if j == nil {
		m.logf(Debug, "reaped orphan process %d", e.PID)
		return
	}
	delete(m.byPID, e.PID)
	j.lastCode, j.lastSignal, j.lastExitAt, j.hasExited = e.Status, e.Signal, m.now, true
	lived := m.now - j.startedAt
	j.lastExit = exitText(e.Status, e.Signal)
	if e.OOM {
		j.lastExit = "killed by the OOM killer"
	}
	m.jlogf(j, Info, "job %s [%d] exited after %d sec: %s", j.name, e.PID, lived.Seconds(), j.lastExit)
	switch {
	case j.execFailure != "":
		j.lastExit, j.failed, j.execFailure = "failed to start: "+j.execFailure, true, ""
		j.exits[ExitNoStart]++
	case e.Signal != 0:
		j.exits[ExitSignal]++
	default:
		j.exits[ExitCode]++
	}
	j.pid, j.killAt = 0, Never
	m.setPhase(j, idle)
	m.afterExit(j, e.Status, e.Signal, lived)
}

func exitText(status, signal int) string {
	if signal != 0 {
		return "signal " + strconv.Itoa(signal)
	}
	return "exit status " + strconv.Itoa(status)
}

// afterExit applies the restart rules to a job whose process is gone.
func (m *Machine) afterExit(j *job, status, signal int, lived Time) {
	wasGate := j.gates()
	if j.waitPending && j.spec.Wait {
		m.jlogf(j, Info, "job %s finished", j.name)
	}
	j.waitPending = false
	j.endRunOutcome(status, signal, j.stopRequested)
	j.endRun()
	j.h.stopFree = false
	m.stopFreed(j)
	switch {
	case j.deleted:
		m.drop(j)
		return
	case j.stopRequested && !j.h.notReady:
		j.nextStart = m.now // pmtr caused this exit: no penalty, and not "finished"
		if lived >= stable(&j.spec) {
			j.resetCounts()
		}
	default: // its own exit, or not ready in time (a failed run)
		j.done = neverRestarts(&j.spec) || !j.h.notReady && finishedForGood(&j.spec, status, signal)
		if !j.done && !(j.spec.Critical && j.spec.GiveUp.Runs == 0) {
			m.reschedule(j, status, signal, lived)
		}
		m.critical(j, status, signal)
	}
	j.stopRequested = false
	j.h.notReady = false
	if wasGate {
		m.scanAll()
		return
	}
	m.releaseAfter(j)
	m.consider(j)
}

// drop removes a job (deleted from the config) whose process has ended.
func (m *Machine) drop(j *job) {
	j.gone = true
	for i, o := range m.jobs {
		if o == j {
			m.jobs = append(m.jobs[:i], m.jobs[i+1:]...)
			break
		}
	}
	for i, o := range m.jobs {
		o.index = i
	}
}
