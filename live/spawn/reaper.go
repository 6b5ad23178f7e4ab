package spawn

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/driver"
)

// procTable keeps the order of what the driver hears about a process:
// Spawned before its exit, a helper's exec failure before its exit. The
// reaper never waits for a fork (a fork whose exec hangs on a dead NFS
// server would stop every exit): an exit it cannot place while forks are
// in flight is held until the fork that made it has queued its Spawned.
type procTable struct {
	mu       sync.Mutex
	forks    int                  // forks in flight
	early    map[int]driver.Event // exits of pids not known yet, held while forks are in flight
	awaiting map[int]bool         // helpers whose exec status is not in yet
	held     map[int]driver.Event // their exits, held until it is
	stopped  map[int]string       // job groups pmtr has signalled: leader pid -> job
	jobs     map[int]string       // every job's process whose Spawned is queued: pid -> job
	watched  map[int]*watchedProc // processes started for pmtr itself (exec probes): told, not reported
}

func newProcTable() *procTable {
	return &procTable{early: map[int]driver.Event{}, awaiting: map[int]bool{}, held: map[int]driver.Event{},
		stopped: map[int]string{}, jobs: map[int]string{}, watched: map[int]*watchedProc{}}
}

// forking counts a fork about to be made.
func (t *procTable) forking() {
	t.mu.Lock()
	t.forks++
	t.mu.Unlock()
}

// forked ends a fork: pid (0 when the fork failed) is job's and its
// Spawned is queued. It returns the exits to send now, in order: pid's
// own if it was reaped already (unless a helper's exec status is awaited:
// then it is held for that), and, once no fork is in flight, those of
// processes no fork claimed (orphans, or a child whose exec failed).
func (t *procTable) forked(pid int, job string) []driver.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forks--
	var out []driver.Event
	if pid > 0 {
		t.jobs[pid] = job
		if ev, ok := t.early[pid]; ok {
			delete(t.early, pid)
			delete(t.jobs, pid)
			if t.awaiting[pid] {
				t.held[pid] = ev
			} else {
				out = append(out, ev)
			}
		}
	}
	if t.forks == 0 {
		for p, ev := range t.early {
			out = append(out, ev)
			delete(t.early, p)
		}
	}
	return out
}

func (t *procTable) await(pid int) {
	t.mu.Lock()
	t.awaiting[pid] = true
	t.mu.Unlock()
}

// jobOf forgets and returns the job of a reaped pid ("" for an orphan).
func (t *procTable) jobOf(pid int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	job := t.jobs[pid]
	delete(t.jobs, pid)
	return job
}

func (t *procTable) stopping(pid int, job string) {
	t.mu.Lock()
	t.stopped[pid] = job
	t.mu.Unlock()
}

// release ends the wait for pid's exec status and returns its held exit.
func (t *procTable) release(pid int) (driver.Event, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.awaiting, pid)
	ev, ok := t.held[pid]
	delete(t.held, pid)
	return ev, ok
}

// exited decides what to do with a reaped pid: hold its exit (true) while
// its exec status is awaited, or while it is not known (job "") and a fork
// in flight may be the one that made it. Once the leader of a group pmtr
// stopped is gone, whatever is left of the group gets SIGKILL, so no
// process of a stopped job survives; stopped names that job (its cgroup is
// emptied before the exit is told), else "".
func (t *procTable) exited(ev driver.Event, pid int, job string) (hold bool, stopped string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exitedLocked(ev, pid, job)
}

// reaped is exited for the reaper, which first looks again, under the same
// lock, whether pid is a watched process: its watch may have been
// registered since the reaper last looked (its fork had just returned).
// Looked up apart, such a probe's exit was held as an unknown child's and
// then sent to the driver: the probe waited for it for good, and pmtr's
// stop with it (TestLiveExecCheckKilledAtTimeout, in runs of the suite
// side by side). A watched process's exit is told to its onExit, and hold
// is true: nothing goes to the driver.
func (t *procTable) reaped(ev driver.Event, ws unix.WaitStatus, pid int, job string) (hold bool, stopped string) {
	t.mu.Lock()
	if w := t.watched[pid]; w != nil {
		delete(t.watched, pid)
		w.reaped = true
		unix.Kill(-pid, unix.SIGKILL)
		t.mu.Unlock()
		w.onExit(ws)
		return true, ""
	}
	defer t.mu.Unlock()
	return t.exitedLocked(ev, pid, job)
}

