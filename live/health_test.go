package live

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/live/hostfacts"
	"pmtr/procfs"
	"pmtr/proctest"
)

// Readiness and health with real processes (issue 23): tcp and http
// servers run in the test, the notify sender is this test binary, fd 3 is
// written by /bin/sh.

// notifySenderArg runs this test binary as a job that speaks sd_notify:
// it sends its arguments (joined by newlines) to $NOTIFY_SOCKET, or to
// the socket after --to, then stays alive until stopped.
const notifySenderArg = "__pmtr_notify_sender"

func notifySender(args []string) int {
	to := os.Getenv("NOTIFY_SOCKET")
	if len(args) > 1 && args[0] == "--to" {
		to, args = args[1], args[2:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: to, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "notify sender:", err)
		return 1
	}
	if _, err := c.Write([]byte(strings.Join(args, "\n"))); err != nil {
		fmt.Fprintln(os.Stderr, "notify sender:", err)
		return 1
	}
	c.Close()
	fmt.Println("sent")
	time.Sleep(time.Hour)
	return 0
}

func testBinary(t *testing.T) string {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// freePort is a loopback port nothing listens on (yet).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// A job after a tcp-ready one starts only once the port accepts.
func TestLiveReadyTCPGatesAfter(t *testing.T) {
	port := freePort(t)
	r := startDaemon(t, fmt.Sprintf(`job {
name db
cmd /bin/sleep 61
ready tcp 127.0.0.1:%d
}
job {
name web
cmd /bin/sleep 62
after db
}
`, port))
	r.waitLog(`started job db \[\d+\]`, eventWait)
	time.Sleep(300 * time.Millisecond) // some attempts fail: nothing listens
	if r.count(`started job web`) != 0 {
		t.Fatalf("web started before db was ready:\n%s", r.out)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r.waitLog(fmt.Sprintf(`job db is ready: 127\.0\.0\.1:%d accepted a connection[^\n]*\n[^\n]*started job web`, port), eventWait)
}

// http readiness: 503 answers keep the job starting; the first 200 makes
// it ready.
func TestLiveReadyHTTP(t *testing.T) {
	var ok atomic.Bool
	srv := httpServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if !ok.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "fine")
	})
	r := startDaemon(t, fmt.Sprintf("job {\nname web\ncmd /bin/sleep 61\nready http %s/healthz\n}\n", srv))
	r.waitLog(`started job web`, eventWait)
	time.Sleep(400 * time.Millisecond)
	if r.count(`is ready`) != 0 {
		t.Fatalf("ready while the server answers 503:\n%s", r.out)
	}
	ok.Store(true)
	r.waitLog(`job web is ready: http://127\.0\.0\.1:\d+/healthz answered 200`, eventWait)
}

func httpServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// ready notify: READY=1 and STATUS= from the job itself count.
func TestLiveReadyNotify(t *testing.T) {
	r := startDaemon(t, fmt.Sprintf("job {\nname worker\ncmd %s %s READY=1 STATUS=warming\nready notify\n}\njob {\nname next\ncmd /bin/sleep 61\nafter worker\n}\n",
		testBinary(t), notifySenderArg))
	r.waitLog(`job worker is ready: it sent READY=1`, eventWait)
	r.waitLog(`started job next`, eventWait)
}

