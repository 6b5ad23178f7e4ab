package spawn

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"pmtr/core"
)

// A start that never returns (an exec on a hung NFS server) must not stop
// the other starts, nor pmtr's shutdown.
func TestPoolStartsOthersPastAStuckStart(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var mu sync.Mutex
	started := map[string]bool{}
	work := func(s core.Spawn, _ bool) {
		if s.Job == "stuck0" || s.Job == "stuck1" {
			<-release
			return
		}
		mu.Lock()
		started[s.Job] = true
		mu.Unlock()
	}
	p := newPool(work, 2) // both workers get stuck
	var slow []string
	p.slow = func(s core.Spawn, d time.Duration, done bool) { slow = append(slow, fmt.Sprint(s.Job, done)) } // under p.mu
	p.submit(core.Spawn{Job: "stuck0", Attempt: 1})
	p.submit(core.Spawn{Job: "stuck1", Attempt: 2})
	for i := range 100 {
		p.submit(core.Spawn{Job: fmt.Sprint("j", i), Attempt: uint64(3 + i)})
	}
	// Each stuck start is told stuckAfter after its worker took it, and a
	// worker comes for it: on a busy machine the second may be taken, so
	// told, later than the first, after the others have all started.
	deadline := time.Now().Add(stuckAfter + 30*time.Second)
	for {
		mu.Lock()
		n := len(started)
		mu.Unlock()
		p.mu.Lock()
		told := len(slow)
		p.mu.Unlock()
		if n == 100 && told == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 100 jobs started while two starts were stuck, %d stuck starts told", n, told)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	if p.stuck != 2 || p.workers != 4 || len(slow) != 2 {
		t.Errorf("stuck %d, workers %d, told %v: want 2 stuck, 4 workers, told of both", p.stuck, p.workers, slow)
	}
	p.mu.Unlock()

	closed := make(chan struct{})
	go func() { p.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // at once on a quiet machine; else never
		t.Fatal("close waited for the stuck starts")
	}
}

// A stuck start that comes back is told, and its extra worker goes away.
func TestPoolWorkerCountAfterAStuckStartReturns(t *testing.T) {
	release := make(chan struct{})
	p := newPool(func(s core.Spawn, _ bool) {
		if s.Job == "slow" {
			<-release
		}
	}, 1)
	told := make(chan bool, 2)
	p.slow = func(_ core.Spawn, _ time.Duration, done bool) { told <- done }
	p.submit(core.Spawn{Job: "slow", Attempt: 1})
	if done := <-told; done {
		t.Fatal("first word about a stuck start says it ended")
	}
	close(release)
	if done := <-told; !done {
		t.Fatal("no word when the stuck start ended")
	}
	p.submit(core.Spawn{Job: "after", Attempt: 2})
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		w, s := p.workers, p.stuck
		p.mu.Unlock()
		if w == 1 && s == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %d, stuck %d after the stuck start ended: want 1 and 0", w, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.close()
}
