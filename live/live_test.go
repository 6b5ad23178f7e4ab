package live

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/live/ctlsock"
	"pmtr/live/files"
	"pmtr/live/hostfacts"
	"pmtr/live/logsink"
	"pmtr/live/logsink/logtest"
	"pmtr/live/spawn"
	"pmtr/procfs"
	"pmtr/proctest"
)

// These tests run the daemon in-process with real children (/bin/sh,
// /bin/sleep). They run one at a time: the daemon's reaper waits for every
// child of the test process. They signal only processes their daemon
// started, and count only those that carry the test's mark (proctest).

// eventWait bounds the wait for something that comes within milliseconds
// on a quiet machine (a log line, a file written, a process started or
// gone): a passing test never waits that long, and a busy machine (two
// copies of the suite on two cores) fails no good submission.
const eventWait = 30 * time.Second

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == spawn.HelperArg {
		os.Exit(spawn.RunHelper())
	}
	if len(os.Args) > 1 && os.Args[1] == notifySenderArg {
		os.Exit(notifySender(os.Args[2:]))
	}
	// Each run in a PID namespace of its own (as root): it sees and
	// signals only its own processes, and leaves none behind.
	if code, done := proctest.Isolate(); done {
		os.Exit(code)
	}
	// The tests' sockets and replay records stay out of the real /run/pmtr.
	dir, err := os.MkdirTemp("", "pmtr-run-")
	if err != nil {
		panic(err)
	}
	hostfacts.RootRunDir = filepath.Join(dir, "pmtr")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// running is one in-process daemon under test.
type running struct {
	t      *testing.T
	dir    string
	conf   string
	out    *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startDaemon(t *testing.T, conf string) *running {
	t.Helper()
	return startDaemonLog(t, conf, nil)
}

// startDaemonLog also copies the log to extra, when set.
func startDaemonLog(t *testing.T, conf string, extra io.Writer) *running {
	t.Helper()
	return startDaemonWith(t, conf, extra, false)
}

// startDaemonStatus also serves the status socket.
func startDaemonStatus(t *testing.T, conf string) *running {
	t.Helper()
	return startDaemonWith(t, conf, nil, true)
}

// markJobs gives the jobs of a daemon t starts in-process t's mark (the
// daemon hands its environment down to them), so that they are t's to
// count and are killed when t ends; go test -short skips t.
func markJobs(t *testing.T) {
	t.Helper()
	proctest.Heavy(t)
	if stuckDaemon != "" {
		t.Fatalf("the daemon of %s did not stop: its reaper would take this test's exits", stuckDaemon)
	}
	t.Setenv(proctest.EnvMark, proctest.Mark(t))
}

// stuckDaemon names the test whose daemon did not stop, if one did.
var stuckDaemon string

func startDaemonWith(t *testing.T, conf string, extra io.Writer, status bool) *running {
	t.Helper()
	markJobs(t)
	dir := t.TempDir()
	r := &running{t: t, dir: dir, conf: filepath.Join(dir, "pmtr.conf"), out: &logtest.Buffer{}, done: make(chan error, 1)}
	var sink io.Writer = r.out
	if extra != nil {
		sink = io.MultiWriter(r.out, extra)
	}
	r.write(conf)
	cfg, src, err := files.ReadConfig(r.conf, func(string) {})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	o := Options{ConfigPath: r.conf, Config: cfg, Files: src, Log: logsink.NewStderrLogger(sink, 0)}
	if status {
		o.StatusSocket = ctlsock.Path(r.conf)
	}
	go func() {
		_, err := Run(ctx, o)
		r.done <- err
	}()
	t.Cleanup(r.stop)
	r.waitWatched()
	r.waitListening(conf)
	return r
}

var listenRx = regexp.MustCompile(`listen on udp://(127)\.(\d+)\.(\d+)\.(\d+):(\d+)`)

// waitListening waits until the config's loopback control listeners are
// bound: they are set up after the jobs may have started, and a datagram
// sent before is lost. (The kernel lists bound sockets in /proc/net/udp.)
func (r *running) waitListening(conf string) {
	r.t.Helper()
	for _, m := range listenRx.FindAllStringSubmatch(conf, -1) {
		var ip [4]int
		for i := range ip {
			ip[i], _ = strconv.Atoi(m[1+i])
		}
		port, _ := strconv.Atoi(m[5])
		want := fmt.Sprintf(" %02X%02X%02X%02X:%04X ", ip[3], ip[2], ip[1], ip[0], port)
		for deadline := time.Now().Add(eventWait); ; time.Sleep(5 * time.Millisecond) {
			if b, _ := os.ReadFile("/proc/net/udp"); strings.Contains(string(b), want) {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("no socket bound to %s.%s.%s.%s:%d within %v; log:\n%s", m[1], m[2], m[3], m[4], port, eventWait, r.out)
			}
		}
	}
}

// waitWatched waits until the daemon watches the config's directory: the
// watch is set after the jobs may have started, and a save made before it
// is in place goes unseen. (The kernel lists a process's inotify watches,
// by inode, in /proc/PID/fdinfo.)
func (r *running) waitWatched() {
	r.t.Helper()
	st, err := os.Stat(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	want := fmt.Sprintf(" ino:%x ", st.Sys().(*syscall.Stat_t).Ino)
	for deadline := time.Now().Add(eventWait); !watched(want); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(r.out.String(), "can't watch files") {
			return // polling instead
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the daemon does not watch %s within %v; log:\n%s", r.dir, eventWait, r.out)
		}
	}
}

// watched: an inotify watch of this process has the fdinfo words want.
func watched(want string) bool {
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); l != "anon_inode:inotify" {
			continue
		}
		info, _ := os.ReadFile(strings.Replace(fd, "/fd/", "/fdinfo/", 1))
		if strings.Contains(string(info), want) {
			return true
		}
	}
	return false
}

