package core

import (
	"container/heap"
	"fmt"
	"time"
)

// Machine is the supervisor's state. It is not safe for concurrent use: one
// driver goroutine owns it.
type Machine struct {
	now      Time
	jobs     []*job            // start order; removed-but-alive jobs at the end
	byName   map[string]*job   // current (not deleted) jobs; lookup only
	byPID    map[int]*job      // jobs with a live process; lookup only
	spawning map[spawnKey]*job // Spawn emitted, no answer yet
	spawnMax int               // most entries spawning had since it was last made
	deps     map[string]DepState
	wakes    wakeHeap
	seq      uint64
	attempts uint64 // spawns so far: each Spawn's Attempt is unique
	gate     int    // index of the first gating wait job, or -1
	loaded   bool
	rejected bool // the last reload was rejected: the next good one says so
	effects  []Effect

	reports      bool // the config has report destinations
	nextReport   Time
	lastReport   Time
	reportDirty  bool
	reportedOnce bool

	counters Counters

	netLimits map[string]*netLimit // by listener
	netWake   Time                 // when a left-out count is due, or Never

	shutdown bool
	done     bool
	exitCode int    // pmtr's exit code: that of the critical job that ended it
	exitBy   string // that job
	exitWhy  string // why: "critical job db", "on-check-fail shutdown of job db"
	rng      uint64 // the state of the jitter's random source

	afterOf  map[string][]*job // the jobs of the config in force after each name
	anyAfter bool              // some job of the config in force is after another
	probeSeq uint64            // probe attempts so far: each Probe's Seq is unique
}

// New returns a machine with no config and a fixed seed for its jitter;
// the first event should be ConfigLoaded.
func New() *Machine { return NewSeeded(0) }

// NewSeeded returns a machine whose jitter draws from seed: the same seed
// and the same events give the same decisions (the daemon seeds it from
// crypto/rand, pmtr sim from the scenario's seed).
func NewSeeded(seed uint64) *Machine {
	return &Machine{
		rng:       seed,
		byName:    map[string]*job{},
		byPID:     map[int]*job{},
		spawning:  map[spawnKey]*job{},
		deps:      map[string]DepState{},
		gate:      -1,
		netLimits: map[string]*netLimit{},
		afterOf:   map[string][]*job{},
	}
}

// Ready is what the driver must do now, and when to call Tick next.
type Ready struct {
	Effects  []Effect
	Deadline Time // call Tick once now >= Deadline; Never = nothing scheduled
	Done     bool // shutdown complete: every job is reaped; exit now
}

// Step feeds one event at time now.
func (m *Machine) Step(now Time, ev Event) {
	m.advance(now)
	switch e := ev.(type) {
	case ConfigLoaded:
		m.onConfig(e)
	case ConfigRejected:
		m.onRejected(e)
	case ConfigRestored:
		m.onRestored(e)
	case Spawned:
		m.onSpawned(e)
	case SpawnFailed:
		m.onSpawnFailed(e)
	case ExecFailed:
		m.onExecFailed(e)
	case SpawnCancelled:
		m.onSpawnCancelled(e)
	case Exited:
		m.onExited(e)
	case DepChanged:
		m.onDep(DepState(e))
	case Control:
		m.onControl(e)
	case Shutdown:
		m.onShutdown(e)
	case ProbeResult:
		m.onProbeResult(e)
	case Notified:
		m.onNotified(e)
	default:
		m.logf(Error, "core: unknown event %T", ev)
	}
	m.fire()
}

// Tick tells the machine that time has passed; deadlines due by now fire.
func (m *Machine) Tick(now Time) {
	m.advance(now)
	m.fire()
}

// Ready drains the pending effects and gives the next deadline, which is
// always later than the last time passed in.
func (m *Machine) Ready() Ready {
	m.dropStale()
	rd := Ready{Effects: m.effects, Done: m.done}
	m.effects = nil
	if m.done {
		return rd
	}
	if len(m.wakes) > 0 {
		rd.Deadline = m.wakes[0].at
	}
	if m.reports && !m.shutdown && (rd.Deadline == Never || m.nextReport < rd.Deadline) {
		rd.Deadline = m.nextReport
	}
	if m.netWake != Never && (rd.Deadline == Never || m.netWake < rd.Deadline) {
		rd.Deadline = m.netWake
	}
	return rd
}

func (m *Machine) advance(now Time) {
	if now > m.now {
		m.now = now
	}
}

// fire handles every deadline due by now, then a due status report.
func (m *Machine) fire() {
	for {
		m.dropStale()
		if len(m.wakes) == 0 || m.wakes[0].at > m.now {
			break
		}
		w := heap.Pop(&m.wakes).(wake)
		w.job.wakeAt = Never
		m.due(w.job)
	}
	m.maybeReport()
	m.netSummaries()
	m.checkDone()
}

// due acts on a job whose deadline has come.
func (m *Machine) due(j *job) {
	switch j.phase {
	case idle:
		m.consider(j)
	case running:
		switch {
		case j.spec.Bounce > 0 && !j.stopRequested && m.now >= j.startedAt+Time(j.spec.Bounce):
			m.jlogf(j, Info, "bouncing job %s [%d] after %d sec", j.name, j.pid, (m.now - j.startedAt).Seconds())
			m.stop(j)
		case j.depPending && !j.stopRequested && m.now >= j.depRestarted+DepRestartGap:
			m.jlogf(j, Info, "job %s: restarting for the dependency changes of the last %v", j.name, time.Duration(DepRestartGap))
			j.depRestarted, j.depPending = m.now, false
			m.stop(j)
		default:
			m.readyDue(j)
			m.checkDue(j)
		}
	case stopping:
		if j.killAt != Never && m.now >= j.killAt {
			m.jlogf(j, Info, "sending SIGKILL to job %s [%d]", j.name, j.pid)
			m.emit(Kill{Job: j.spec.Name, PID: j.pid, Signal: SIGKILL})
			j.killAt = Never
		}
	}
	m.arm(j)
}

func (m *Machine) emit(e Effect) { m.effects = append(m.effects, e) }

func (m *Machine) logf(l Level, format string, args ...any) {
	m.emit(Log{Level: l, Text: fmt.Sprintf(format, args...)})
}

// historyLen is how many of its own lines a job's flight recorder keeps.
const historyLen = 20

// jlogf logs a line about job j and keeps it in j's flight recorder.
func (m *Machine) jlogf(j *job, l Level, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	m.emit(Log{Level: l, Text: text, Job: j.spec.Name})
	if l == Debug {
		return
	}
	if len(j.history) == historyLen {
		copy(j.history, j.history[1:])
		j.history = j.history[:historyLen-1]
	}
	j.history = append(j.history, Entry{At: m.now, Text: text})
}

func (m *Machine) checkDone() {
	if !m.shutdown || m.done {
		return
	}
	for _, j := range m.jobs {
		if j.phase != idle {
			return
		}
	}
	m.done = true
}
