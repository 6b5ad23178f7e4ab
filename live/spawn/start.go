package spawn

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/joboutput"
)

// spawn starts one job, on a pool goroutine, and tells the driver: Spawned
// (then, for a helper that could not exec, ExecFailed) or SpawnFailed.
// The job's output is logged only after the driver has handled Spawned
// (AfterSpawned), so that "started job" comes before the job's first line.
func (p *Processes) spawn(e core.Spawn, cancelled bool) {
	if cancelled {
		p.d.Send(driver.Event{At: p.d.Now(), Ev: core.SpawnCancelled{Job: e.Job, Attempt: e.Attempt}})
		return
	}
	p.d.Rings.SetOutput(e.Job, e.Spec.OutFile(), e.Spec.ErrFile())
	fd, frozen := p.d.Contain.Open(e.Job)
	if fd >= 0 {
		defer unix.Close(fd)
		if frozen != "" { // the fork would wait there, holding one of Go's Ps
			p.failed(e, fmt.Errorf("can't start: its cgroup %s is frozen; thaw it (cgroup.freeze) to let it start", frozen))
			return
		}
	}
	n, err := p.notice(e)
	if err != nil {
		p.failed(e, err)
		return
	}
	l, err := p.launcher.prepare(e.Spec, n)
	if err != nil {
		if n.File != nil {
			n.File.Close()
		}
		p.failed(e, err)
		return
	}
	if fd >= 0 {
		l.attr.Sys.UseCgroupFD, l.attr.Sys.CgroupFD = true, fd
	}
	p.procs.forking()
	pid, err := l.start()
	if err != nil {
		p.sendAll(p.procs.forked(0, ""))
		p.failed(e, err)
		return
	}
	if l.status != nil {
		p.procs.await(pid)
	}
	p.d.Contain.Started(pid, e.Job)
	var pipes []*joboutput.Pipe
	if l.out != nil {
		pipes = append(pipes, p.d.Output.Prepare(l.out, e.Job, pid, false))
	}
	if l.errOut != nil {
		pipes = append(pipes, p.d.Output.Prepare(l.errOut, e.Job, pid, true))
	}
	sp := core.Spawned{Job: e.Job, Attempt: e.Attempt, PID: pid}
	p.started.put(sp, pipes) // read once the driver has logged the start: AfterSpawned
	if !p.d.Send(driver.Event{At: p.d.Now(), Ev: sp}) {
		for _, p := range p.started.take(sp) {
			p.Close()
		}
	}
	evs := p.procs.forked(pid, e.Job) // an exit reaped meanwhile comes after Spawned
	for _, ev := range evs {
		if ex, ok := ev.Ev.(core.Exited); ok && ex.PID == pid {
			p.d.Contain.Ended(pid) // the reaper's remove came before the add
		}
	}
	p.sendAll(evs)
	if l.status != nil {
		p.telling.Add(1) // before this start counts as done: pmtr upgrade waits for it
		go p.execStatus(e.Job, pid, l)
	}
}

// startedPipes holds the output pipes of each started job until the
// driver has performed its Spawned's effects.
type startedPipes struct {
	mu sync.Mutex
	m  map[core.Spawned][]*joboutput.Pipe
}

func (s *startedPipes) put(sp core.Spawned, ps []*joboutput.Pipe) {
	if len(ps) == 0 {
		return
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[core.Spawned][]*joboutput.Pipe{}
	}
	s.m[sp] = ps
	s.mu.Unlock()
}

func (s *startedPipes) take(sp core.Spawned) []*joboutput.Pipe {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.m[sp]
	delete(s.m, sp)
	if len(s.m) == 0 {
		s.m = nil // a map keeps its size: a burst's is let go once answered
	}
	return ps
}

// AfterSpawned is called by the driver once it has logged a job's start:
// the job's output is read from now on. It waits for no system call.
func (p *Processes) AfterSpawned(sp core.Spawned) {
	if ps := p.started.take(sp); len(ps) > 0 {
		p.d.Output.Admit(ps...)
	}
}

// sendAll queues events in order.
func (p *Processes) sendAll(evs []driver.Event) {
	for _, ev := range evs {
		p.d.Send(ev)
	}
}

// execStatus waits for the helper's exec, then lets its exit through.
func (p *Processes) execStatus(job string, pid int, l *launch) {
	defer p.telling.Done()
	if msg := readStatus(l.status); msg != "" {
		p.d.Send(driver.Event{At: p.d.Now(), Ev: core.ExecFailed{Job: job, PID: pid, Reason: msg}})
	}
	if ev, ok := p.procs.release(pid); ok {
		p.d.Send(ev)
	}
}

// failed reports a start that made no process. Running out of descriptors
// is pmtr's problem, not the job's: the log says so first (at most once a
// minute), with the limit, and the job's line blames pmtr.
// The core puts "job NAME: " in front of the reason, so it names no job.
func (p *Processes) failed(e core.Spawn, err error) {
	reason := err.Error()
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		reason = outOfFDs
		last, now := p.fdWarned.Load(), time.Now().UnixNano()
		if now-last >= int64(time.Minute) && p.fdWarned.CompareAndSwap(last, now) {
			p.logf(core.Error, "pmtr has run out of file descriptors (%s); jobs can't start until some are free", nofileLimit())
		}
	}
	p.d.Send(driver.Event{At: p.d.Now(), Ev: core.SpawnFailed{Job: e.Job, Attempt: e.Attempt, Reason: reason}})
}

// outOfFDs is the reason of a start that failed for want of descriptors.
const outOfFDs = "can't start: pmtr, not the job, is out of file descriptors"

func nofileLimit() string {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return "limit unknown"
	}
	return fmt.Sprintf("its limit is %d open files", lim.Cur)
}

// notice asks what the job needs to say it is ready or alive, for a job
// whose spec uses it.
func (p *Processes) notice(e core.Spawn) (StartNotice, error) {
	if p.d.Notice == nil || !e.Spec.UsesNotify() && e.Spec.Ready.Kind != confgrammar.ProbeFD {
		return StartNotice{}, nil
	}
	return p.d.Notice.ForStart(e)
}
