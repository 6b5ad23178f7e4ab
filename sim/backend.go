package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// Run is one simulated process lifetime.
type Run struct {
	For        time.Duration // how long it runs before exiting by itself; 0 = until stopped
	ForMax     time.Duration // if set, For is drawn from [For, ForMax] with the backend's seed
	Exit       int           // its exit status when it ends by itself
	Signal     int           // or the signal it dies of (non-zero wins)
	IgnoreTerm bool          // its stop signal (SIGTERM) does nothing; only SIGKILL ends it
	ExitsOn    int           // if set, the one signal besides SIGKILL that ends it; others do nothing
	StopDelay  time.Duration // time from SIGTERM to exit
	SpawnError string        // non-empty: no process starts; the error's errno name
	ExecError  string        // non-empty: the process starts (as a helper does) but its exec fails
	Orphans    int           // processes it leaves behind, reparented to pmtr
	OOM        bool          // it ends killed by the OOM killer (SIGKILL)

	// Readiness and health (health.go): ready ReadyAfter its start (never
	// with ReadyNever), its checks failing within CheckFails, each probe
	// answering after ProbeTakes, WATCHDOG=1 every WatchdogEvery until
	// WatchdogUntil (0: its whole life).
	ReadyAfter    time.Duration
	ReadyNever    bool
	CheckFails    Window
	ProbeTakes    time.Duration
	WatchdogEvery time.Duration
	WatchdogUntil time.Duration
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
	start  core.Time
	exitAt core.Time // scheduled exit, or core.Never
	exitEv core.Exited
	run    Run
}

// Backend is the simulated world of a driver: a process table, files and
// virtual time. Answers to the driver's requests (spawns, reads) come back
// through Next after the step that asked, as they do live; exits come at
// their scheduled times.
type Backend struct {
	now      core.Time
	limit    core.Time // Next pauses rather than pass this time
	inbox    []queued  // answers, spawns to begin and outside inputs due now, in order
	nextPID  int
	procs    map[int]*proc
	queue    evQueue
	timedQ   timedQueue // probe answers and what processes say
	seq      uint64
	scripts  map[string]*Script
	runs     map[string]int // spawns so far, per job
	failNext string         // one-shot spawn failure, for property tests
	execNext string         // one-shot exec failure, for property tests
	rng      *rand.Rand
	files    map[string]string        // config files by path
	deps     map[string]core.DepState // dependency files by resolved path
	writing  map[string]bool          // files a program holds open for writing
	Setup    driver.Setup             // the last setup the driver applied
	Reads    int                      // reads of the config file so far
}

// queued is an input for the driver, or a spawn that begins (and is
// answered) when its turn comes, as a live spawner takes it from its queue.
type queued struct {
	in        driver.Input
	spawn     *core.Spawn
	cancelled bool
}

var _ driver.Backend = (*Backend)(nil)

// NewBackend returns an empty process table; pids start at 100.
func NewBackend(scripts map[string]*Script) *Backend {
	if scripts == nil {
		scripts = map[string]*Script{}
	}
	return &Backend{nextPID: 100, procs: map[int]*proc{}, scripts: scripts, runs: map[string]int{},
		rng: rand.New(rand.NewPCG(1, 2)), files: map[string]string{}, deps: map[string]core.DepState{},
		writing: map[string]bool{}}
}

