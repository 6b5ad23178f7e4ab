package metrics

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/core"
	"pmtr/driver"
)

// TestLatestWakesTheDriverOnce: many scrapes at once queue one wake-up of
// the driver between them, and one publish answers them all with values
// published after they asked (issue 28, item 9: each scrape was a query
// in the driver's queue, behind the jobs' exits).
func TestLatestWakesTheDriverOnce(t *testing.T) {
	var wakes atomic.Int32
	l := NewLatest(func() bool { wakes.Add(1); return true })
	l.Publish(driver.Metrics{Snapshot: driver.Snapshot{Now: 1}})
	if m, ok := l.Get(time.Minute); !ok || m.Now != 1 || wakes.Load() != 0 || l.Wanted() {
		t.Fatalf("unchanged values: got %v %v, %d wake-ups, wanted %v: want them as they are, no wake-up", m.Now, ok, wakes.Load(), l.Wanted())
	}
	l.Stale() // a job exits
	const scrapes = 50
	var wg sync.WaitGroup
	got := make(chan core.Time, scrapes)
	for range scrapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, ok := l.Get(time.Minute); ok {
				got <- m.Now
			}
		}()
	}
	for deadline := time.Now().Add(time.Minute); l.waiting.Load() < scrapes; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d scrapes waiting after a minute", l.waiting.Load(), scrapes)
		}
	}
	if !l.Wanted() || wakes.Load() != 1 {
		t.Fatalf("wanted %v, %d wake-ups queued for %d waiting scrapes: want one", l.Wanted(), wakes.Load(), scrapes)
	}
	l.Publish(driver.Metrics{Snapshot: driver.Snapshot{Now: 2}})
	wg.Wait()
	close(got)
	n := 0
	for now := range got {
		n++
		if now != 2 {
			t.Fatalf("a scrape got values published before it asked (now %v)", now)
		}
	}
	if n != scrapes || l.Wanted() {
		t.Fatalf("%d of %d scrapes answered; wanted still %v", n, scrapes, l.Wanted())
	}
}

// TestLatestTimesOut: without a publish a scrape gives up.
func TestLatestTimesOut(t *testing.T) {
	l := NewLatest(func() bool { return false })
	if _, ok := l.Get(10 * time.Millisecond); ok {
		t.Fatal("values without a publish")
	}
}
