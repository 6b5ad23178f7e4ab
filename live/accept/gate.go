package accept

import (
	"net"
	"os"
	"sync"
	"time"
)

// Gate lets pmtr upgrade pause a Loop without closing its listener:
// connections that come meanwhile wait in the kernel's backlog (none is
// refused) for this pmtr to resume, or for the new binary, which inherits
// the listener, to accept them. It counts the connections being answered,
// so that the upgrade can wait for them; one that no longer needs this
// process (a long stream, the upgrade's own request) is Released.
//
// Pause and Idle wait; call them off the driver's goroutine.
type Gate struct {
	ln     Deadliner
	mu     sync.Mutex
	paused bool
	parked chan struct{} // closed once the Loop has stopped accepting
	resume chan struct{} // closed by Resume
	busy   map[net.Conn]bool
	idle   *sync.Cond // on mu: busy became empty
}

// Deadliner is a listener whose accept a deadline interrupts, and that
// can be handed to another process (*net.UnixListener, *net.TCPListener).
type Deadliner interface {
	net.Listener
	SetDeadline(t time.Time) error
	File() (*os.File, error)
}

// NewGate makes the gate of ln; pass it in Options.Gate.
func NewGate(ln Deadliner) *Gate {
	g := &Gate{ln: ln, busy: map[net.Conn]bool{}}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// held: the Loop's accept failed; while the gate is paused, it waits for
// Resume and reports true.
func (g *Gate) held() bool {
	g.mu.Lock()
	if !g.paused {
		g.mu.Unlock()
		return false
	}
	parked, resume := g.parked, g.resume
	g.mu.Unlock()
	select {
	case <-parked:
	default:
		close(parked)
	}
	<-resume
	return true
}

func (g *Gate) enter(c net.Conn) {
	g.mu.Lock()
	g.busy[c] = true
	g.mu.Unlock()
}

// Release: c's answer needs this process no more (pmtr logs -f streams
// until its client leaves; pmtr upgrade's own request waits for the
// upgrade). Released again at its end, which does nothing.
func (g *Gate) Release(c net.Conn) {
	g.mu.Lock()
	delete(g.busy, c)
	if len(g.busy) == 0 {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// Pause stops accepting, the listener staying open: it reports, within,
// that no accept is under way (false: the Loop waits for a free slot
// still, and will stop at its next accept).
func (g *Gate) Pause(within time.Duration) bool {
	g.mu.Lock()
	if !g.paused {
		g.paused = true
		g.parked, g.resume = make(chan struct{}), make(chan struct{})
	}
	parked := g.parked
	g.mu.Unlock()
	g.ln.SetDeadline(time.Unix(1, 0)) // the accept under way fails at once
	select {
	case <-parked:
		return true
	case <-time.After(within):
		return false
	}
}

// Idle waits up to within for the connections being answered to end;
// false when some are still.
func (g *Gate) Idle(within time.Duration) bool {
	t := time.AfterFunc(within, func() { g.mu.Lock(); g.idle.Broadcast(); g.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(within)
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.busy) > 0 && time.Now().Before(deadline) {
		g.idle.Wait()
	}
	return len(g.busy) == 0
}

// Resume accepts again.
func (g *Gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return
	}
	g.ln.SetDeadline(time.Time{})
	g.paused = false
	close(g.resume)
}

// File is a descriptor of the listener for the new binary: a duplicate,
// close-on-exec (the upgrade clears that for its exec).
func (g *Gate) File() (*os.File, error) { return g.ln.File() }
