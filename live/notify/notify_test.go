package notify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"
)

// quiet is far beyond what any message here takes to arrive on an idle
// machine (well under 100 ms): waits give up only after it.
const quiet = 30 * time.Second

type harness struct {
	l     *Listener
	dir   string
	notes chan Notification
	mu    sync.Mutex
	logs  []string
}

func newHarness(t *testing.T, clk clock.Clock) *harness {
	h := &harness{dir: t.TempDir(), notes: make(chan Notification, 100)}
	l, err := New(Config{Dir: h.dir, Clock: clk,
		Deliver: func(n Notification) { h.notes <- n },
		Logf: func(format string, args ...any) {
			h.mu.Lock()
			h.logs = append(h.logs, fmt.Sprintf(format, args...))
			h.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.l = l
	t.Cleanup(l.Close)
	return h
}

func (h *harness) next(t *testing.T) Notification {
	t.Helper()
	select {
	case n := <-h.notes:
		return n
	case <-time.After(quiet):
		t.Fatal("no notification")
	}
	return Notification{}
}

func (h *harness) logLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logs...)
}

func (h *harness) open(t *testing.T, job string, belongs func(int) bool) string {
	t.Helper()
	path, err := h.l.Open(job, -1, -1, belongs)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func self(pid int) bool { return pid == os.Getpid() }

// send is a notify sender written here: a plain unix datagram, as
// libsystemd's sd_notify sends it.
func send(t *testing.T, path, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestSocketModeOwnerAndRemoval(t *testing.T) {
	h := newHarness(t, nil)
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65533
	}
	path, err := h.l.Open("db", uid, gid, self)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != h.dir || filepath.Base(path) != "notify.db.sock" {
		t.Fatalf("path %s", path)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != unix.S_IFSOCK|0o600 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Fatalf("mode %o, owner %d:%d; want socket 0600 %d:%d", st.Mode, st.Uid, st.Gid, uid, gid)
	}
	if _, err := h.l.Open("db", -1, -1, self); err == nil {
		t.Fatal("a second socket for db")
	}
	h.l.Remove("db")
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("after Remove: %v", err)
	}
	// A socket file left by an earlier pmtr is replaced.
	if err := os.WriteFile(filepath.Join(h.dir, "notify.web.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.Open("web", -1, -1, self); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("over a regular file: %v", err)
	}
	os.Remove(filepath.Join(h.dir, "notify.web.sock"))
	p1 := h.open(t, "web", self)
	h.l.Close()
	if _, err := os.Lstat(p1); !os.IsNotExist(err) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestSocketNames(t *testing.T) {
	for job, want := range map[string]string{
		"db":      "notify.db.sock",
		"web-1_a": "notify.web-1_a.sock",
	} {
		if got := socketName(job); got != want {
			t.Errorf("socketName(%q) = %q, want %q", job, got, want)
		}
	}
	seen := map[string]string{}
	for _, job := range []string{"a/b", "a.b", "a b", "a_b", "../x", strings.Repeat("long", 30), strings.Repeat("long", 31)} {
		name := socketName(job)
		if strings.ContainsAny(name, "/ ") || len(name) > 60 || seen[name] != "" {
			t.Errorf("socketName(%q) = %q (seen for %q)", job, name, seen[name])
		}
		seen[name] = job
	}
}

// A sender written here: its words arrive with its pid, the status
// escaped; unknown keys are ignored.
func TestGoSender(t *testing.T) {
	h := newHarness(t, nil)
	path := h.open(t, "worker", self)
	send(t, path, "READY=1\nSTATUS=up \x1b[31mred\nMAINPID=1\nX_OTHER=2")
	n := h.next(t)
	if n.Job != "worker" || n.PID != os.Getpid() || !n.Ready || n.Watchdog || !n.HasStatus || n.Status != `up \e[31mred` || n.At.IsZero() {
		t.Fatalf("%+v", n)
	}
	send(t, path, "WATCHDOG=1")
	if n := h.next(t); !n.Watchdog || n.Ready || n.HasStatus {
		t.Fatalf("%+v", n)
	}
	send(t, path, "STOPPING=1\nSTATUS=")
	if n := h.next(t); !n.Stopping || !n.HasStatus || n.Status != "" {
		t.Fatalf("%+v", n)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want Notification
		ok   bool
	}{
		{"READY=1", Notification{Ready: true}, true},
		{"READY=0", Notification{}, false},
		{"READY=1\n", Notification{Ready: true}, true},
		{"WATCHDOG=trigger", Notification{}, false},
		{"BARRIER=1", Notification{}, false},
		{"STATUS=a=b", Notification{HasStatus: true, Status: "a=b"}, true},
		{"STATUS=" + strings.Repeat("s", 300), Notification{HasStatus: true, Status: strings.Repeat("s", 200) + "..."}, true},
		{"READY=1\nSTATUS=one\nSTATUS=two", Notification{Ready: true, HasStatus: true, Status: "two"}, true},
		{"", Notification{}, false},
		{"\x00\xff", Notification{}, false},
	} {
		n, ok := parse([]byte(tc.msg))
		if n != tc.want || ok != tc.ok {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tc.msg, n, ok, tc.want, tc.ok)
		}
	}
}

// A message from a process that is not the job's is not credited, is
// counted, and is logged once per 10 s. (Here: this test's process
// sending to job b's socket, where only a's process would count.)
func TestOtherSenderDropped(t *testing.T) {
	clk := clock.NewMock()
	h := newHarness(t, clk)
	other := func(pid int) bool { return false }
	pb := h.open(t, "b", other)
	pa := h.open(t, "a", self)
	send(t, pb, "READY=1")
	send(t, pb, "READY=1")
	send(t, pa, "READY=1") // a sentinel: once it is in, b's two were read before it
	if n := h.next(t); n.Job != "a" || !n.Ready {
		t.Fatalf("%+v", n)
	}
	if h.l.Dropped() != 2 || h.l.DroppedBy()[DropNotJob] != 2 {
		t.Fatalf("dropped %d (by reason %v)", h.l.Dropped(), h.l.DroppedBy())
	}
	logs := h.logLines()
	want := fmt.Sprintf("job b: notify message dropped: from pid %d, not a process of the job", os.Getpid())
	if len(logs) != 1 || logs[0] != want {
		t.Fatalf("logs %q", logs)
	}
	clk.Add(dropLogEvery)
	send(t, pb, "WATCHDOG=1")
	send(t, pa, "READY=1")
	h.next(t)
	if logs := h.logLines(); len(logs) != 2 || !strings.HasSuffix(logs[1], "(and 1 more since 00:00:00)") {
		t.Fatalf("logs %q", logs)
	}
}

func TestLongMessageDropped(t *testing.T) {
	h := newHarness(t, nil)
	path := h.open(t, "a", self)
	send(t, path, "READY=1\nSTATUS="+strings.Repeat("x", maxMessage))
	send(t, path, "WATCHDOG=1")
	if n := h.next(t); !n.Watchdog || n.Ready {
		t.Fatalf("%+v", n)
	}
	if h.l.Dropped() != 1 || h.l.DroppedBy()[DropTooLong] != 1 || !strings.Contains(h.logLines()[0], "longer than 4096 bytes") {
		t.Fatalf("dropped %v, logs %q", h.l.DroppedBy(), h.logLines())
	}
}

// A BARRIER=1 message's descriptor is closed once what came before it is
// handled: its sender waits for that (systemd-notify does).
func TestBarrierClosed(t *testing.T) {
	h := newHarness(t, nil)
	path := h.open(t, "a", self)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	send(t, path, "READY=1")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Sendmsg(fd, []byte("BARRIER=1"), unix.UnixRights(int(w.Fd())), &unix.SockaddrUnix{Name: path}, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.SetReadDeadline(time.Now().Add(quiet))
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("barrier: %d, %v", n, err)
	}
	if n := h.next(t); !n.Ready {
		t.Fatalf("%+v", n)
	}
}

// job is a process of a test job: a process group of its own, with
// NOTIFY_SOCKET set, and stdin a pipe. Its first line lets the job go, once
// its group is known to belongs (the scripts here wait for it); closing
// stdin ends it.
type job struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	pgid  atomic.Int64
}

func newJob(env []string, argv ...string) *job {
	j := &job{cmd: exec.Command(argv[0], argv[1:]...)}
	j.cmd.Env = append(os.Environ(), env...)
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	j.cmd.Stdout, j.cmd.Stderr = &j.out, &j.out
	return j
}

// belongs is the credit check the assembly will make without cgroups: the
// sender is in the job's process group.
func (j *job) belongs(pid int) bool {
	g, err := unix.Getpgid(pid)
	return err == nil && g > 0 && int64(g) == j.pgid.Load()
}

func (j *job) start(t *testing.T, socket string) {
	t.Helper()
	j.cmd.Env = append(j.cmd.Env, "NOTIFY_SOCKET="+socket)
	var err error
	if j.stdin, err = j.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		j.stdin.Close()
		syscall.Kill(-j.cmd.Process.Pid, syscall.SIGKILL)
		j.cmd.Wait()
	})
	j.pgid.Store(int64(j.cmd.Process.Pid))
	if _, err := io.WriteString(j.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func (j *job) pid() int { return j.cmd.Process.Pid }

// The systemd-notify command works unchanged, from a shell in the job:
// as root it sends as its parent (the job's shell), else as itself; both
// are the job's. It waits for its barrier, which must be released.
func TestSystemdNotify(t *testing.T) {
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is not installed (command -v systemd-notify finds nothing)")
	}
	h := newHarness(t, nil)
	j := newJob(nil, "/bin/sh", "-c", `read go; systemd-notify --ready --status="warming up"; echo "rc=$?"; exec cat`)
	j.start(t, h.open(t, "svc", j.belongs))
	n := h.next(t)
	if n.Job != "svc" || !n.Ready || n.Status != "warming up" {
		t.Fatalf("%+v", n)
	}
	if g, _ := unix.Getpgid(n.PID); g != j.pid() {
		t.Fatalf("credited pid %d is not in the job's group %d", n.PID, j.pid())
	}
	j.stdin.Close()
	if err := j.cmd.Wait(); err != nil || strings.TrimSpace(j.out.String()) != "rc=0" {
		t.Fatalf("job: %v, output %q", err, j.out.String())
	}
}

