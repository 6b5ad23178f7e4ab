package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/core"
)

// A pace gives burst turns at once, then one every interval, in the order
// asked; an idle while fills it again.
func TestPaceTurns(t *testing.T) {
	p := newPace(3, 10) // 3 at once, then every 100 ms
	t0 := time.Unix(1000, 0)
	var got []time.Duration
	for range 6 {
		got = append(got, p.turn(t0))
	}
	want := []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("turns %v, want %v", got, want)
	}
	if w := p.turn(t0.Add(350 * time.Millisecond)); w != 50*time.Millisecond {
		t.Fatalf("the next turn at +350ms waits %v, want 50ms", w)
	}
	if w := p.turn(t0.Add(10 * time.Second)); w != 0 {
		t.Fatalf("after an idle while: waits %v", w)
	}
}

type nopLog struct{}

func (nopLog) Logf(core.Level, string, ...any) {}

// A probe of /livez is answered while scrapes wait for their turn: they
// are paced apart (issue 23: a kubelet waited ~20 s behind 2000 scrapers).
func TestLivezDoesNotWaitBehindScrapes(t *testing.T) {
	var scraped atomic.Int32
	pages := Pages{Metrics: func(w io.Writer, _ bool) error { scraped.Add(1); _, err := io.WriteString(w, "m 1\n"); return err },
		Healthz: func() (int, string) { return 200, "ok\n" }, Livez: func() (int, string) { return 200, "ok\n" }}
	s, err := serve("127.0.0.1:0", nopLog{}, pages)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.ln.Addr().String()
	const scrapes = MaxScrapes + 3*MaxPerSecond // the last waits 3 s for its turn
	done := make(chan bool, scrapes)
	for range scrapes {
		go func() { done <- get(addr, "/metrics") == "HTTP/1.1 200 OK" }()
	}
	for scraped.Load() < MaxScrapes { // the burst is answered: the others wait
		time.Sleep(time.Millisecond)
	}
	if got := get(addr, "/livez"); got != "HTTP/1.1 200 OK" {
		t.Fatalf("/livez: %q", got)
	}
	if n := scraped.Load(); n >= scrapes {
		t.Fatalf("/livez was answered after all %d scrapes", n)
	}
	for range scrapes {
		if !<-done {
			t.Fatal("a scrape failed")
		}
	}
}

// get sends a GET of path and returns the status line.
func get(addr, path string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: pmtr\r\n\r\n", path)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err.Error()
	}
	io.Copy(io.Discard, c)
	return strings.TrimSpace(line)
}

// A connection that sends nothing is closed after headWait, not held.
func TestSilentConnectionIsClosed(t *testing.T) {
	s, err := serve("127.0.0.1:0", nopLog{}, Pages{Metrics: func(io.Writer, bool) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(10 * headWait))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v: want the end of the connection", n, err)
	}
	if held := time.Since(t0); held < headWait-100*time.Millisecond {
		t.Fatalf("closed after %v, before headWait (%v)", held, headWait)
	}
}