// write replaces the config text; {{dir}} stands for the test's directory.
func (r *running) write(conf string) {
	if err := os.WriteFile(r.conf, []byte(strings.ReplaceAll(conf, "{{dir}}", r.dir)), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// reload asks the daemon to rescan, as SIGHUP does.
func (r *running) reload(conf string) {
	r.write(conf)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		r.t.Fatal(err)
	}
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(eventWait):
		// Its reaper would take the exits of every later test's jobs: those
		// fail at once (startDaemonWith), and the stacks say where it hangs.
		stuckDaemon = r.t.Name()
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		var procs strings.Builder
		for _, pid := range proctest.Marked(r.t) {
			if p, ok := procfs.Stat(pid); ok {
				fmt.Fprintf(&procs, "%d ppid %d pgid %d %s %q\n", pid, p.PPID, p.PGID, p.State, procfs.Cmdline(pid))
			}
		}
		r.t.Errorf("daemon did not stop within %v\n%s\nthe test's processes:\n%s\ngoroutines:\n%s", eventWait, r.out, procs.String(), stacks)
	}
}

// waitLog waits for a log line matching re and returns its submatches.
func (r *running) waitLog(re string, within time.Duration) []string {
	r.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(r.out.String()); m != nil {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("no log line matching %q within %v; log:\n%s", re, within, r.out)
	return nil
}

func (r *running) count(re string) int {
	return len(regexp.MustCompile(re).FindAllString(r.out.String(), -1))
}

func (r *running) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name))
	return string(b)
}

func (r *running) waitFile(name, want string, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(r.file(name), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("%s does not contain %q within %v (has %q); log:\n%s", name, want, within, r.file(name), r.out)
}

func pidOf(t *testing.T, s string) int {
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool { return procfs.Alive(pid) }

func groupMembers(pgid int) []int { return procfs.GroupMembers(pgid) }

func fmtSscanf(stamp string, sec, ms *int64) (int, error) {
	return fmt.Sscanf(stamp, "+%d.%03ds", sec, ms)
}

// waitBlockedWriting waits until t's process comm waits to write to a
// full pipe (its wait channel, /proc/PID/wchan, is the pipe's write).
func waitBlockedWriting(t *testing.T, comm string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		for _, pid := range proctest.Marked(t) {
			wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
			if p, ok := procfs.Stat(pid); ok && p.Comm == comm && strings.Contains(string(wchan), "pipe_write") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process %s of the test waits to write to a full pipe within %v", comm, eventWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockedWriter never returns from Write until released.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

// TestLiveBlockedLogStallsNothing: a log sink that blocks (a stderr pipe
// nobody reads) neither stops supervision nor loses count of its lines.
func TestLiveBlockedLogStallsNothing(t *testing.T) {
	markJobs(t)
	w := blockedWriter{release: make(chan struct{})}
	dir := t.TempDir()
	conf := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(conf, []byte("job {\nname noisy\ncmd /bin/sh -c \"yes line | head -n 20000; exec /bin/sleep 70\"\n}\njob {\nname steady\ncmd /bin/sleep 71\n}\n"), 0o644)
	cfg, src, err := files.ReadConfig(conf, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	lg := logsink.NewStderrLogger(w, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{ConfigPath: conf, Config: cfg, Files: src, Log: lg, StatusSocket: ctlsock.Path(conf)})
		done <- err
	}()
	waitStatus := func(re string) string {
		t.Helper()
		deadline := time.Now().Add(eventWait)
		for {
			text, err := ctlsock.QueryStatus(conf)
			if m := regexp.MustCompile(re).FindStringSubmatch(text); err == nil && m != nil {
				return m[1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("with the log blocked: status %q, %v; %d lines left out", text, err, lg.Dropped())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pid := waitStatus(`(?m)^steady\s+running\s+(\d+)`)
	// The log's queue is full once the output reader waits for room, and
	// the noisy job's pipe fills up behind it: head waits to write.
	waitBlockedWriting(t, "head")
	n, _ := strconv.Atoi(pid)
	syscall.Kill(n, syscall.SIGKILL) // pmtr's lines about it are left out: the queue is full
	waitStatus(`(?m)^steady\s+(waiting)\s`)
	if lg.Dropped() == 0 {
		t.Fatal("no line was counted as left out")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(eventWait):
		t.Fatal("pmtr did not stop with its log blocked")
	}
	close(w.release)
}
