package probe

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
)

// Kind is what a probe does.
type Kind uint8

const (
	TCP  Kind = iota + 1 // connect to HOST:PORT
	HTTP                 // GET a URL: a 2xx or 3xx answer is ok
	Exec                 // run a program: exit 0 is ok
	File                 // a path exists
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case HTTP:
		return "http"
	case Exec:
		return "exec"
	case File:
		return "file"
	}
	return "unknown"
}

// ID names one attempt: its job and the caller's sequence number.
type ID struct {
	Job string
	Seq uint64
}

// Request is one attempt.
type Request struct {
	ID      ID
	Kind    Kind
	Target  string        // tcp: HOST:PORT; http: the URL; file: the path
	Timeout time.Duration // from the attempt's start; 0: DefaultTimeout
	Exec    ExecSpec      // exec only
}

// ExecSpec is the program an exec probe runs, and as whom.
type ExecSpec struct {
	Argv   []string            // Argv[0] as the job's cmd: not searched in PATH, relative to Dir
	Env    []string            // the whole environment; nil: pmtr's own
	Dir    string              // "": pmtr's working directory
	Cred   *syscall.Credential // nil: pmtr's own user
	Cgroup string              // a cgroup v2 directory to run in (the job's), or ""
}

// Result is how an attempt went.
type Result struct {
	ID      ID
	Kind    Kind
	OK      bool
	Outcome string // one line for the log and pmtr why: "http://127.0.0.1:8080/healthz answered 503"
	Output  string // exec: the first 200 bytes of its output; http: of the body; escaped (logsafe)
	Started time.Time
	Ended   time.Time
}

// DefaultTimeout bounds an attempt whose request gives none.
const DefaultTimeout = time.Second

// Config is what New needs.
type Config struct {
	Deliver func(Result) // called once per attempt started, on the runner's goroutines; must not block
	Clock   clock.Clock  // stamps and timeouts; nil: the real clock
	Net     int          // http and tcp-to-a-host-name attempts at once (tcp to an IP address: unbounded, one goroutine); 0: 64
	Exec    int          // exec attempts at once (each forks); 0: 4
	File    int          // file attempts at once (a stat may hang on a network file system); 0: 4
	Spawn   Spawner      // starts exec probes; nil: ForkAndWait
}

// Runner runs attempts; see the package doc.
type Runner struct {
	deliver func(Result)
	clock   clock.Clock
	spawn   Spawner
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu     sync.Mutex
	busy   map[string]bool // jobs with an attempt queued or running
	lanes  [File + 1]lane  // by kind (see laneOf): tcp and http share one
	conn   connector       // tcp attempts to IP addresses
	closed bool
}

// lane is the queue of one group of kinds and its count of workers.
type lane struct {
	limit   int
	workers int
	queue   []Request
	head    int
}

// New makes a runner; it starts no goroutine until asked for an attempt.
func New(cfg Config) *Runner {
	r := &Runner{deliver: cfg.Deliver, clock: cfg.Clock, spawn: cfg.Spawn, busy: map[string]bool{}}
	if r.clock == nil {
		r.clock = clock.New()
	}
	if r.spawn == nil {
		r.spawn = ForkAndWait
	}
	if r.deliver == nil {
		r.deliver = func(Result) {}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.lanes[HTTP].limit = orDefault(cfg.Net, 64)
	r.lanes[Exec].limit = orDefault(cfg.Exec, 4)
	r.lanes[File].limit = orDefault(cfg.File, 4)
	return r
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// laneOf: tcp and http share one lane.
func (r *Runner) laneOf(k Kind) *lane {
	switch k {
	case Exec, File:
		return &r.lanes[k]
	}
	return &r.lanes[HTTP]
}

// Start queues an attempt and returns at once. It returns false, and
// nothing is delivered, when the job's previous attempt has not reported
// yet (the caller logs it as skipped) or the runner is closed.
func (r *Runner) Start(req Request) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.busy[req.ID.Job] {
		return false
	}
	r.busy[req.ID.Job] = true
	if req.Kind == TCP {
		if addr, ok := ipTarget(req.Target); ok && r.startConnect(req, addr) {
			return true
		}
	}
	l := r.laneOf(req.Kind)
	l.queue = append(l.queue, req)
	if l.workers < l.limit {
		l.workers++
		r.workers.Add(1)
		go r.work(l)
	}
	return true
}

// Busy reports whether the job has an attempt queued or running.
func (r *Runner) Busy(job string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy[job]
}

// work runs the lane's attempts until none is left. The job is free for
// its next attempt before its result is delivered, so that a caller may
// start the next one as soon as it hears of this one.
func (r *Runner) work(l *lane) {
	defer r.workers.Done()
	for {
		r.mu.Lock()
		if r.closed || l.head == len(l.queue) {
			l.workers--
			r.mu.Unlock()
			return
		}
		req := l.queue[l.head]
		l.queue[l.head] = Request{}
		if l.head++; l.head == len(l.queue) {
			l.queue, l.head = l.queue[:0], 0
		}
		r.mu.Unlock()
		res := r.attempt(req)
		r.mu.Lock()
		delete(r.busy, req.ID.Job)
		closed := r.closed
		r.mu.Unlock()
		if !closed {
			r.deliver(res)
		}
	}
}

// Close cancels the attempts that run, drops those that wait and returns
// once no attempt runs; Deliver is not called after it returns.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	for i := range r.lanes {
		r.lanes[i].queue, r.lanes[i].head = nil, 0
	}
	r.busy = map[string]bool{}
	r.conn.queue = nil
	if r.conn.set != nil {
		r.conn.set.Wake()
	}
	r.mu.Unlock()
	r.cancel()
	r.workers.Wait()
	if r.conn.set != nil {
		r.conn.set.Close()
	}
}

func (r *Runner) attempt(req Request) Result {
	res := Result{ID: req.ID, Kind: req.Kind, Started: r.clock.Now()}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := r.clock.WithTimeout(r.ctx, timeout)
	switch req.Kind {
	case TCP:
		res.OK, res.Outcome = r.tcp(ctx, req.Target, timeout)
	case HTTP:
		res.OK, res.Outcome, res.Output = r.http(ctx, req.Target, timeout)
	case Exec:
		res.OK, res.Outcome, res.Output = r.exec(ctx, req.Exec, timeout)
	case File:
		res.OK, res.Outcome = file(req.Target)
	default:
		res.Outcome = "probe: unknown kind " + req.Kind.String()
	}
	cancel()
	res.Ended = r.clock.Now()
	return res
}
