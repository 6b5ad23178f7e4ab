package udpnet

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"pmtr/core"
)

// pmtr upgrade: the worker holds still, each listen socket's reader stops
// reading (datagrams wait in the socket's buffer), and the sockets go to
// the new binary, which reads on from where this pmtr stopped.

// held: a read failed; while the controller is paused, the reader waits
// for Resume and it reports true.
func (c *controller) held(l *listener) bool {
	c.pmu.Lock()
	if !c.paused {
		c.pmu.Unlock()
		return false
	}
	parked, resume := l.parked, c.resume
	c.pmu.Unlock()
	l.park.Do(func() { close(parked) })
	<-resume
	return true
}

// pause stops every reader, within.
func (c *controller) pause(within time.Duration) bool {
	c.pmu.Lock()
	c.paused, c.resume = true, make(chan struct{})
	var waits []chan struct{}
	for _, l := range c.open {
		l.parked, l.park = make(chan struct{}), sync.Once{}
		waits = append(waits, l.parked)
		l.conn.SetReadDeadline(time.Unix(1, 0)) // the read under way fails at once
	}
	c.pmu.Unlock()
	deadline := time.After(within)
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
			return false
		}
	}
	return true
}

func (c *controller) unpause() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if !c.paused {
		return
	}
	for _, l := range c.open {
		l.conn.SetReadDeadline(time.Time{})
	}
	c.paused = false
	close(c.resume)
}

// Pause holds the worker (a setup or report waits) and stops reading the
// listen sockets, for pmtr upgrade; false when a reader did not stop
// within (Resume all the same).
func (n *Worker) Pause(within time.Duration) bool {
	n.applying.Lock()
	return n.ctl.pause(within)
}

// Resume reads and applies again.
func (n *Worker) Resume() {
	n.ctl.unpause()
	n.applying.Unlock()
}

// Files are descriptors of the listen sockets for the new binary, by
// listen line (close-on-exec duplicates; the caller closes them). Call
// it while paused.
func (n *Worker) Files() (map[string]*os.File, error) {
	out := map[string]*os.File{}
	for id, l := range n.ctl.open {
		f, err := l.conn.File()
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("live: listen on %s: %w", l.spec, err)
		}
		out[id] = f
	}
	return out, nil
}

// inherit takes the listen sockets the pmtr before an upgrade read (by
// listen line); the first setup uses those of its lines and closes the
// others.
func (c *controller) inherit(files map[string]*os.File) {
	for id, f := range files {
		pc, err := net.FilePacketConn(f)
		f.Close()
		conn, ok := pc.(*net.UDPConn)
		if err != nil || !ok {
			c.log.Logf(core.Error, "listen on %s: the socket handed over cannot be used (%v); binding it again", id, err)
			if pc != nil {
				pc.Close()
			}
			continue
		}
		c.inherited[id] = conn
	}
}

// dropInherited closes the inherited sockets no listen line took.
func (c *controller) dropInherited() {
	for id, conn := range c.inherited {
		conn.Close()
		delete(c.inherited, id)
	}
}
