// Package inbox is the one queue from the live backend's goroutines to the
// driver's: every event, file read, reload and query reaches the driver
// through it as a driver.Input, in the order it was sent. Closing it ends
// the run: whoever waits to send gives up instead.
//
// It runs no goroutine. Send waits while the queue is full, until there is
// room or the inbox is closed; TrySend never waits; Ask waits at most its
// timeout; the driver's
// goroutine only receives (C).
package inbox

import (
	"time"

	"pmtr/driver"
)

// Inbox is the queue of one run.
type Inbox struct {
	c    chan driver.Input
	done chan struct{}
}

// New makes an inbox that holds size inputs before senders wait.
func New(size int) *Inbox {
	return &Inbox{c: make(chan driver.Input, size), done: make(chan struct{})}
}

// Send queues an input for the driver; false once the run has ended.
func (q *Inbox) Send(in driver.Input) bool {
	select {
	case q.c <- in:
		return true
	case <-q.done:
		return false
	}
}

// TrySend queues an input if there is room at once; false if not, or
// once the run has ended.
func (q *Inbox) TrySend(in driver.Input) bool {
	select {
	case <-q.done:
		return false
	default:
	}
	select {
	case q.c <- in:
		return true
	default:
		return false
	}
}

// C is what the driver's goroutine receives from.
func (q *Inbox) C() <-chan driver.Input { return q.c }

// Done is closed when the run ends.
func (q *Inbox) Done() <-chan struct{} { return q.done }

// Close ends the run: every sender gives up. Call it once.
func (q *Inbox) Close() { close(q.done) }

// Ask puts a query to the driver and waits for its answer, within; false
// when the driver did not take or answer it in time, or the run ended.
func Ask[T any](q *Inbox, within time.Duration, query func(reply chan<- T) driver.Input) (T, bool) {
	var zero T
	reply := make(chan T, 1)
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case q.c <- query(reply):
	case <-t.C:
		return zero, false
	case <-q.done:
		return zero, false
	}
	select {
	case a := <-reply:
		return a, true
	case <-t.C:
	case <-q.done:
	}
	return zero, false
}
