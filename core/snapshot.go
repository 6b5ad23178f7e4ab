package core

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"

	"pmtr/confgrammar"
)

// Snapshot is the whole state of a machine as plain, exported values, so
// that a new pmtr binary carries on exactly where the old one stopped
// (pmtr upgrade): Restore(m.Snapshot()) makes the same decisions as m for
// any events that follow. What the machine can rebuild from it (the
// lookups by name, pid and spawn, the index of after names) is left out.
// snapshot_test.go fails when a field of the machine or of a job is
// neither here nor named as rebuilt.
type Snapshot struct {
	Now      Time
	Jobs     []JobState // start order; removed-but-alive jobs at the end
	Deps     []DepState // by path
	Wakes    []Wake     // the deadline heap, stale entries included, in firing order
	Seq      uint64     // the deadline heap's insertion count
	Attempts uint64
	ProbeSeq uint64
	Gate     int
	Loaded   bool
	Rejected bool

	Reports      bool
	NextReport   Time
	LastReport   Time
	ReportDirty  bool
	ReportedOnce bool

	Counters  Counters
	NetLimits []NetLimit // by listener
	NetWake   Time

	Shutdown bool
	Done     bool
	ExitCode int
	ExitBy   string
	ExitWhy  string
	Rand     uint64 // the jitter's random source: restored, it draws what the original would
	AnyAfter bool
}

// Wake is one entry of the deadline heap; Job indexes Snapshot.Jobs.
type Wake struct {
	At  Time
	Seq uint64
	Job int
}

// NetLimit is the log limit of one control listener.
type NetLimit struct {
	Via        string
	Start      Time
	N, Dropped int
}

// JobState is one job: its definition in force and where it is in its life.
type JobState struct {
	Spec          confgrammar.Job
	Name          string
	Index         int
	Deleted       bool
	Phase         int // idle, starting, running, stopping
	PID           int
	Attempt       uint64
	StartedAt     Time
	EverStarted   bool
	Since         Time
	NextStart     Time
	KillAt        Time
	StopRequested bool
	Done          bool
	WaitPending   bool
	Control       int // none, enabled or disabled by control
	Held          bool
	Starts        int
	LastExit      string
	Failed        bool
	ExecFailure   string
	DepRestarted  Time
	DepPending    bool
	Exits         [3]int
	LastCode      int
	LastSignal    int
	LastExitAt    Time
	HasExited     bool
	ControlledBy  string
	ControlledAt  Time
	History       []Entry
	WakeAt        Time

	FailedRuns int
	FailTimes  []Time
	GaveUp     bool
	PolicyWait bool
	QuickFail  bool
	Delay      Time
	StopSig    int

	Health HealthState
}

// HealthState is a job's readiness and health.
type HealthState struct {
	Ready       bool
	ReadyAt     Time
	ReadyBy     Time
	ReadyHow    string
	Tries       int
	Gap         Time
	ProbeAt     Time
	Checking    bool
	Fails       int
	WatchdogBy  Time
	NotReady    bool
	Stopping    bool
	Early       bool
	EarlyEnd    bool
	SkipLogged  bool
	Status      string
	Inflight    uint64
	InflightRun uint64
	SentAt      Time
	Last        string
	LastAt      Time
	LastOK      bool
	LastOut     string
	Failures    int
	RanOK       bool
	RanBad      bool
	CheckStop   bool
	StopFree    bool
	StopAt      Time
}

// Snapshot takes the machine's state. Call it between steps, once Ready
// has drained the effects: effects not yet performed are not part of it.
func (m *Machine) Snapshot() (Snapshot, error) {
	if len(m.effects) > 0 {
		return Snapshot{}, fmt.Errorf("core: snapshot with %d effects not taken by Ready", len(m.effects))
	}
	s := Snapshot{Now: m.now, Seq: m.seq, Attempts: m.attempts, ProbeSeq: m.probeSeq, Gate: m.gate,
		Loaded: m.loaded, Rejected: m.rejected, Reports: m.reports, NextReport: m.nextReport,
		LastReport: m.lastReport, ReportDirty: m.reportDirty, ReportedOnce: m.reportedOnce,
		Counters: m.counters, NetWake: m.netWake, Shutdown: m.shutdown, Done: m.done,
		ExitCode: m.exitCode, ExitBy: m.exitBy, ExitWhy: m.exitWhy, Rand: m.rng, AnyAfter: m.anyAfter}
	at := make(map[*job]int, len(m.jobs))
	for i, j := range m.jobs {
		at[j] = i
		s.Jobs = append(s.Jobs, j.state())
	}
	for _, w := range m.wakes {
		if i, ok := at[w.job]; ok { // a job dropped from the machine has no deadline left
			s.Wakes = append(s.Wakes, Wake{At: w.at, Seq: w.seq, Job: i})
		}
	}
	slices.SortFunc(s.Wakes, func(a, b Wake) int { return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Seq, b.Seq)) })
	for _, d := range m.deps {
		s.Deps = append(s.Deps, d)
	}
	slices.SortFunc(s.Deps, func(a, b DepState) int { return cmp.Compare(a.Path, b.Path) })
	for via, nl := range m.netLimits {
		s.NetLimits = append(s.NetLimits, NetLimit{Via: via, Start: nl.start, N: nl.n, Dropped: nl.dropped})
	}
	slices.SortFunc(s.NetLimits, func(a, b NetLimit) int { return cmp.Compare(a.Via, b.Via) })
	return s, nil
}

