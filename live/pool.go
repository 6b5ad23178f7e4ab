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

// pool starts jobs off the driver goroutine. Its queue has no bound: the
// driver hands over a burst of thousands of spawns without waiting.
type pool struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []core.Spawn
	closed bool
	wg     sync.WaitGroup
}

func newPool(work func(core.Spawn), n int) *pool {
	if n <= 0 {
		n = DefaultSpawners
	}
	p := &pool{}
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
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) run(work func(core.Spawn)) {
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
		p.mu.Unlock()
		work(s)
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