// As another user, systemd-notify sends as itself (the kernel lets only
// root claim another pid), to a socket that user owns; it must work too.
// (Its BARRIER=1 comes from it as well, and is checked as well.)
func TestSystemdNotifyAsUser(t *testing.T) {
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is not installed (command -v systemd-notify finds nothing)")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a job as another user")
	}
	h := newHarness(t, nil)
	for _, d := range []string{h.dir, filepath.Dir(h.dir)} { // reachable, not listable
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	j := newJob(nil, "/bin/sh", "-c", `read go; systemd-notify --ready; echo "rc=$?"; exec cat`)
	j.cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	var mu sync.Mutex
	var credited []int
	path, err := h.l.Open("svc", 65534, 65534, func(pid int) bool {
		ok := j.belongs(pid)
		if ok {
			mu.Lock()
			credited = append(credited, pid)
			mu.Unlock()
		}
		return ok
	})
	if err != nil {
		t.Fatal(err)
	}
	j.start(t, path)
	n := h.next(t)
	mu.Lock()
	first := credited[0] // the READY=1 was credited before it was delivered
	mu.Unlock()
	if !n.Ready || first != n.PID || n.PID == j.pid() {
		t.Fatalf("%+v, credited %d, the job's shell is %d", n, first, j.pid())
	}
	j.stdin.Close()
	if err := j.cmd.Wait(); err != nil || strings.TrimSpace(j.out.String()) != "rc=0" {
		t.Fatalf("job: %v, output %q", err, j.out.String())
	}
}

