package live

import (
	"sync"

	"pmtr/core"
)

// DefaultSpawners is how many goroutines start jobs at once. Go serialises
// the fork itself (syscall.ForkLock), so more buys little; a few overlap
// the work around it: opening files, pipes, the environment (see
// docs/BENCHMARKS.md).
const DefaultSpawners = 4

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
	cond      *sync.Cond
	queue     []core.Spawn
	queued    map[spawnKey]bool
	cancelled map[spawnKey]bool
	closed    bool
	burst     int    // spawns since the queue was last empty
	idle      func() // called when a burst of trimAfter or more spawns is done
	wg        sync.WaitGroup
}

// trimAfter: a burst of this many starts leaves garbage worth returning to
// the kernel once it is over.
const trimAfter = 32

func newPool(work func(s core.Spawn, cancelled bool), n int) *pool {
	if n <= 0 {
		n = DefaultSpawners
	}
	p := &pool{queued: map[spawnKey]bool{}, cancelled: map[spawnKey]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(n)
	for range n {
		go p.run(work)
	}
	return p
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

func (p *pool) run(work func(core.Spawn, bool)) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		s := p.queue[0]
		p.queue[0] = core.Spawn{}
		p.queue = p.queue[1:]
		p.burst++
		k := spawnKey{s.Job, s.Attempt}
		cancelled := p.cancelled[k]
		delete(p.queued, k)
		delete(p.cancelled, k)
		p.mu.Unlock()
		work(s, cancelled)
		p.mu.Lock()
		done := len(p.queue) == 0 && p.burst >= trimAfter
		if done { // a map keeps its size once grown: drop the burst's
			p.queue, p.queued, p.cancelled = nil, map[spawnKey]bool{}, map[spawnKey]bool{}
		}
		if len(p.queue) == 0 {
			p.burst = 0
		}
		p.mu.Unlock()
		if done && p.idle != nil {
			p.idle()
		}
	}
}

// close drops what was not started and waits for the workers.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.queue = nil
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}