func (j *job) state() JobState {
	return JobState{Spec: j.spec, Name: j.name, Index: j.index, Deleted: j.deleted, Phase: int(j.phase),
		PID: j.pid, Attempt: j.attempt, StartedAt: j.startedAt, EverStarted: j.everStarted, Since: j.since,
		NextStart: j.nextStart, KillAt: j.killAt, StopRequested: j.stopRequested, Done: j.done,
		WaitPending: j.waitPending, Control: int(j.control), Held: j.held, Starts: j.starts,
		LastExit: j.lastExit, Failed: j.failed, ExecFailure: j.execFailure, DepRestarted: j.depRestarted,
		DepPending: j.depPending, Exits: j.exits, LastCode: j.lastCode, LastSignal: j.lastSignal,
		LastExitAt: j.lastExitAt, HasExited: j.hasExited, ControlledBy: j.controlledBy,
		ControlledAt: j.controlledAt, History: slices.Clone(j.history), WakeAt: j.wakeAt,
		FailedRuns: j.failedRuns, FailTimes: slices.Clone(j.failTimes), GaveUp: j.gaveUp,
		PolicyWait: j.policyWait, QuickFail: j.quickFail, Delay: j.delay, StopSig: j.stopSig,
		Health: j.h.state()}
}

func (h *health) state() HealthState {
	return HealthState{Ready: h.ready, ReadyAt: h.readyAt, ReadyBy: h.readyBy, ReadyHow: h.readyHow,
		Tries: h.tries, Gap: h.gap, ProbeAt: h.probeAt, Checking: h.checking, Fails: h.fails,
		WatchdogBy: h.watchdogBy, NotReady: h.notReady, Stopping: h.stopping, Early: h.early, EarlyEnd: h.earlyEnd,
		SkipLogged: h.skipLogged, Status: h.status, Inflight: h.inflight, InflightRun: h.inflightRun,
		SentAt: h.sentAt, Last: h.last, LastAt: h.lastAt, LastOK: h.lastOK, LastOut: h.lastOut,
		Failures: h.failures, RanOK: h.ranOK, RanBad: h.ranBad, CheckStop: h.checkStop,
		StopFree: h.stopFree, StopAt: h.stopAt}
}

// Restore makes a machine from a snapshot. A snapshot that cannot be one
// of a machine (a phase out of range, a deadline of no job, two jobs by
// one name or pid) is refused, so that a damaged state never runs.
func Restore(s Snapshot) (*Machine, error) {
	m := NewSeeded(s.Rand)
	m.now, m.seq, m.attempts, m.probeSeq, m.gate = s.Now, s.Seq, s.Attempts, s.ProbeSeq, s.Gate
	m.loaded, m.rejected, m.reports, m.nextReport, m.lastReport = s.Loaded, s.Rejected, s.Reports, s.NextReport, s.LastReport
	m.reportDirty, m.reportedOnce, m.counters, m.netWake = s.ReportDirty, s.ReportedOnce, s.Counters, s.NetWake
	m.shutdown, m.done, m.exitCode, m.exitBy, m.exitWhy = s.Shutdown, s.Done, s.ExitCode, s.ExitBy, s.ExitWhy
	m.anyAfter = s.AnyAfter
	if s.Gate < -1 || s.Gate >= len(s.Jobs) {
		return nil, fmt.Errorf("core: snapshot: wait gate %d of %d jobs", s.Gate, len(s.Jobs))
	}
	for i, js := range s.Jobs {
		j, err := restoreJob(js)
		if err != nil {
			return nil, fmt.Errorf("core: snapshot: job %d (%s): %w", i, js.Name, err)
		}
		if err := m.place(j); err != nil {
			return nil, fmt.Errorf("core: snapshot: job %d (%s): %w", i, js.Name, err)
		}
	}
	for _, w := range s.Wakes {
		if w.Job < 0 || w.Job >= len(m.jobs) {
			return nil, fmt.Errorf("core: snapshot: a deadline of job %d, of %d jobs", w.Job, len(m.jobs))
		}
		m.wakes = append(m.wakes, wake{at: w.At, seq: w.Seq, job: m.jobs[w.Job]})
	}
	heap.Init(&m.wakes)
	for _, d := range s.Deps {
		m.deps[d.Path] = d
	}
	for _, nl := range s.NetLimits {
		m.netLimits[nl.Via] = &netLimit{start: nl.Start, n: nl.N, dropped: nl.Dropped}
	}
	m.indexAfter()
	m.anyAfter = s.AnyAfter // as it was: removed jobs that were after others may have gone since
	return m, nil
}

