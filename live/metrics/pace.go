package metrics

import (
	"sync"
	"time"
)

// pace hands out turns: burst at once, then one every interval, in the
// order they were asked for (each caller learns at once when its turn
// is, and waits for it on its own). It is how an endpoint keeps what a
// flood of requests costs pmtr bounded without refusing them: a refused
// scraper comes straight back, an answered one only once its turn came.
type pace struct {
	mu       sync.Mutex
	interval time.Duration
	slack    time.Duration // (burst-1) intervals: how far ahead of now turns may be given at once
	next     time.Time     // the turn after the last one given, were there no burst
}

func newPace(burst, perSecond int) *pace {
	interval := time.Second / time.Duration(max(perSecond, 1))
	return &pace{interval: interval, slack: time.Duration(max(burst, 1)-1) * interval}
}

// turn is how long a request that comes at now waits for its turn.
func (p *pace) turn(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.next
	if next.Before(now) {
		next = now
	}
	p.next = next.Add(p.interval)
	return max(next.Sub(now)-p.slack, 0)
}