// A python3 sender (the socket module, as python sdnotify does) works.
func TestPythonSender(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	h := newHarness(t, nil)
	j := newJob(nil, py, "-c", `import os, socket, sys
sys.stdin.readline()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nWATCHDOG=1", os.environ["NOTIFY_SOCKET"])
sys.stdin.read()`)
	j.start(t, h.open(t, "py", j.belongs))
	if n := h.next(t); !n.Ready || !n.Watchdog || n.PID != j.pid() {
		t.Fatalf("%+v (python is %d)", n, j.pid())
	}
}

// READY=1 sent by one job's process to another job's socket is not
// credited to either. The sender is this test binary again, as a job's
// process of its own (see TestMain).
func TestReadyToAnotherJobsSocket(t *testing.T) {
	h := newHarness(t, nil)
	b := newJob(nil, "/bin/cat") // b itself says nothing
	pb := h.open(t, "b", b.belongs)
	b.start(t, pb)
	a := newJob([]string{"NOTIFY_TEST_SEND=" + pb}, os.Args[0], "-test.run=^$")
	a.start(t, h.open(t, "a", a.belongs)) // to b's socket, then its own
	n := h.next(t)
	if n.Job != "a" || !n.Ready || n.PID != a.pid() {
		t.Fatalf("%+v (a is %d)", n, a.pid())
	}
	for deadline := time.Now().Add(quiet); h.l.Dropped() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d", h.l.Dropped())
		}
	}
	want := fmt.Sprintf("job b: notify message dropped: from pid %d, not a process of the job", a.pid())
	if logs := h.logLines(); len(logs) != 1 || logs[0] != want {
		t.Fatalf("logs %q", logs)
	}
	select {
	case n := <-h.notes:
		t.Fatalf("also delivered: %+v", n)
	default:
	}
}

