package accept

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestGatePausesWithoutRefusing: while paused, a connection is not
// refused: it waits in the backlog and is answered after Resume; Idle
// waits for the answers under way, and a Released one does not count.
func TestGatePausesWithoutRefusing(t *testing.T) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := NewGate(ln)
	answered := make(chan string, 8)
	hold := make(chan struct{})
	go Loop(ln, Options{What: "test", Limit: 4, Log: &logLines{}, Gate: g}, func(c net.Conn) {
		b := make([]byte, 1)
		c.Read(b)
		if b[0] == 'r' { // a stream: needs this process no more
			g.Release(c)
		}
		if b[0] == 'h' {
			<-hold
		}
		answered <- string(b)
		c.Close()
	})
	dial := func(what string) net.Conn {
		c, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.Write([]byte(what))
		return c
	}
	for round := range 3 { // pause and resume again and again
		dial("a")
		if got := <-answered; got != "a" {
			t.Fatalf("round %d: answered %q", round, got)
		}
		dial("h") // held until told
		c := dial("r")
		defer c.Close()
		<-answered // r
		if !g.Pause(10 * time.Second) {
			t.Fatalf("round %d: the loop did not stop accepting", round)
		}
		if g.Idle(50 * time.Millisecond) {
			t.Fatalf("round %d: idle while a request is held", round)
		}
		late := dial("b") // not refused: waits in the backlog
		defer late.Close()
		hold <- struct{}{}
		<-answered // h
		if !g.Idle(10 * time.Second) {
			t.Fatalf("round %d: not idle once the held request ended", round)
		}
		select {
		case got := <-answered:
			t.Fatalf("round %d: %q answered while paused", round, got)
		case <-time.After(50 * time.Millisecond):
		}
		g.Resume()
		if got := <-answered; got != "b" {
			t.Fatalf("round %d: after Resume, answered %q", round, got)
		}
	}
}
