// Package contain keeps each job's processes together, so that a stop
// reaches all of them and nothing of a job outlives pmtr: in a cgroup v2 of
// its own (below pmtr's cgroup, one subtree per config file) where pmtr may
// make one, else by process group, with the leaders' pids and start times
// recorded in the runtime directory. At start it stops what an earlier
// pmtr on the same config left (it was killed), before any job starts.
//
// Jobs owns that state. New blocks while it stops leftovers (seconds), and
// starts the records' writer goroutine when there are no cgroups.
// SignalLater signals on a goroutine of its own and, like Where and
// Cgroups, returns at once: the driver's goroutine may call them. The
// others read or write cgroup files and may wait: Open waits for
// signallings of the job in flight, Empty polls until the cgroup is empty,
// Close kills and removes every job cgroup.
package contain

import (
	"syscall"
	"time"

	"pmtr/core"
)

// Logger is where containment says what it found and what it cannot do.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// Jobs contains the jobs of one pmtr run.
type Jobs struct {
	cg  *cgroups
	rec *records // the jobs' pids, when there are no cgroups to find them by
}

// New finds pmtr's cgroup and makes its subtree, or says in the log why
// containment is by process group only; then stops what an earlier pmtr
// on configPath left. The records' writer stops with stop. report hears
// when containment is degraded (the pid records cannot be written: the
// problem, for status and why) and when it works again ("").
func New(configPath string, log Logger, stop <-chan struct{}, report func(problem string)) *Jobs {
	return newJobs(configPath, log, stop, report, false)
}

// Adopt is New for the pmtr that takes over at pmtr upgrade (this
// process, under another binary): what is in the job cgroups, or in the
// pid records, is its own jobs', kept running.
func Adopt(configPath string, log Logger, stop <-chan struct{}, report func(problem string)) *Jobs {
	return newJobs(configPath, log, stop, report, true)
}

func newJobs(configPath string, log Logger, stop <-chan struct{}, report func(string), adopt bool) *Jobs {
	j := &Jobs{cg: setupCgroups(configPath, log, adopt)}
	if j.cg.base == "" {
		j.rec = newRecords(configPath, log, stop, report, adopt)
	}
	return j
}

// Flush writes the pid records now (without cgroups): pmtr upgrade, so
// that the new binary finds every job even if it cannot read the state.
func (j *Jobs) Flush() {
	if j.rec != nil && j.rec.path != "" {
		j.rec.save()
	}
}

// Cgroups: jobs run in cgroups (else by process group only).
func (j *Jobs) Cgroups() bool { return j.cg.base != "" }

// Open opens (making it if needed) the job's cgroup, for the fork to start
// the job in it; -1 when there is none. The caller closes it after the
// fork. frozen is the cgroup when it is frozen (the fork would wait
// there), else "".
func (j *Jobs) Open(job string) (fd int, frozen string) {
	fd, made := j.cg.open(job)
	if fd < 0 {
		return fd, ""
	}
	return fd, j.cg.frozen(job, fd, made)
}

// Started records a job's new process leader (without cgroups, so that a
// later pmtr can find it).
func (j *Jobs) Started(pid int, job string) {
	if j.rec != nil {
		j.rec.add(pid, job)
	}
}

// Settled: a burst of starts is over; their records are written now.
func (j *Jobs) Settled() {
	if j.rec != nil {
		j.rec.settle()
	}
}

// Ended forgets a reaped process.
func (j *Jobs) Ended(pid int) {
	if j.rec != nil {
		j.rec.remove(pid)
	}
}

// SignalLater signals every process in the job's cgroup, on a goroutine of
// its own; the job's next start waits until that is done.
func (j *Jobs) SignalLater(job string, sigs ...syscall.Signal) { j.cg.signalLater(job, sigs...) }

// Empty kills what is left in the job's cgroup and waits (up to within)
// until nothing is; it reports whether the cgroup is empty.
func (j *Jobs) Empty(job string, within time.Duration) bool { return j.cg.empty(job, within) }

// OOMKilled reports whether the job had an OOM kill since last asked.
func (j *Jobs) OOMKilled(job string) bool { return j.cg.oomKilled(job) }

// Holds: pid is a process of the job's cgroup (false without cgroups).
// It reads /proc: not on the driver's goroutine.
func (j *Jobs) Holds(job string, pid int) bool { return j.cg.holds(job, pid) }

// Dir is the job's cgroup directory, or "" without cgroups (for an exec
// probe to run in it).
func (j *Jobs) Dir(job string) string {
	if j.cg.base == "" {
		return ""
	}
	return j.cg.dir(job)
}

// Where tells how a job is contained, for status and why.
func (j *Jobs) Where(job string) string { return j.cg.where(job) }

// Close kills what is left of every job and removes the cgroups pmtr made,
// or the pid records once their writer has stopped (the run has ended).
func (j *Jobs) Close() {
	j.cg.close()
	if j.rec != nil {
		j.rec.wait()
	}
}
