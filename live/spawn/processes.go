// Package spawn starts, signals and reaps the jobs' processes: a pool of
// spawner goroutines forks each job (directly, or through pmtr's re-exec
// helper when it needs settings made between fork and exec: user, nice,
// CPUs, ulimits, a FIFO or a network file system; the fork is pmtr's own
// clone3 in cgo builds on amd64, clone_cgo.go, else Go's), one reaper goroutine
// waits for every child (pmtr is a subreaper), and a process table keeps
// what the driver hears in order: Spawned before its exit, a helper's exec
// failure before its exit.
//
// Processes owns that state. Start, Cancel, Signal, AfterSpawned and Reap
// return at once: they are the driver's (or the signal goroutine's) to
// call. The forks, file opens and cgroup waits happen on the pool's
// goroutines, each exit is waited for on the reaper's, and a helper's exec
// status is read on a goroutine of its own; all of them answer through
// Send. Close waits for the pool's workers, except those stuck in a start.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/hostfacts"
	"pmtr/live/joboutput"
)

// Logger is pmtr's log; a line with a Job also goes to that job's ring.
type Logger interface{ Log(core.Log) }

// Containment is where a job's processes are kept (contain.Jobs).
type Containment interface {
	Open(job string) (fd int, frozen string)
	Started(pid int, job string)
	Settled() // a burst of starts is over: record what started now
	Ended(pid int)
	SignalLater(job string, sigs ...syscall.Signal)
	Empty(job string, within time.Duration) bool
	OOMKilled(job string) bool
	Cgroups() bool
}

// Output takes a started job's pipes (joboutput.Reader).
type Output interface {
	Prepare(f *os.File, name string, pid int, stderr bool) *joboutput.Pipe
	Admit(ps ...*joboutput.Pipe)
}

// Rings is told where each job's output goes (joboutput.Rings).
type Rings interface{ SetOutput(job, out, errf string) }

// Notice is what a job needs to say it is ready or alive (issue 23); the
// live backend answers from live/notify. ForStart is called on a spawner
// goroutine, once per start of a job whose spec asks for it (ready notify
// or fd, watchdog).
type Notice interface {
	ForStart(e core.Spawn) (StartNotice, error)
}

// StartNotice is added to a start: variables for the job's environment
// (NOTIFY_SOCKET, WATCHDOG_USEC) and a descriptor the job inherits as FD
// (0: none); pmtr's copy, File, is closed right after the fork.
type StartNotice struct {
	Env  []string
	FD   int
	File *os.File
}

// Deps is what Processes works with; the live backend wires them.
type Deps struct {
	Log          Logger
	SplitStreams bool                    // the log keeps priorities: a job's stderr is read apart
	Send         func(driver.Input) bool // queues an input for the driver; false once the run has ended
	Now          func() core.Time
	Stop         <-chan struct{} // closed when the run ends
	Contain      Containment
	Output       Output
	Rings        Rings
	Spawners     int    // goroutines that start jobs (0: DefaultSpawners)
	Notice       Notice // nil: no job may say it is ready (tests)
	BurstOver    func() // nil, or called when a burst of starts is over, before its garbage goes back to the kernel
}

// Processes are the jobs' processes of one run.
type Processes struct {
	d        Deps
	launcher *Launcher
	pool     *pool
	procs    *procTable
	started  startedPipes
	kick     chan struct{}  // a SIGCHLD: the reaper drains
	reaping  sync.Mutex     // held by each drain, and by Pause (handover.go)
	telling  sync.WaitGroup // exits reaped and not yet sent (a stopped job's cgroup being emptied, a helper's exec status)
	fdWarned atomic.Int64   // when pmtr last said it ran out of file descriptors (Unix ns)
}

