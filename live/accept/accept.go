// Package accept is the accept loop of pmtr's listeners, the control
// socket's and each metrics endpoint's: it answers each connection on a
// goroutine of its own, at most Limit at once (the others wait in the
// kernel's backlog, costing pmtr nothing), backs off when accepting fails
// (out of descriptors: 5 ms, doubling to 1 s, as net/http does) and says
// so once, and gives memory back to the kernel after a burst.
//
// Loop runs on the goroutine it is called on until the listener closes.
package accept

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"pmtr/core"
	"pmtr/live/hostfacts"
)

// Logger is pmtr's log.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// Options are one listener's.
type Options struct {
	What  string // what listens, for the log: "the control socket /run/pmtr/status-HASH.sock"
	Limit int    // connections answered at once
	// PerSecond, if set, paces the accepts: at most Limit at once, then
	// PerSecond a second; the others wait in the backlog.
	PerSecond int
	Log       Logger
	Gate      *Gate // pmtr upgrade's pause, or nil
}

// The backoff after a failed accept, as net/http's.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = time.Second
)

// burst is how many connections at once make a burst, after which the
// memory their answers took goes back to the kernel once the last ends.
const burst = 16

// Loop accepts connections on ln and answers each on its own goroutine
// until ln closes.
func Loop(ln net.Listener, o Options, answer func(net.Conn)) {
	l := &loop{o: o, slots: make(chan struct{}, max(o.Limit, 1)), tokens: float64(o.Limit)}
	for {
		l.slots <- struct{}{} // wait while Limit connections are answered
		l.pace()
		c, err := ln.Accept()
		if err != nil {
			<-l.slots
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if o.Gate != nil && o.Gate.held() {
				continue
			}
			l.failed(err)
			continue
		}
		if o.Gate != nil {
			o.Gate.enter(c)
		}
		l.accepted()
		go l.serve(c, answer)
	}
}

type loop struct {
	o        Options
	slots    chan struct{}
	delay    time.Duration // the wait after the next failed accept; 0: none failed
	failures int           // accepts failed in a row
	mu       sync.Mutex
	open     int // connections being answered
	peak     int // the most open at once since the last burst ended
	// The pace: accepts that may be made at once, as of when.
	tokens float64
	filled time.Time
}

// pace waits until an accept is due at PerSecond, after a burst of
// Limit.
func (l *loop) pace() {
	if l.o.PerSecond <= 0 {
		return
	}
	now := time.Now()
	l.tokens = min(l.tokens+now.Sub(l.filled).Seconds()*float64(l.o.PerSecond), float64(max(l.o.Limit, 1)))
	l.filled = now
	if l.tokens < 1 {
		wait := time.Duration((1 - l.tokens) / float64(l.o.PerSecond) * float64(time.Second))
		time.Sleep(wait)
		l.tokens, l.filled = 1, now.Add(wait)
	}
	l.tokens--
}

// failed waits before the next accept, longer after each failure, and
// says so on the first.
func (l *loop) failed(err error) {
	if l.failures == 0 {
		l.o.Log.Logf(core.Error, "can't accept connections on %s: %s; trying again after %v, then less often (up to every %v) until it can",
			l.o.What, hostfacts.Strerror(err), firstDelay, maxDelay)
		l.delay = firstDelay
	}
	l.failures++
	time.Sleep(l.delay)
	l.delay = min(2*l.delay, maxDelay)
}

func (l *loop) accepted() {
	if l.failures > 0 {
		l.o.Log.Logf(core.Info, "accepting connections on %s again (after %d failed tries)", l.o.What, l.failures)
		l.failures, l.delay = 0, 0
	}
}

// serve answers c, then frees its slot; the last connection of a burst
// gives the memory back.
func (l *loop) serve(c net.Conn, answer func(net.Conn)) {
	l.mu.Lock()
	l.open++
	l.peak = max(l.peak, l.open)
	l.mu.Unlock()
	answer(c)
	if l.o.Gate != nil {
		l.o.Gate.Release(c)
	}
	l.mu.Lock()
	l.open--
	free := l.open == 0 && l.peak >= burst
	if l.open == 0 {
		l.peak = 0
	}
	l.mu.Unlock()
	<-l.slots
	if free {
		debug.FreeOSMemory()
	}
}