// Seed sets the source of random run lengths (ForMax); the same seed gives
// the same run.
func (b *Backend) Seed(seed uint64) { b.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// FailNextSpawn makes the next spawn fail with errno (e.g. "ENOENT").
func (b *Backend) FailNextSpawn(errno string) { b.failNext = errno }

// FailNextExec makes the next spawn start a process whose exec fails.
func (b *Backend) FailNextExec(errno string) { b.execNext = errno }

// SetFile writes a config file.
func (b *Backend) SetFile(path, text string) { b.files[path] = text }

// RemoveFile deletes a config file.
func (b *Backend) RemoveFile(path string) { delete(b.files, path) }

// SetDep sets a dependency file's state.
func (b *Backend) SetDep(st core.DepState) { b.deps[st.Path] = st }

// SetWriting marks a file (config, dependency or key) as held open for
// writing by another program (a save in progress), or no longer held. A
// held file is not read: it is named in FilesRead.Writing, as live does.
func (b *Backend) SetWriting(path string, held bool) {
	if held {
		b.writing[path] = true
	} else {
		delete(b.writing, path)
	}
}

// Inject queues an input from outside (an edit's reload, a control
// message, a signal) to be handled now.
func (b *Backend) Inject(in driver.Input) { b.inbox = append(b.inbox, queued{in: in}) }

// Now is the virtual time.
func (b *Backend) Now() core.Time { return b.now }

// Next hands out queued inputs first, then the earlier of the next exit and
// the deadline (an exit first on a tie); it returns nil, with the time at
// the limit, when nothing is due by then.
func (b *Backend) Next(deadline core.Time) driver.Input {
	if len(b.inbox) > 0 {
		q := b.inbox[0]
		b.inbox = b.inbox[1:]
		switch {
		case q.spawn == nil:
			return q.in
		case q.cancelled:
			return driver.Event{At: b.now, Ev: core.SpawnCancelled{Job: q.spawn.Job, Attempt: q.spawn.Attempt}}
		}
		return b.begin(*q.spawn)
	}
	at, ok := b.nextExit()
	if t, tok := b.nextTimed(); tok && (!ok || t < at) {
		at, ok = t, true
	}
	if deadline != core.Never && (!ok || deadline < at) {
		at, ok = deadline, true
	}
	if !ok || at > b.limit {
		b.now = max(b.now, b.limit)
		return nil
	}
	b.now = max(b.now, at)
	if ev, ok := b.due(); ok {
		return ev
	}
	if ev, ok := b.dueTimed(); ok {
		return driver.Event{At: b.now, Ev: ev}
	}
	return driver.Tick{}
}

func (b *Backend) answer(ev core.Event) { b.Inject(driver.Event{At: b.now, Ev: ev}) }

// Start queues a spawn; it begins when its turn comes.
func (b *Backend) Start(e core.Spawn) { b.inbox = append(b.inbox, queued{spawn: &e}) }

// Cancel withdraws a spawn that has not begun.
func (b *Backend) Cancel(e core.Cancel) {
	for i := range b.inbox {
		if s := b.inbox[i].spawn; s != nil && s.Job == e.Job && s.Attempt == e.Attempt {
			b.inbox[i].cancelled = true
		}
	}
}

// begin answers a spawn from the job's script: the answer now, what
// follows (an exec failure) queued.
func (b *Backend) begin(e core.Spawn) driver.Input {
	n := b.runs[e.Job]
	b.runs[e.Job]++
	r := b.scripts[e.Job].run(n)
	if b.failNext != "" {
		r.SpawnError, b.failNext = b.failNext, ""
	}
	if b.execNext != "" {
		r.ExecError, b.execNext = b.execNext, ""
	}
	if r.SpawnError != "" {
		return driver.Event{At: b.now, Ev: core.SpawnFailed{Job: e.Job, Attempt: e.Attempt, Reason: execText(e, r.SpawnError)}}
	}
	if r.ForMax > r.For {
		r.For += time.Duration(b.rng.Int64N(int64(r.ForMax - r.For + 1)))
	}
	p := &proc{pid: b.nextPID, job: e.Job, run: r, exitAt: core.Never, start: b.now}
	b.nextPID++
	b.procs[p.pid] = p
	if r.ExecError == "" {
		b.tell(e, p)
	}
	switch {
	case r.ExecError != "":
		b.answer(core.ExecFailed{Job: e.Job, PID: p.pid, Reason: execText(e, r.ExecError)})
		p.run.Orphans = 0
		b.schedule(p, b.now, core.Exited{PID: p.pid, Status: 255})
	case r.For > 0:
		ex := core.Exited{PID: p.pid, Status: r.Exit, Signal: r.Signal}
		if r.OOM {
			ex = core.Exited{PID: p.pid, Signal: core.SIGKILL, OOM: true}
		}
		b.schedule(p, b.now+core.Time(r.For), ex)
	}
	return driver.Event{At: b.now, Ev: core.Spawned{Job: e.Job, Attempt: e.Attempt, PID: p.pid}}
}

var errnoText = map[string]string{
	"ENOENT": "No such file or directory",
	"EACCES": "Permission denied",
}

func execText(e core.Spawn, errno string) string {
	text := errnoText[errno]
	if text == "" {
		text = errno
	}
	return fmt.Sprintf("can't exec %s: %s", argv0(e), text)
}

func argv0(e core.Spawn) string {
	if e.Spec == nil || len(e.Spec.Cmd) == 0 {
		return ""
	}
	return e.Spec.Cmd[0]
}

// Signal delivers a signal to a process by its script.
func (b *Backend) Signal(e core.Kill) {
	p := b.procs[e.PID]
	if p == nil {
		return
	}
	switch {
	case e.Signal == core.SIGKILL:
		b.schedule(p, b.now, core.Exited{PID: p.pid, Signal: core.SIGKILL})
	case p.run.IgnoreTerm, p.run.ExitsOn != 0 && e.Signal != p.run.ExitsOn:
	default: // the job's stop signal: SIGTERM unless its stop signal says otherwise
		at := b.now + core.Time(p.run.StopDelay)
		if p.exitAt == core.Never || at < p.exitAt {
			b.schedule(p, at, core.Exited{PID: p.pid, Signal: e.Signal})
		}
	}
}

// Report and Log are seen in the transcript (the driver's hooks).
func (b *Backend) Report(string) {}
func (b *Backend) Log(core.Log)  {}

// Apply records the setup.
func (b *Backend) Apply(s driver.Setup) { b.Setup = s }

// simFiles are the simulated files as confgrammar reads them: a file
// held open for writing is not read (held lists those met).
type simFiles struct {
	b    *Backend
	held []string
}

var errHeld = errors.New("is held open for writing by another program")

func (s *simFiles) ReadFile(name string) ([]byte, error) {
	if s.b.writing[name] {
		s.held = append(s.held, name)
		return nil, errHeld
	}
	text, ok := s.b.files[name]
	if !ok {
		return nil, errors.New("No such file or directory")
	}
	return []byte(text), nil
}

func (s *simFiles) Glob(pattern string) ([]string, error) {
	return confgrammar.MapFS(s.b.files).Glob(pattern)
}

// Read answers from the simulated files. A dependency never set exists
// with empty content. The simulated host has no interfaces and nothing
// host-dependent to warn about, so a checked config (r.Check) comes back
// with no Warnings and no HostErr.
func (b *Backend) Read(r driver.ReadRequest) {
	f := driver.FilesRead{Seq: r.Seq}
	if r.Config != "" {
		b.Reads++
		fsys := &simFiles{b: b}
		f.Config = confgrammar.Gather(r.Config, fsys)
		f.Writing = append(f.Writing, fsys.held...)
	}
	for _, p := range r.Keys {
		k := driver.KeyFile{Path: p}
		if b.writing[p] {
			f.Writing = append(f.Writing, p)
		} else if text, ok := b.files[p]; ok && text != "" {
			k.Key = []byte(text)
		} else {
			k.Err = fmt.Errorf("can't read key file %s: No such file or directory", p)
		}
		f.Keys = append(f.Keys, k)
	}
	for _, p := range r.Deps {
		st, ok := b.deps[p]
		if b.writing[p] {
			f.Writing = append(f.Writing, p)
			st = core.DepState{Path: p, Missing: true}
		} else if !ok {
			st = depState(p, "", false)
		}
		f.Deps = append(f.Deps, st)
	}
	b.Inject(f)
}

func (b *Backend) schedule(p *proc, at core.Time, ev core.Exited) {
	p.exitAt, p.exitEv = at, ev
	b.seq++
	heap.Push(&b.queue, pending{at: at, seq: b.seq, pid: p.pid})
}

// nextExit is the time of the next scheduled exit; ok is false when none is.
func (b *Backend) nextExit() (at core.Time, ok bool) {
	for len(b.queue) > 0 {
		q := b.queue[0]
		if p := b.procs[q.pid]; p != nil && p.exitAt == q.at {
			return q.at, true
		}
		heap.Pop(&b.queue)
	}
	return 0, false
}

// due returns the first exit due by now and removes that process; its
// orphans' exits are queued right after it.
func (b *Backend) due() (driver.Input, bool) {
	t, ok := b.nextExit()
	if !ok || t > b.now {
		return nil, false
	}
	q := heap.Pop(&b.queue).(pending)
	p := b.procs[q.pid]
	delete(b.procs, p.pid)
	for i := 0; i < p.run.Orphans; i++ {
		b.answer(core.Exited{PID: b.nextPID})
		b.nextPID++
	}
	return driver.Event{At: b.now, Ev: p.exitEv}, true
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
func (b *Backend) Crash(pid, status, signal int) {
	if p := b.procs[pid]; p != nil {
		b.schedule(p, b.now, core.Exited{PID: pid, Status: status, Signal: signal})
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
