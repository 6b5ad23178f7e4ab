package accept

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pmtr/core"
)

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Logf(_ core.Level, format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// script is a listener whose Accept fails with EMFILE a number of times,
// then hands out the connections given, then is closed.
type script struct {
	mu    sync.Mutex
	fails int
	conns chan net.Conn
	calls []time.Time
}

func (s *script) Accept() (net.Conn, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	c, ok := <-s.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

func (s *script) Close() error   { return nil }
func (s *script) Addr() net.Addr { return &net.UnixAddr{Name: "script", Net: "unix"} }

// TestAcceptBacksOffWhenOutOfDescriptors: accepts that fail (pmtr is out
// of descriptors, connections wait in the backlog) are tried again after
// 5 ms, then twice as long each time, instead of at once (issue 28, item
// 1: the loop burned a core); the log says so once, and once more when
// accepting works again, and the waiting connection is answered.
func TestAcceptBacksOffWhenOutOfDescriptors(t *testing.T) {
	const fails = 7
	s := &script{fails: fails, conns: make(chan net.Conn, 1)}
	log := &logLines{}
	answered := make(chan struct{})
	done := make(chan struct{})
	go func() {
		Loop(s, Options{What: "the test socket", Limit: 4, Log: log}, func(c net.Conn) { c.Close(); close(answered) })
		close(done)
	}()
	a, b := net.Pipe()
	defer b.Close()
	s.conns <- a
	select {
	case <-answered:
	case <-time.After(60 * time.Second):
		t.Fatal("the connection waiting behind the failed accepts was not answered")
	}
	close(s.conns)
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) != fails+2 {
		t.Fatalf("%d accepts, want %d", len(s.calls), fails+2)
	}
	for i := 1; i <= fails; i++ {
		want := min(firstDelay<<(i-1), maxDelay)
		if gap := s.calls[i].Sub(s.calls[i-1]); gap < want {
			t.Errorf("accept %d came %v after failed accept %d: want at least %v", i+1, gap, i, want)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.lines) != 2 || !strings.Contains(log.lines[0], "can't accept connections on the test socket: Too many open files; trying again after 5ms") ||
		!strings.Contains(log.lines[1], "accepting connections on the test socket again (after 7 failed tries)") {
		t.Fatalf("log:\n%s", strings.Join(log.lines, "\n"))
	}
}

// TestAcceptAnswersAtMostLimitAtOnce: beyond Limit connections being
// answered, the loop accepts no more until one ends (issue 28, item 9).
func TestAcceptAnswersAtMostLimitAtOnce(t *testing.T) {
	const limit, n = 3, 10
	s := &script{conns: make(chan net.Conn)}
	release := make(chan struct{})
	var mu sync.Mutex
	open, peak, total := 0, 0, 0
	ended := make(chan struct{}, n)
	go Loop(s, Options{What: "the test socket", Limit: limit, Log: &logLines{}}, func(c net.Conn) {
		mu.Lock()
		open++
		peak = max(peak, open)
		total++
		mu.Unlock()
		<-release
		mu.Lock()
		open--
		mu.Unlock()
		c.Close()
		ended <- struct{}{}
	})
	var peers []net.Conn
	for range limit + 1 {
		a, b := net.Pipe()
		peers = append(peers, b)
		if len(peers) <= limit {
			s.conns <- a
			continue
		}
		// Limit connections are being answered: the loop waits for a
		// slot and has not called Accept again.
		for n, start := 0, time.Now(); n < limit; {
			if time.Since(start) > time.Minute {
				t.Fatalf("%d of %d connections answered after a minute", n, limit)
			}
			mu.Lock()
			n = open
			mu.Unlock()
			runtime.Gosched()
		}
		s.mu.Lock()
		calls := len(s.calls)
		s.mu.Unlock()
		if calls != limit {
			t.Fatalf("%d accepts while %d connections were answered (limit %d)", calls, limit, limit)
		}
		close(release)
		s.conns <- a
	}
	for range limit + 1 {
		<-ended
	}
	close(s.conns)
	for _, p := range peers {
		p.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > limit || total != limit+1 {
		t.Fatalf("peak %d at once (limit %d), %d answered", peak, limit, total)
	}
}

// TestAcceptPaces: with PerSecond, after a burst of Limit accepts the
// loop accepts no faster than PerSecond (issue 28, item 9: 2000 scrapers
// took a core of pmtr's and slowed restarts to a p99 of 130 ms).
func TestAcceptPaces(t *testing.T) {
	const limit, rate, n = 4, 50, 14
	s := &script{conns: make(chan net.Conn, n)}
	for range n {
		a, b := net.Pipe()
		defer b.Close()
		s.conns <- a
	}
	answered := make(chan struct{}, n)
	done := make(chan struct{})
	go func() {
		Loop(s, Options{What: "the test socket", Limit: limit, PerSecond: rate, Log: &logLines{}}, func(c net.Conn) { c.Close(); answered <- struct{}{} })
		close(done)
	}()
	for range n {
		<-answered
	}
	close(s.conns)
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	step := time.Second / rate
	for i := limit; i < n; i++ {
		if gap := s.calls[i].Sub(s.calls[limit-1]); gap < time.Duration(i-limit+1)*step*9/10 {
			t.Errorf("accept %d came %v after the burst of %d: want at least %v", i+1, gap, limit, time.Duration(i-limit+1)*step)
		}
	}
}