// New starts the reaper and the pool of spawners.
func New(l *Launcher, d Deps) *Processes {
	l.log, l.split = d.Log, d.SplitStreams
	p := &Processes{d: d, launcher: l, procs: newProcTable(), kick: make(chan struct{}, 1)}
	go p.reap()
	p.pool = newPool(p.spawn, d.Spawners)
	p.pool.idle = func() {
		if d.BurstOver != nil {
			d.BurstOver()
		}
		debug.FreeOSMemory() // a start burst's garbage goes back to the kernel at once
	}
	p.pool.slow = p.slowStart
	p.pool.drained = d.Contain.Settled
	return p
}

// Close drops the spawns not begun and waits for the pool's workers.
func (p *Processes) Close() { p.pool.close() }

// Start queues a spawn; Spawned or SpawnFailed comes back through Send.
func (p *Processes) Start(e core.Spawn) { p.pool.submit(e) }

// Cancel withdraws a spawn still queued; its worker answers SpawnCancelled.
func (p *Processes) Cancel(e core.Cancel) { p.pool.cancel(e.Job, e.Attempt) }

// Reap has the reaper drain the children that have exited (a SIGCHLD
// arrived). It never waits: a drain already due covers this one.
func (p *Processes) Reap() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Signal signals the job's whole process group. The core only asks for
// pids it has not seen exit, and only this process reaps, so the number is
// ours. A stop signal (SIGTERM, or the job's stop signal) is followed by
// SIGCONT, so a stopped (SIGSTOP) job wakes up to act on it instead of
// waiting for the SIGKILL.
func (p *Processes) Signal(e core.Kill) {
	p.procs.stopping(e.PID, e.Job)
	p.signal(e.PID, syscall.Signal(e.Signal))
	if e.Signal != core.SIGKILL {
		p.signal(e.PID, syscall.SIGCONT)
	}
	// Processes that left the group too.
	if e.Signal != core.SIGKILL {
		p.d.Contain.SignalLater(e.Job, syscall.Signal(e.Signal), syscall.SIGCONT)
	} else {
		p.d.Contain.SignalLater(e.Job, syscall.Signal(e.Signal))
	}
}

func (p *Processes) signal(pid int, sig syscall.Signal) {
	err := unix.Kill(-pid, sig)
	if errors.Is(err, unix.ESRCH) {
		err = unix.Kill(pid, sig)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		p.logf(core.Error, "error: %s", hostfacts.Strerror(err))
	}
}

// slowStart logs a start that is stuck (done false) and its end.
// The lines go to the job's log too (pmtr logs JOB).
func (p *Processes) slowStart(s core.Spawn, d time.Duration, done bool) {
	if done {
		p.d.Log.Log(core.Log{Job: s.Job, Level: core.Info, Text: fmt.Sprintf("job %s: its start went on after %s", s.Job, d.Round(time.Millisecond))})
		return
	}
	p.d.Log.Log(core.Log{Job: s.Job, Level: core.Error, Text: fmt.Sprintf("job %s: its start has taken %s so far (its program, dir or "+
		"files are on a file system that does not answer?); the other jobs keep starting", s.Job, d)})
}

// logf writes a line of pmtr's own (about no job in particular).
func (p *Processes) logf(level core.Level, format string, args ...any) {
	p.d.Log.Log(core.Log{Level: level, Text: fmt.Sprintf(format, args...)})
}

// StartWatched starts a process for pmtr itself (an exec probe), in a
// process group of its own as attr asks. Its exit is reaped here, like
// every child's, and told to onExit (on the reaper's goroutine; it must
// not block) instead of the driver. kill sends SIGKILL to its group until
// it is reaped. It may block (a fork): call it off the driver's goroutine.
func (p *Processes) StartWatched(path string, argv []string, attr *os.ProcAttr, onExit func(unix.WaitStatus)) (pid int, kill func(), err error) {
	p.procs.forking()
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil {
		p.sendAll(p.procs.forked(0, ""))
		return 0, nil, err
	}
	pid = proc.Pid
	proc.Release() // the reaper waits for it
	w := p.procs.watch(pid, onExit)
	p.sendAll(p.procs.forked(0, "")) // the fork is done: exits held meanwhile go out
	return pid, func() { p.procs.killWatched(pid, w) }, nil
}
