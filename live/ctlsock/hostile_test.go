package ctlsock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/inbox"
)

// Hostile callers of the control socket (issue 28, items 4 and 5). Each
// test runs a server on a socket of its own, with a driver that answers
// every command at once and records it.

type logLines struct {
	mu sync.Mutex
	l  []string
}

func (l *logLines) Logf(_ core.Level, format string, args ...any) {
	l.mu.Lock()
	l.l = append(l.l, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

type testServer struct {
	sv   *server
	path string
	log  *logLines
	mu   sync.Mutex
	got  []driver.Input // what reached the driver
}

func startServer(t *testing.T, adjust func(*server)) *testServer {
	t.Helper()
	ts := &testServer{path: filepath.Join(t.TempDir(), "ctl.sock"), log: &logLines{}}
	q := inbox.New(16)
	ts.sv = newServer(Deps{Inbox: q, Log: ts.log, Where: func(string) string { return "process group" },
		Wall: func(core.Time) time.Time { return time.Now() }}, nil)
	if adjust != nil {
		adjust(ts.sv)
	}
	ln, err := net.Listen("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // the driver
		for in := range q.C() {
			ts.mu.Lock()
			ts.got = append(ts.got, in)
			ts.mu.Unlock()
			switch in := in.(type) {
			case driver.Command:
				in.Reply <- driver.Result{Lines: []string{"done"}}
			case driver.PlanQuery:
				in.Reply <- driver.PlanAnswer{}
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go ts.sv.serveConn(c.(*net.UnixConn))
		}
	}()
	t.Cleanup(func() { ln.Close(); q.Close() })
	return ts
}

func (ts *testServer) inputs() []driver.Input {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]driver.Input(nil), ts.got...)
}

// send writes data (all of it, or until the server stops reading and
// closes) while it reads the answer; it returns the answer and how many
// bytes could be written.
func (ts *testServer) send(t *testing.T, data []byte, keepOpen bool) (string, int) {
	t.Helper()
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for n < len(data) {
			k, err := c.Write(data[n:min(len(data), n+64<<10)])
			n += k
			if err != nil {
				break
			}
		}
		if !keepOpen {
			c.(*net.UnixConn).CloseWrite()
		}
		wrote <- n
	}()
	answer, err := io.ReadAll(bufio.NewReader(c))
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("reading the answer: %v (got %q)", err, answer)
	}
	c.Close()
	return string(answer), <-wrote
}

// TestRefusedCallerIsNotRead: a caller who may not use pmtr is refused
// before pmtr reads a byte of its request (a 9 MB request stays unread),
// and the log line names the caller, with none of the caller's bytes
// (which would be raw escape sequences). On the code before issue 28 the
// server read all 9 MB first (50 such callers took pmtr to 702 MB).
func TestRefusedCallerIsNotRead(t *testing.T) {
	ts := startServer(t, func(sv *server) { sv.mayUse = func(uint32) bool { return false } })
	req := []byte("\x1b[2J\x1b]0;owned\astatus " + strings.Repeat("x", 9<<20))
	answer, wrote := ts.send(t, req, true)
	if !strings.HasPrefix(answer, "pmtr/1 1 err\npermission denied: uid ") {
		t.Fatalf("answer %q", answer)
	}
	if wrote > 2<<20 {
		t.Errorf("the refused caller wrote %d bytes: pmtr read its request", wrote)
	}
	log := ts.log.all()
	if len(log) != 1 || !strings.HasPrefix(log[0], "control socket: refused a connection by uid ") || strings.ContainsAny(log[0], "\x1b\a") || len(log[0]) > 200 {
		t.Fatalf("log: %q", log)
	}
	if in := ts.inputs(); len(in) != 0 {
		t.Fatalf("a refused caller's request reached the driver: %v", in)
	}
}

// TestRequestLineIsCapped: a request line longer than MaxLine is refused
// after pmtr has read at most MaxLine bytes and its buffer (on the code
// before issue 28 it read up to 10 MB of it: ten such logLines kept 312 MB).
func TestRequestLineIsCapped(t *testing.T) {
	ts := startServer(t, nil)
	answer, wrote := ts.send(t, []byte("pmtr/2 status "+strings.Repeat("y", 10<<20)), true)
	if !strings.HasPrefix(answer, "pmtr/2 2 err bad-request\nrequest line longer than 65536 bytes") {
		t.Fatalf("answer %q", answer)
	}
	if wrote > 2<<20 {
		t.Errorf("pmtr read %d bytes of a request line it refuses", wrote)
	}
}

// TestRequestWithoutItsEndIsRefused: "stop victim" without its newline,
// the connection left open past the deadline or closed, is refused and
// never reaches the driver (on the code before issue 28 the job was
// stopped when the read timed out).
func TestRequestWithoutItsEndIsRefused(t *testing.T) {
	ts := startServer(t, func(sv *server) { sv.wait = 200 * time.Millisecond })
	for _, c := range []struct {
		open bool
		want string
	}{
		{true, "the request did not end (no newline) within 200ms: nothing was done"},
		{false, "the request ended without its newline: nothing was done"},
	} {
		answer, _ := ts.send(t, []byte("pmtr/2 stop -- victim"), c.open)
		if !strings.HasPrefix(answer, "pmtr/2 2 err bad-request\n"+c.want) {
			t.Errorf("open %v: answer %q", c.open, answer)
		}
	}
	if in := ts.inputs(); len(in) != 0 {
		t.Fatalf("a request without its end reached the driver: %v", in)
	}
	// The same request whole is run.
	if answer, _ := ts.send(t, []byte("pmtr/2 stop -- victim\n"), false); answer != "pmtr/2 0 out\ndone\n" || len(ts.inputs()) != 1 {
		t.Fatalf("a whole request: answer %q, inputs %v", answer, ts.inputs())
	}
}

// TestPlanBodyIsReadUnderADeadline: a plan's config must arrive within
// the deadline (on the code before issue 28 a half-sent plan held its
// connection, and its descriptor, for as long as the client liked) and
// may be no larger than a config pmtr reads.
func TestPlanBodyIsReadUnderADeadline(t *testing.T) {
	ts := startServer(t, func(sv *server) { sv.wait = 200 * time.Millisecond })
	answer, _ := ts.send(t, []byte("pmtr/2 plan\njob {\nname a\n"), true)
	if !strings.HasPrefix(answer, "pmtr/2 1 err\nthe config did not arrive within 200ms: nothing was planned") {
		t.Fatalf("a half-sent plan: answer %q", answer)
	}
	big := append([]byte("pmtr/2 plan\n"), make([]byte, confgrammar.MaxSize+1)...)
	ts.sv.wait = 10 * time.Second
	answer, _ = ts.send(t, big, false)
	if !strings.HasPrefix(answer, "pmtr/2 1 err\nthe config is larger than 10485760 bytes") {
		t.Fatalf("a plan larger than a config: answer %q", answer)
	}
	if in := ts.inputs(); len(in) != 0 {
		t.Fatalf("a refused plan reached the driver: %v", in)
	}
	if answer, _ := ts.send(t, []byte("pmtr/2 plan\njob {\nname a\ncmd /bin/true\n}\n"), false); !strings.HasPrefix(answer, "pmtr/2 0 out\n") || len(ts.inputs()) != 1 {
		t.Fatalf("a whole plan: answer %q, inputs %v", answer, ts.inputs())
	}
}