// READY=1 sent to another job's socket is not credited to that job.
func TestLiveNotifyFromAnotherJobIsDropped(t *testing.T) {
	r := startDaemon(t, "job {\nname a\ncmd /bin/sleep 61\nready notify\n}\n")
	r.waitLog(`started job a`, eventWait)
	dir, err := hostfacts.NotifyDir(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify.a.sock")
	r.reload(fmt.Sprintf("job {\nname a\ncmd /bin/sleep 61\nready notify\n}\njob {\nname b\ncmd %s %s --to %s READY=1\n}\n",
		testBinary(t), notifySenderArg, sock))
	r.waitLog(`job a: notify message dropped: from pid \d+, not a process of the job`, eventWait)
	if r.count(`job a is ready`) != 0 {
		t.Fatalf("a message from job b made a ready:\n%s", r.out)
	}
}

// The notify socket of a job removed from the config, or that no longer
// uses ready notify or watchdog, is closed and its file removed at the
// reload; a job that comes back gets a fresh one that works.
func TestLiveNotifySocketGoesWithItsJob(t *testing.T) {
	three := "job {\nname a\ncmd /bin/sleep 61\nready notify\n}\njob {\nname b\ncmd /bin/sleep 61\nwatchdog 30s\n}\njob {\nname c\ncmd /bin/sleep 61\nready notify\n}\n"
	r := startDaemon(t, three)
	r.waitLog(`started job a`, eventWait)
	r.waitLog(`started job b`, eventWait)
	r.waitLog(`started job c`, eventWait)
	dir, err := hostfacts.NotifyDir(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	sock := func(job string) string { return filepath.Join(dir, "notify."+job+".sock") }
	for _, job := range []string{"a", "b", "c"} {
		if !socketBound(t, sock(job)) {
			t.Fatalf("no socket bound at %s", sock(job))
		}
	}
	r.reload("job {\nname b\ncmd /bin/sleep 61\n}\njob {\nname c\ncmd /bin/sleep 61\nready notify\n}\n")
	waitSocketGone(t, sock("a"))
	waitSocketGone(t, sock("b"))
	if !socketBound(t, sock("c")) {
		t.Fatalf("the socket of c, still in the config, went")
	}
	r.reload(fmt.Sprintf("job {\nname a\ncmd %s %s READY=1\nready notify\n}\njob {\nname c\ncmd /bin/sleep 61\nready notify\n}\n",
		testBinary(t), notifySenderArg))
	r.waitLog(`job a is ready: it sent READY=1`, eventWait)
}

// socketBound: a unix socket is bound at path (in /proc/net/unix, which
// lists a socket until it is closed, its file removed or not) and its
// file is there.
func socketBound(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	bound := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 8 && f[7] == path {
			bound = true
		}
	}
	_, err = os.Lstat(path)
	return bound && err == nil
}

// waitSocketGone waits until no socket is bound at path and its file is
// gone.
func waitSocketGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/self/net/unix")
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Lstat(path)
		if !strings.Contains(string(b), " "+path+"\n") && os.IsNotExist(statErr) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the socket at %s is still open or its file still there after %v", path, eventWait)
}

// ready fd 3: a newline on the descriptor, as s6's notification-fd; the
// same through the exec helper (nice), where the helper's own status pipe
// moves out of the way.
func TestLiveReadyFD(t *testing.T) {
	r := startDaemon(t, `job {
name direct
cmd /bin/sh -c "sleep 0.2; echo >&3; exec /bin/sleep 61"
ready fd 3
}
job {
name helped
cmd /bin/sh -c "echo ready >&3; exec /bin/sleep 62"
ready fd 3
nice 1
}
job {
name closer
cmd /bin/sh -c "exec 3>&-; exec /bin/sleep 63"
ready fd 3
}
`)
	r.waitLog(`job direct is ready: it wrote a newline to fd 3`, eventWait)
	r.waitLog(`job helped is ready: it wrote a newline to fd 3`, eventWait)
	r.waitLog(`job closer: it closed fd 3 without writing a newline, so it cannot become ready; stopping it \(a failed run\)`, eventWait)
}

// An exec check that outlives its timeout is killed with its process
// group, and counts as a failure; exec probes are reaped by pmtr's reaper,
// never reported as jobs' or orphans' exits.
func TestLiveExecCheckKilledAtTimeout(t *testing.T) {
	r := startDaemon(t, `job {
name slow
cmd /bin/sleep 61
check exec /bin/sh -c "/bin/sleep 37; true" every 1s timeout 300ms fails 100
on-check-fail ignore
}
job {
name fine
cmd /bin/sleep 62
check exec /bin/true every 1s
}
job {
name bad
cmd /bin/sleep 63
check exec /bin/sh -c "echo broken; exit 4" every 1s fails 2
on-check-fail stop
}
`)
	r.waitLog(`job slow: check failed \(2 of 100\): /bin/sh timed out after 300ms: its process group was killed`, eventWait)
	r.waitLog(`job bad: check failed \(1 of 2\): /bin/sh exited 4: broken`, eventWait)
	r.waitLog(`job bad: 2 checks failed in a row; stopping it until pmtr start \(on-check-fail stop\)`, eventWait)
	// Each check's sleep is seen running, then gone well before it would
	// end by itself (37 s): its group was killed at the timeout.
	first := map[int]time.Time{}
	for until := time.Now().Add(4 * time.Second); time.Now().Before(until); time.Sleep(10 * time.Millisecond) {
		for _, pid := range proctest.MarkedArgv(t, "/bin/sleep", "37") {
			if _, ok := first[pid]; !ok {
				first[pid] = time.Now()
			}
		}
		for pid, at := range first {
			if procfs.Alive(pid) && time.Since(at) > 3*time.Second {
				t.Fatalf("the timed-out check's sleep %d outlived its timeout by 3 s", pid)
			}
		}
	}
	if len(first) == 0 {
		t.Fatal("no check process was seen running")
	}
	seen := len(first)
	t.Logf("%d running check processes seen, each gone within 3 s", seen)
	if n := r.count(`job fine: check failed|reaped orphan|exited after`); n != 1 { // bad's stop only
		t.Fatalf("%d unexpected lines:\n%s", n, r.out)
	}
}
