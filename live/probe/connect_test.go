package probe

import (
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// silentTarget is a loopback address whose listener does not accept and
// whose queue is full: a connect to it gets no answer. Accepting on fd
// makes room.
func silentTarget(t *testing.T) string {
	addr, _ := silentListener(t)
	return addr
}

func silentListener(t *testing.T) (string, int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	// Fill the queue: the connects that complete stay queued (never
	// accepted); once one gets no answer, the queue is full.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr, fd
		}
		t.Cleanup(func() { c.Close() })
		if i == 100 {
			t.Fatal("the listener's queue does not fill")
		}
	}
}

// An attempt to an address with no answer ends at its timeout, worded as
// the dialer words it, and holds up no other attempt.
func TestConnectNoAnswer(t *testing.T) {
	silent := silentTarget(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	r, c := newRunner(t, Config{})
	if !r.Start(Request{ID: ID{"slow", 1}, Kind: TCP, Target: silent, Timeout: 300 * time.Millisecond}) {
		t.Fatal("refused")
	}
	for i := range 50 {
		if !r.Start(Request{ID: ID{"j" + strconv.Itoa(i), 1}, Kind: TCP, Target: ln.Addr().String(), Timeout: quiet}) {
			t.Fatal("refused")
		}
	}
	for range 50 {
		if res := c.next(t); !res.OK || res.ID.Job == "slow" {
			t.Fatalf("%+v before the 50 good ones", res)
		}
	}
	res := c.next(t)
	if res.OK || res.ID.Job != "slow" || res.Outcome != silent+": no answer within 300ms" {
		t.Fatalf("%+v", res)
	}
	if d := res.Ended.Sub(res.Started); d < 300*time.Millisecond {
		t.Fatalf("gave up after %v", d)
	}
	if r.Busy("slow") {
		t.Fatal("still busy after its result")
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// A connect that waits for its answer (the listener's queue was full,
// then had room when the SYN was sent again) succeeds once it comes.
func TestConnectAnsweredLater(t *testing.T) {
	addr, fd := silentListener(t)
	r, c := newRunner(t, Config{})
	if !r.Start(Request{ID: ID{"late", 1}, Kind: TCP, Target: addr, Timeout: quiet}) {
		t.Fatal("refused")
	}
	for deadline := time.Now().Add(quiet); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		n := len(r.conn.queue)
		r.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attempt was not taken")
		}
	}
	nfd, _, err := unix.Accept(fd) // room for the SYN sent again (after 1 s)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(nfd)
	if res := c.next(t); !res.OK || res.Outcome != addr+" accepted a connection" {
		t.Fatalf("%+v", res)
	}
}

// IPv6 literals are connected to as well.
func TestConnectIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	go acceptAll(ln)
	addr := ln.Addr().String()
	r, c := newRunner(t, Config{})
	if res := run(t, r, c, Request{ID: ID{"v6", 1}, Kind: TCP, Target: addr, Timeout: quiet}); !res.OK || res.Outcome != addr+" accepted a connection" {
		t.Fatalf("%+v", res)
	}
	ln.Close()
	if res := run(t, r, c, Request{ID: ID{"v6", 2}, Kind: TCP, Target: addr, Timeout: quiet}); res.OK || res.Outcome != addr+": connection refused" {
		t.Fatalf("%+v", res)
	}
}

// Many attempts at once, to an open and a closed port, each report once
// with its own outcome; host names go through the dialer.
func TestConnectMany(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r, c := newRunner(t, Config{})
	targets := []string{ln.Addr().String(), closedAddr, "localhost:" + port}
	const n = 600
	for i := range n {
		if !r.Start(Request{ID: ID{"j" + strconv.Itoa(i), 7}, Kind: TCP, Target: targets[i%3], Timeout: quiet}) {
			t.Fatalf("j%d refused", i)
		}
	}
	seen := map[string]bool{}
	for range n {
		res := c.next(t)
		i, _ := strconv.Atoi(res.ID.Job[1:])
		want := targets[i%3] + " accepted a connection"
		if i%3 == 1 {
			want = closedAddr + ": connection refused"
		}
		if seen[res.ID.Job] || res.Outcome != want || res.OK != (i%3 != 1) || res.ID.Seq != 7 || res.Kind != TCP {
			t.Fatalf("%+v (want %q)", res, want)
		}
		seen[res.ID.Job] = true
	}
}

// Close while attempts wait for an answer returns, closes their sockets
// and delivers nothing.
func TestConnectCloseWhileWaiting(t *testing.T) {
	silent := silentTarget(t)
	c := newCollector()
	r := New(Config{Deliver: c.deliver})
	for i := range 20 {
		if !r.Start(Request{ID: ID{"j" + strconv.Itoa(i), 1}, Kind: TCP, Target: silent, Timeout: time.Hour}) {
			t.Fatal("refused")
		}
	}
	// Wait until the connector holds them all.
	for deadline := time.Now().Add(quiet); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		n := len(r.conn.queue)
		r.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attempts were not taken")
		}
	}
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(quiet):
		t.Fatal("Close did not return")
	}
	if n := len(r.conn.pending); n != 0 {
		t.Fatalf("%d sockets left open", n)
	}
	select {
	case res := <-c.ch:
		t.Fatalf("delivered after Close: %+v", res)
	default:
	}
	if r.Start(Request{ID: ID{"j0", 2}, Kind: TCP, Target: silent}) {
		t.Fatal("Start after Close accepted")
	}
}

// Only IP literals with a port and no zone are connected to directly.
func TestIPTarget(t *testing.T) {
	for target, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "[::ffff:127.0.0.1]:80": true,
		"localhost:80": false, "127.0.0.1": false, "127.0.0.1:0": false, "[fe80::1%lo]:80": false, "": false} {
		if _, ok := ipTarget(target); ok != want {
			t.Errorf("ipTarget(%q) = %v, want %v", target, ok, want)
		}
	}
}
