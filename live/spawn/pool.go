package spawn

import (
	"sync"
	"time"

	"pmtr/core"
	"pmtr/handover"
)

// DefaultSpawners is how many goroutines start jobs at once. On two cores
// more buys little (the execs themselves use the CPU); a few overlap the
// work around each fork: opening files, pipes, the cgroup (see
// docs/BENCHMARKS.md).
const DefaultSpawners = 4

// A start that takes longer than stuckAfter is waiting on something (a
// mount that does not answer even the statfs of onNetworkFS; jobs whose
// files are on a network file system start through the helper, so that
// their opens and exec cannot hang here): the pool adds a worker in its
// place, up to maxStuck, so that the other jobs keep starting.
const (
	stuckAfter = 2 * time.Second
	maxStuck   = 64
)

type spawnKey struct {
	job     string
	attempt uint64
}

// pool starts jobs off the driver goroutine. Its queue has no bound: the
// driver hands over a burst of thousands of spawns without waiting. A
// spawn cancelled while queued is handed to its worker as cancelled, so
// that it is answered in order and without a fork.
type pool struct {
	mu        sync.Mutex
	cond      *sync.Cond // work queued, closing, or a worker gone
	queue     []core.Spawn
	queued    map[spawnKey]bool
	cancelled map[spawnKey]bool
	closed    bool
	burst     int    // spawns since the queue was last empty
	idle      func() // called when a burst of trimAfter or more spawns is done
	drained   func() // called when no start is queued or under way (stuck ones aside)
	active    int    // starts under way
	work      func(s core.Spawn, cancelled bool)
	size      int                                            // workers wanted when none is stuck
	workers   int                                            // worker goroutines
	stuck     int                                            // workers in a start that took more than stuckAfter
	paused    bool                                           // pmtr upgrade: no start begins
	slow      func(s core.Spawn, d time.Duration, done bool) // told of a stuck start and its end
}

// trimAfter: a burst of this many starts leaves garbage worth returning to
// the kernel once it is over.
const trimAfter = 32

func newPool(work func(s core.Spawn, cancelled bool), n int) *pool {
	if n <= 0 {
		n = DefaultSpawners
	}
	p := &pool{queued: map[spawnKey]bool{}, cancelled: map[spawnKey]bool{}, work: work, size: n}
	p.cond = sync.NewCond(&p.mu)
	p.mu.Lock()
	for range n {
		p.addWorker()
	}
	p.mu.Unlock()
	return p
}

// addWorker starts a worker; p.mu is held.
func (p *pool) addWorker() {
	p.workers++
	go p.run()
}

func (p *pool) submit(s core.Spawn) {
	p.mu.Lock()
	p.queue = append(p.queue, s)
	p.queued[spawnKey{s.Job, s.Attempt}] = true
	p.mu.Unlock()
	p.cond.Signal()
}

// cancel marks a spawn that no worker has taken yet; false if one has.
func (p *pool) cancel(job string, attempt uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := spawnKey{job, attempt}
	if !p.queued[k] {
		return false
	}
	p.cancelled[k] = true
	return true
}

func (p *pool) run() {
	for {
		s, cancelled, ok := p.next()
		if !ok {
			return
		}
		w := &startWatch{s: s, at: time.Now()}
		t := time.AfterFunc(stuckAfter, func() { p.markStuck(w) })
		p.work(s, cancelled)
		t.Stop()
		if !p.finish(w) {
			return
		}
	}
}

// startWatch is one start as the stuck-start timer sees it; its flags are
// guarded by pool.mu.
type startWatch struct {
	s     core.Spawn
	at    time.Time
	stuck bool // counted in pool.stuck
	done  bool // the start returned: too late to count it stuck
}

// next takes the first queued spawn; false when the pool is closed.
func (p *pool) next() (core.Spawn, bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for (len(p.queue) == 0 || p.paused) && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		p.exit()
		return core.Spawn{}, false, false
	}
	s := p.queue[0]
	p.queue[0] = core.Spawn{}
	p.queue = p.queue[1:]
	p.burst++
	p.active++
	k := spawnKey{s.Job, s.Attempt}
	cancelled := p.cancelled[k]
	delete(p.queued, k)
	delete(p.cancelled, k)
	return s, cancelled, true
}

// markStuck counts a worker whose start has taken stuckAfter, and puts
// another worker in its place while fewer than maxStuck are stuck.
func (p *pool) markStuck(w *startWatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.done {
		return
	}
	w.stuck = true
	p.stuck++
	if p.stuck <= maxStuck && !p.closed {
		p.addWorker()
	}
	if p.slow != nil {
		p.slow(w.s, stuckAfter, false)
	}
}

// finish ends one start; false when this worker is no longer wanted (a
// stuck worker came back, so there is one too many).
func (p *pool) finish(w *startWatch) bool {
	p.mu.Lock()
	w.done = true
	p.active--
	p.cond.Broadcast() // pause waits for the starts under way
	if w.stuck {
		p.stuck--
		if p.slow != nil {
			p.slow(w.s, time.Since(w.at), true)
		}
	}
	done := len(p.queue) == 0 && p.burst >= trimAfter
	if done { // a map keeps its size once grown: drop the burst's
		p.queue, p.queued, p.cancelled = nil, map[spawnKey]bool{}, map[spawnKey]bool{}
	}
	if len(p.queue) == 0 {
		p.burst = 0
	}
	drained := len(p.queue) == 0 && p.active-p.stuck == 0
	keep := p.workers-p.stuck <= p.size
	if !keep {
		p.exit()
	}
	p.mu.Unlock()
	if drained && p.drained != nil {
		p.drained()
	}
	if done && p.idle != nil {
		p.idle()
	}
	return keep
}

// exit counts a worker out; p.mu is held.
func (p *pool) exit() {
	p.workers--
	p.cond.Broadcast()
}

// close drops what was not started and waits for the workers, except
// those stuck in a start: that start may never end.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.queue = nil
	p.cond.Broadcast()
	for p.workers > p.stuck {
		p.cond.Wait()
	}
}

// pause holds the workers between starts: it reports, within, that no
// start is under way.
func (p *pool) pause(within time.Duration) bool {
	t := time.AfterFunc(within, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(within)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for p.active > 0 && time.Now().Before(deadline) {
		p.cond.Wait()
	}
	return p.active == 0
}

func (p *pool) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.cond.Broadcast()
}

// notBegun lists the spawns not begun, in order, with the withdrawn ones
// marked.
func (p *pool) notBegun() []handover.Spawn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]handover.Spawn, len(p.queue))
	for i, s := range p.queue {
		out[i] = handover.Spawn{Spawn: s, Cancelled: p.cancelled[spawnKey{s.Job, s.Attempt}]}
	}
	return out
}