// TestMain: with NOTIFY_TEST_SEND set, the binary is a notify sender
// written in Go, a job's process: once its first line of input comes, it
// sends READY=1 to the socket NOTIFY_TEST_SEND names, then to its own
// (NOTIFY_SOCKET), then waits until its stdin closes.
func TestMain(m *testing.M) {
	if other := os.Getenv("NOTIFY_TEST_SEND"); other != "" {
		in := bufio.NewReader(os.Stdin)
		in.ReadString('\n')
		for _, p := range []string{other, os.Getenv("NOTIFY_SOCKET")} {
			c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: p, Net: "unixgram"})
			if err == nil {
				_, err = c.Write([]byte("READY=1"))
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		io.Copy(io.Discard, in)
		return
	}
	os.Exit(m.Run())
}

// runWithPipe runs script with the write end of job's readiness pipe as
// its fd 3, closing pmtr's copy after the fork, as the spawn side will.
func runWithPipe(t *testing.T, h *harness, name string, attempt int, script string) {
	t.Helper()
	w, err := h.l.Pipe(name, attempt)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.ExtraFiles = []*os.File{w}
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
}

// s6 style: the first newline on fd 3 is readiness, reported once.
func TestPipeReady(t *testing.T) {
	h := newHarness(t, nil)
	runWithPipe(t, h, "legacy", 3, `printf 'starting' >&3; printf ' up\n' >&3; printf 'again\n' >&3; exit 0`)
	n := h.next(t)
	if n.Job != "legacy" || n.Attempt != 3 || !n.Ready || n.PipeClosed || n.PID != 0 || n.At.IsZero() {
		t.Fatalf("%+v", n)
	}
	// A sentinel: the next notification is another job's, not a second one of legacy's.
	runWithPipe(t, h, "other", 1, `echo >&3`)
	if n := h.next(t); n.Job != "other" || !n.Ready {
		t.Fatalf("%+v", n)
	}
}

// A pipe closed without a newline: never ready through it.
func TestPipeClosedWithoutNewline(t *testing.T) {
	h := newHarness(t, nil)
	runWithPipe(t, h, "legacy", 1, `printf 'no newline' >&3`)
	if n := h.next(t); n.Job != "legacy" || n.Ready || !n.PipeClosed {
		t.Fatalf("%+v", n)
	}
}

// A new run's pipe replaces the old one, whose read end is closed then;
// ClosePipe closes one; neither reports anything.
func TestPipeReplacedAndClosed(t *testing.T) {
	h := newHarness(t, nil)
	first, err := h.l.Pipe("legacy", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := h.l.Pipe("legacy", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := first.Write([]byte("\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("the first run's pipe after the second's: %v", err)
	}
	h.l.ClosePipe("legacy")
	if _, err := second.Write([]byte("\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("after ClosePipe: %v", err)
	}
	runWithPipe(t, h, "db", 1, `echo >&3`) // a sentinel: the next report is db's
	if n := h.next(t); n.Job != "db" || !n.Ready {
		t.Fatalf("%+v", n)
	}
}