func (t *procTable) exitedLocked(ev driver.Event, pid int, job string) (hold bool, stopped string) {
	if job == "" && t.forks > 0 {
		t.early[pid] = ev
		return true, ""
	}
	if job, ok := t.stopped[pid]; ok {
		delete(t.stopped, pid)
		unix.Kill(-pid, unix.SIGKILL)
		stopped = job
	}
	if t.awaiting[pid] {
		t.held[pid] = ev
		return true, stopped
	}
	return false, stopped
}

// reap is the only place pmtr waits for children. Each kick (a SIGCHLD, or
// the first pass at start) drains every exited child, because SIGCHLDs
// coalesce: one signal may stand for many exits. Orphans adopted as
// subreaper or PID 1 are reaped here too and reported like any exit. Each
// exit is stamped with the time it was reaped.
func (p *Processes) reap() {
	for {
		p.reaping.Lock()
		ok := p.drain()
		p.reaping.Unlock()
		if !ok {
			return
		}
		select {
		case <-p.kick:
		case <-p.d.Stop:
			return
		}
	}
}

func (p *Processes) drain() bool {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return true
		}
		if p.procs.reapedWatched(pid, ws) {
			continue
		}
		ex := core.Exited{PID: pid, Status: ws.ExitStatus()}
		job := p.procs.jobOf(pid)
		if ws.Signaled() {
			ex = core.Exited{PID: pid, Signal: int(ws.Signal())}
			ex.OOM = ws.Signal() == unix.SIGKILL && job != "" && p.d.Contain.OOMKilled(job)
		}
		ev := driver.Event{At: p.d.Now(), Ev: ex}
		p.d.Contain.Ended(pid)
		hold, stopped := p.procs.reaped(ev, ws, pid, job)
		switch {
		case hold:
		case stopped != "" && p.d.Contain.Cgroups():
			// A stopped job counts as stopped once its cgroup is empty.
			p.telling.Add(1)
			go func() {
				defer p.telling.Done()
				p.d.Contain.Empty(stopped, 5*time.Second)
				p.d.Send(ev)
			}()
		case !p.d.Send(ev):
			return false
		}
	}
}

// watchedProc is a process pmtr started for itself (an exec probe): its
// exit goes to onExit, not to the driver.
type watchedProc struct {
	onExit func(unix.WaitStatus)
	reaped bool
}

// reapedWatched: pid was a watched process; what is left of its group is
// killed (a probe leaves nothing behind: the group's number stays its own
// while any member lives) and onExit told.
func (t *procTable) reapedWatched(pid int, ws unix.WaitStatus) bool {
	t.mu.Lock()
	w := t.watched[pid]
	if w != nil {
		delete(t.watched, pid)
		w.reaped = true
		unix.Kill(-pid, unix.SIGKILL)
	}
	t.mu.Unlock()
	if w != nil {
		w.onExit(ws)
	}
	return w != nil
}

// watch registers a watched process, before its fork is counted done:
// later exits go to onExit; one reaped while it was forking (held as
// early) is told now.
func (t *procTable) watch(pid int, onExit func(unix.WaitStatus)) *watchedProc {
	w := &watchedProc{onExit: onExit}
	t.mu.Lock()
	ev, early := t.early[pid]
	delete(t.early, pid)
	if !early {
		t.watched[pid] = w
	} else {
		w.reaped = true
	}
	t.mu.Unlock()
	if early {
		ex := ev.Ev.(core.Exited)
		ws := unix.WaitStatus(ex.Status << 8)
		if ex.Signal != 0 {
			ws = unix.WaitStatus(ex.Signal)
		}
		onExit(ws)
	}
	return w
}

// killWatched sends SIGKILL to a watched process's group, unless it has
// been reaped (then the number may be someone else's).
func (t *procTable) killWatched(pid int, w *watchedProc) {
	t.mu.Lock()
	if !w.reaped {
		unix.Kill(-pid, unix.SIGKILL)
	}
	t.mu.Unlock()
}