func restoreJob(s JobState) (*job, error) {
	if s.Phase < int(idle) || s.Phase > int(stopping) {
		return nil, fmt.Errorf("phase %d", s.Phase)
	}
	if s.Control < int(noOverride) || s.Control > int(forceDisabled) {
		return nil, fmt.Errorf("control %d", s.Control)
	}
	return &job{spec: s.Spec, name: s.Name, index: s.Index, deleted: s.Deleted, phase: phase(s.Phase),
		pid: s.PID, attempt: s.Attempt, startedAt: s.StartedAt, everStarted: s.EverStarted, since: s.Since,
		nextStart: s.NextStart, killAt: s.KillAt, stopRequested: s.StopRequested, done: s.Done,
		waitPending: s.WaitPending, control: override(s.Control), held: s.Held, starts: s.Starts,
		lastExit: s.LastExit, failed: s.Failed, execFailure: s.ExecFailure, depRestarted: s.DepRestarted,
		depPending: s.DepPending, exits: s.Exits, lastCode: s.LastCode, lastSignal: s.LastSignal,
		lastExitAt: s.LastExitAt, hasExited: s.HasExited, controlledBy: s.ControlledBy,
		controlledAt: s.ControlledAt, history: slices.Clone(s.History), wakeAt: s.WakeAt,
		failedRuns: s.FailedRuns, failTimes: slices.Clone(s.FailTimes), gaveUp: s.GaveUp,
		policyWait: s.PolicyWait, quickFail: s.QuickFail, delay: s.Delay, stopSig: s.StopSig,
		h: restoreHealth(s.Health)}, nil
}

func restoreHealth(s HealthState) health {
	return health{ready: s.Ready, readyAt: s.ReadyAt, readyBy: s.ReadyBy, readyHow: s.ReadyHow,
		tries: s.Tries, gap: s.Gap, probeAt: s.ProbeAt, checking: s.Checking, fails: s.Fails,
		watchdogBy: s.WatchdogBy, notReady: s.NotReady, stopping: s.Stopping, early: s.Early, earlyEnd: s.EarlyEnd,
		skipLogged: s.SkipLogged, status: s.Status, inflight: s.Inflight, inflightRun: s.InflightRun,
		sentAt: s.SentAt, last: s.Last, lastAt: s.LastAt, lastOK: s.LastOK, lastOut: s.LastOut,
		failures: s.Failures, ranOK: s.RanOK, ranBad: s.RanBad, checkStop: s.CheckStop,
		stopFree: s.StopFree, stopAt: s.StopAt}
}

// place adds a restored job and the lookups the machine keeps of it.
func (m *Machine) place(j *job) error {
	if !j.deleted {
		if m.byName[j.spec.Name] != nil {
			return fmt.Errorf("a second job named %s", j.spec.Name)
		}
		m.byName[j.spec.Name] = j
	}
	if j.pid != 0 {
		if m.byPID[j.pid] != nil {
			return fmt.Errorf("pid %d is another job's too", j.pid)
		}
		m.byPID[j.pid] = j
	}
	if j.phase == starting {
		m.spawning[spawnKey{j.spec.Name, j.attempt}] = j
	}
	m.jobs = append(m.jobs, j)
	return nil
}

// Stopping: the job's process has been signalled to stop.
func (j JobState) Stopping() bool { return j.Phase == int(stopping) }

// Kept lists the jobs of a snapshot that have a process (for pmtr
// upgrade's "N jobs kept").
func (s Snapshot) Kept() int {
	n := 0
	for _, j := range s.Jobs {
		if j.PID != 0 {
			n++
		}
	}
	return n
}
