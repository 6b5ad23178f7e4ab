package core

import "pmtr/confgrammar"

// phase is where a job's process is in its life.
type phase int

const (
	idle     phase = iota // no process
	starting              // Spawn emitted, waiting for Spawned or SpawnFailed
	running               // process alive
	stopping              // SIGTERM (and maybe SIGKILL) sent, waiting for the exit
)

func (p phase) String() string { return [...]string{"idle", "starting", "running", "stopping"}[p] }

// override is a temporary enable/disable from a Control event; a successful
// reload clears it.
type override int8

const (
	noOverride override = iota
	forceEnabled
	forceDisabled
)

type job struct {
	spec    confgrammar.Job
	name    string // the name in log lines; "NAME(deleted)" once removed
	index   int    // position in start order
	deleted bool

	phase         phase
	pid           int
	attempt       uint64
	startedAt     Time
	everStarted   bool
	since         Time // last change of phase
	nextStart     Time // earliest start while idle
	killAt        Time // stopping: when SIGKILL is due; Never once sent
	stopRequested bool // the running process is being stopped by pmtr
	done          bool // once or exit 33: not started again until edited
	waitPending   bool // a wait job before its first exit: later jobs are held
	control       override
	held          bool // a dependency file is missing
	starts        int
	lastExit      string
	failed        bool   // the last start failed (no process, or its exec failed)
	execFailure   string // why the running process's exec failed, until its exit
	depRestarted  Time   // when a dependency change last restarted it (0: never)
	depPending    bool   // a dependency changed again too soon: restart at depRestarted+DepRestartGap
	exits         [3]int // by ExitReason, for metrics
	lastCode      int    // of the last exit, with lastSignal and lastExitAt
	lastSignal    int
	lastExitAt    Time
	hasExited     bool
	controlledBy  string // who last enabled or disabled it by control, and when
	controlledAt  Time
	history       []Entry // its last log lines: the flight recorder of pmtr why
	wakeAt        Time    // the deadline pushed on the heap for this job, or Never
	gone          bool    // dropped from the machine

	// The restart policy's counts (policy.go).
	failedRuns int    // failed runs in a row; a stable run resets it
	failTimes  []Time // when the last failed runs ended, at most GiveUp.Runs, for give-up
	gaveUp     bool   // give-up reached: failed until nextStart (retry) or pmtr start
	policyWait bool   // nextStart comes from the backoff or give-up option
	quickFail  bool   // the last failed run was shorter than stable (else a failure code)
	delay      Time   // the wait chosen after the last failed run
	stopSig    int    // the signal of the stop under way

	h health // readiness and health (ready.go, checks.go, after.go)
}

// Entry is one line of a job's flight recorder.
type Entry struct {
	At   Time
	Text string
}

// enabled is the config's disable flag, unless a Control event overrides it.
func (j *job) enabled() bool {
	switch j.control {
	case forceEnabled:
		return true
	case forceDisabled:
		return false
	}
	return !j.spec.Disabled
}

// runnable: nothing but time or gating keeps the job from starting.
func (j *job) runnable() bool {
	return j.phase == idle && !j.deleted && !j.done && !j.held && j.enabled() && !j.downForGood() && !j.h.checkStop
}

// gates: this job is a wait job whose first run later jobs must wait for.
func (j *job) gates() bool {
	return j.spec.Wait && j.waitPending && !j.deleted && !j.done && !j.held && j.enabled()
}

// deadline is when the job next needs the machine's attention, or Never.
// An idle job whose start time has passed but that did not start (gated,
// shutting down) needs no timer: the change that frees it rescans the jobs.
func (j *job) deadline(now Time) Time {
	switch j.phase {
	case idle:
		if j.runnable() && j.nextStart > now {
			return j.nextStart
		}
	case running:
		at := Never
		if j.spec.Bounce > 0 && !j.stopRequested {
			at = j.startedAt + Time(j.spec.Bounce)
		}
		if j.depPending && !j.stopRequested && (at == Never || j.depRestarted+DepRestartGap < at) {
			at = j.depRestarted + DepRestartGap
		}
		return j.h.deadline(at, j.checkSlot())
	case stopping:
		return j.killAt
	}
	return Never
}

// deadline is the earlier of at and the run's next readiness or health
// time (a ready attempt waits while an earlier one is out: its result
// sends it). A check comes at the slot boundary at or after its time.
func (h *health) deadline(at Time, slot Time) Time {
	earlier := func(t Time) {
		if t != Never && (at == Never || t < at) {
			at = t
		}
	}
	earlier(h.readyBy)
	earlier(h.watchdogBy)
	if h.checking {
		earlier(slotUp(h.probeAt, slot))
	} else if h.inflight == 0 {
		earlier(h.probeAt)
	}
	return at
}
