package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"pmtr/core"
)

// Run is one simulated process lifetime.
type Run struct {
	For        time.Duration // how long it runs before exiting by itself; 0 = until stopped
	ForMax     time.Duration // if set, For is drawn from [For, ForMax] with the backend's seed
	Exit       int           // its exit status when it ends by itself
	Signal     int           // or the signal it dies of (non-zero wins)
	IgnoreTerm bool          // SIGTERM does nothing; only SIGKILL ends it
	StopDelay  time.Duration // time from SIGTERM to exit
	SpawnError string        // non-empty: the spawn fails with this errno name
	Orphans    int           // processes it leaves behind, reparented to pmtr
}

// Script is a job's behaviour: its runs in order; the last one repeats.
type Script struct{ Runs []Run }

func (s *Script) run(n int) Run {
	if s == nil || len(s.Runs) == 0 {
		return Run{}
	}
	if n >= len(s.Runs) {
		n = len(s.Runs) - 1
	}
	return s.Runs[n]
}

type proc struct {
	pid    int
	job    string
	exitAt core.Time // scheduled exit, or core.Never
	exitEv core.Exited
	run    Run
	orphan bool
}

// Backend is the simulated process table.
type Backend struct {
	nextPID  int
	procs    map[int]*proc
	queue    evQueue
	seq      uint64
	scripts  map[string]*Script
	runs     map[string]int // spawns so far, per job
	failNext string         // one-shot spawn failure, for property tests
	rng      *rand.Rand
}

// NewBackend returns an empty process table; pids start at 100.
func NewBackend(scripts map[string]*Script) *Backend {
	if scripts == nil {
		scripts = map[string]*Script{}
	}
	return &Backend{nextPID: 100, procs: map[int]*proc{}, scripts: scripts, runs: map[string]int{},
		rng: rand.New(rand.NewPCG(1, 2))}
}

// Seed sets the source of random run lengths (ForMax); the same seed gives
// the same run.
func (b *Backend) Seed(seed uint64) { b.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// FailNextSpawn makes the next spawn fail with errno (e.g. "ENOENT").
func (b *Backend) FailNextSpawn(errno string) { b.failNext = errno }

// Apply performs the core's effects at now. Spawn results come back at once
// (as live reports them before anything else happens); exits are scheduled.
func (b *Backend) Apply(now core.Time, effects []core.Effect) []core.Event {
	var out []core.Event
	for _, e := range effects {
		switch e := e.(type) {
		case core.Spawn:
			out = append(out, b.spawn(now, e))
		case core.Kill:
			b.kill(now, e)
		}
	}
	return out
}

var errnoText = map[string]string{
	"ENOENT": "No such file or directory",
	"EACCES": "Permission denied",
}

func (b *Backend) spawn(now core.Time, e core.Spawn) core.Event {
	n := b.runs[e.Job]
	b.runs[e.Job]++
	r := b.scripts[e.Job].run(n)
	if b.failNext != "" {
		r.SpawnError, b.failNext = b.failNext, ""
	}
	if r.SpawnError != "" {
		text := errnoText[r.SpawnError]
		if text == "" {
			text = r.SpawnError
		}
		return core.SpawnFailed{Job: e.Job, Attempt: e.Attempt,
			Reason: fmt.Sprintf("can't exec %s: %s", argv0(e), text)}
	}
	if r.ForMax > r.For {
		r.For += time.Duration(b.rng.Int64N(int64(r.ForMax - r.For + 1)))
	}
	p := &proc{pid: b.nextPID, job: e.Job, run: r, exitAt: core.Never}
	b.nextPID++
	b.procs[p.pid] = p
	if r.For > 0 {
		b.schedule(p, now+core.Time(r.For), core.Exited{PID: p.pid, Status: r.Exit, Signal: r.Signal})
	}
	return core.Spawned{Job: e.Job, Attempt: e.Attempt, PID: p.pid}
}

func argv0(e core.Spawn) string {
	if e.Spec == nil || len(e.Spec.Cmd) == 0 {
		return ""
	}
	return e.Spec.Cmd[0]
}

func (b *Backend) kill(now core.Time, e core.Kill) {
	p := b.procs[e.PID]
	if p == nil {
		return
	}
	switch {
	case e.Signal == core.SIGKILL:
		b.schedule(p, now, core.Exited{PID: p.pid, Signal: core.SIGKILL})
	case e.Signal == core.SIGTERM && !p.run.IgnoreTerm:
		at := now + core.Time(p.run.StopDelay)
		if p.exitAt == core.Never || at < p.exitAt {
			b.schedule(p, at, core.Exited{PID: p.pid, Signal: core.SIGTERM})
		}
	}
}

func (b *Backend) schedule(p *proc, at core.Time, ev core.Exited) {
	p.exitAt, p.exitEv = at, ev
	b.seq++
	heap.Push(&b.queue, pending{at: at, seq: b.seq, pid: p.pid})
}

// Next is the time of the next scheduled exit; ok is false when none is.
// (A time is returned with ok because an exit may be due at +0s.)
func (b *Backend) Next() (at core.Time, ok bool) {
	for len(b.queue) > 0 {
		q := b.queue[0]
		if p := b.procs[q.pid]; p != nil && p.exitAt == q.at {
			return q.at, true
		}
		heap.Pop(&b.queue)
	}
	return 0, false
}

// Due returns the exits that happen by now, in time order, and removes those
// processes. A dying job's orphans are reaped right after it.
func (b *Backend) Due(now core.Time) []core.Event {
	var out []core.Event
	for t, ok := b.Next(); ok && t <= now; t, ok = b.Next() {
		q := heap.Pop(&b.queue).(pending)
		p := b.procs[q.pid]
		delete(b.procs, p.pid)
		out = append(out, p.exitEv)
		for i := 0; i < p.run.Orphans; i++ {
			out = append(out, core.Exited{PID: b.nextPID})
			b.nextPID++
		}
	}
	return out
}

// Live lists the pids of running simulated processes, ascending.
func (b *Backend) Live() []int {
	out := make([]int, 0, len(b.procs))
	for pid := range b.procs {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// Crash ends a live process now, as if it died by itself.
func (b *Backend) Crash(now core.Time, pid, status, signal int) {
	if p := b.procs[pid]; p != nil {
		b.schedule(p, now, core.Exited{PID: pid, Status: status, Signal: signal})
	}
}

type pending struct {
	at  core.Time
	seq uint64
	pid int
}

type evQueue []pending

func (q evQueue) Len() int { return len(q) }
func (q evQueue) Less(i, k int) bool {
	return q[i].at < q[k].at || q[i].at == q[k].at && q[i].seq < q[k].seq
}
func (q evQueue) Swap(i, k int) { q[i], q[k] = q[k], q[i] }
func (q *evQueue) Push(x any)   { *q = append(*q, x.(pending)) }
func (q *evQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
