package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"pmtr/driver"
)

// Latest holds the metrics' values the driver last published
// (driver.Publisher). While no input has changed them since, a scrape
// takes them as they are; else it asks for newer ones and gets them once
// the driver is done with the input at hand: it never waits in the
// driver's queue behind jobs' exits, nor adds to it more than one wake-up
// at a time however many scrape at once.
type Latest struct {
	wake    func() bool  // queues driver.MetricsWanted without waiting; false if it could not
	stale   atomic.Bool  // an input may have changed the values since the last publish
	woken   atomic.Bool  // a wake-up is queued and no publish has come since
	waiting atomic.Int32 // scrapes waiting (for tests)
	mu      sync.Mutex
	n       uint64 // publishes so far
	asked   uint64 // the publish the scrapes wait for: n+1 while one waits
	values  *driver.Metrics
	fresh   chan struct{} // closed, and replaced, at each publish
}

// NewLatest returns a Latest that wakes the driver with wake.
func NewLatest(wake func() bool) *Latest {
	return &Latest{wake: wake, fresh: make(chan struct{})}
}

// Stale: the values may have changed since the last publish (the
// driver's side).
func (l *Latest) Stale() { l.stale.Store(true) }

// Wanted: a scrape waits for a publish (the driver's side).
func (l *Latest) Wanted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked > l.n
}

// Publish takes the driver's values and hands them to the waiting scrapes
// (the driver's side: it never waits).
func (l *Latest) Publish(m driver.Metrics) {
	l.mu.Lock()
	l.values = &m
	l.n++
	l.stale.Store(false)
	close(l.fresh)
	l.fresh = make(chan struct{})
	l.woken.Store(false)
	l.mu.Unlock()
}

// Get returns the values as they are now: the last published while
// nothing changed them since, else values published after it was called,
// waiting for them at most within; false when none came in time.
func (l *Latest) Get(within time.Duration) (driver.Metrics, bool) {
	l.mu.Lock()
	if l.values != nil && !l.stale.Load() {
		defer l.mu.Unlock()
		return *l.values, true
	}
	fresh := l.fresh
	l.asked = l.n + 1
	l.mu.Unlock()
	if l.woken.CompareAndSwap(false, true) && !l.wake() {
		l.woken.Store(false) // the queue is full: the busy driver publishes anyway
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-fresh:
	case <-t.C:
		return driver.Metrics{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.values, true
}
