package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/live/logsink"
	"pmtr/procfs"
	"pmtr/proctest"
)

// These tests run the real pmtr binary, built once, as a user would.

var pmtrBin string

// eventWait bounds the wait for something that comes within milliseconds
// on a quiet machine (a log line, a pid file, a process started or gone):
// a passing test never waits that long, and a busy machine (two copies of
// the suite on two cores) fails no good submission.
const eventWait = 30 * time.Second

func TestMain(m *testing.M) {
	if spec := os.Getenv("PMTR_BENCH_SWARM"); spec != "" { // BenchmarkHostile's scrapers
		os.Exit(swarm(spec))
	}
	// Each run in a PID namespace of its own (as root): it sees and
	// signals only its own processes, and leaves none behind.
	if code, done := proctest.Isolate(); done {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "pmtr-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pmtrBin = filepath.Join(dir, "pmtr")
	// Linked to another name and copied, as make build does (the C
	// linker's file would keep more of pmtr's binary in its memory).
	if out, err := exec.Command("go", "build", "-o", pmtrBin+".link", ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pmtr: %v\n%s", err, out)
		os.Exit(1)
	}
	if out, err := exec.Command("cp", pmtrBin+".link", pmtrBin).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "copy pmtr: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeConf(t *testing.T, text string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "pmtr.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// pmtrCmd is a pmtr command of the test: it and what it starts carry the
// test's mark, and are killed when the test ends.
func pmtrCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return proctest.Command(t, pmtrBin, args...)
}

func runPmtr(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := pmtrCmd(t, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestCheckValidInvalidAndCreated(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname a\ncmd /bin/true\n}\n")
	if out, _, code := runPmtr(t, "-t", "-c", conf); code != 0 || !strings.Contains(out, "ok (1 job)") {
		t.Fatalf("valid: code %d, out %q", code, out)
	}
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("job {\nname a\ncmd /bin/true\n"), 0o644)
	if _, errOut, code := runPmtr(t, "-t", "-c", bad); code != 1 || !strings.Contains(errOut, "parse failed") {
		t.Fatalf("invalid: code %d, stderr %q", code, errOut)
	}
	if _, errOut, code := runPmtr(t, "-F", "-c", bad); code != 1 || !strings.Contains(errOut, "parse failed") {
		t.Fatalf("invalid at start: code %d, stderr %q", code, errOut)
	}
	created := filepath.Join(dir, "new.conf")
	if _, errOut, code := runPmtr(t, "-tc", created); code != 1 || !strings.Contains(errOut, "can't open "+created+": no such file or directory (pmtr -t creates nothing") {
		t.Fatalf("missing file: code %d, %q", code, errOut)
	}
	if _, err := os.Stat(created); !os.IsNotExist(err) {
		t.Fatalf("pmtr -t created %s: %v", created, err)
	}
	d := pmtrCmd(t, "-F", "-c", created) // the daemon creates it, as C pmtr does
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventWait)
	for _, err := os.Stat(created); err != nil && time.Now().Before(deadline); _, err = os.Stat(created) {
		time.Sleep(10 * time.Millisecond)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	if st, err := os.Stat(created); err != nil || st.Mode().Perm() != 0o600 || st.Size() != 0 {
		t.Fatalf("created config: %v %v", st, err)
	}
	if _, _, code := runPmtr(t, "-Z"); code != 2 {
		t.Fatalf("usage error: code %d, want 2", code)
	}
}

func readPid(t *testing.T, path string, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pidfile %s within %v", path, within)
	return 0
}

func gone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestForegroundPidfileAndOrderlyExit(t *testing.T) {
	proctest.Heavy(t)
	dir, conf := writeConf(t, "job {\nname s\ncmd /bin/sh -c \"echo $$ > job.pid; exec /bin/sleep 71\"\ndir .\n}\n")
	pidfile := filepath.Join(dir, "pmtr.pid")
	cmd := pmtrCmd(t, "-F", "-p", pidfile, "-c", conf)
	cmd.Dir = dir
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if pid := readPid(t, pidfile, eventWait); pid != cmd.Process.Pid {
		t.Fatalf("pidfile holds %d, want %d", pid, cmd.Process.Pid)
	}
	job := readPid(t, filepath.Join(dir, "job.pid"), eventWait)
	if out, errOut, code := runPmtr(t, "status", "-c", conf); code != 0 || !regexp.MustCompile(`(?m)^s\s+running\s+`+strconv.Itoa(job)+`\s`).MatchString(out) {
		t.Fatalf("pmtr status: exit %d\n%s%s", code, out, errOut)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pmtr exit: %v\n%s", err, errOut.String())
		}
	case <-time.After(eventWait):
		cmd.Process.Kill()
		t.Fatalf("pmtr did not exit on SIGTERM\n%s", errOut.String())
	}
	if !gone(job, eventWait) {
		t.Fatalf("job %d outlived pmtr", job)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile not removed: %v", err)
	}
	if !strings.Contains(errOut.String(), "pmtr: exiting on signal 15") {
		t.Fatalf("log: %s", errOut.String())
	}
}

func TestDetachReturnsOnceRunning(t *testing.T) {
	proctest.Heavy(t)
	dir, conf := writeConf(t, "job {\nname s\ncmd /bin/sleep 72\n}\n")
	pidfile := filepath.Join(dir, "pmtr.pid")
	start := time.Now()
	if _, errOut, code := runPmtr(t, "-c", conf, "-p", pidfile); code != 0 {
		t.Fatalf("launcher exit %d: %s", code, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("launcher took %v", d)
	}
	pid := readPid(t, pidfile, eventWait) // written before the launcher returns
	if syscall.Kill(pid, 0) != nil {
		t.Fatalf("daemon %d is not running", pid)
	}
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Fatalf("daemon session %d, want a new session led by %d", sid, pid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !gone(pid, eventWait) {
		t.Fatalf("daemon did not exit")
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile not removed: %v", err)
	}
}

// TestPID1ReapsOrphans runs pmtr as PID 1 of a new PID namespace with a job
// that leaves orphans behind, and checks that no zombie is left.
func TestPID1ReapsOrphans(t *testing.T) {
	proctest.Heavy(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	_, conf := writeConf(t, "job {\nname orphans\ncmd /bin/sh -c \"/bin/sleep 0.2 & /bin/sleep 0.3 & sleep 0.1; exit 0\"\n}\n")
	cmd := proctest.Command(t, unshare, "--pid", "--fork", "--kill-child", pmtrBin, "-c", conf)
	errOut := &syncBuf{} // written by exec's copying goroutine while the test reads it
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	defer func() {
		if cmd.Process != nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}()
	pmtr := 0
	for deadline := time.Now().Add(eventWait); pmtr == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pmtr = childOf(cmd.Process.Pid)
	}
	if pmtr == 0 {
		t.Skipf("pmtr did not start in the namespace (not permitted here?)\n%s", errOut.String())
	}
	waitLogRe(t, errOut, `job orphans \[\d+\] exited`, eventWait)
	// The orphans (0.2 and 0.3 s) are pmtr's children now; once they have
	// exited pmtr has no child left, not even a zombie, until the job's
	// next run 10 s after its exit.
	for deadline := time.Now().Add(9 * time.Second); len(procfs.Children(pmtr)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("zombies left under pmtr (PID 1): %v (children %v)\n%s", zombiesUnder(pmtr), procfs.Children(pmtr), errOut.String())
		}
	}
	syscall.Kill(pmtr, syscall.SIGTERM) // what docker stop sends
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil { // unshare exits with pmtr's status
			t.Fatalf("pmtr as PID 1 exited with %v after SIGTERM, want 0\n%s", err, errOut.String())
		}
	case <-time.After(eventWait):
		t.Fatalf("pmtr as PID 1 did not exit on SIGTERM")
	}
	cmd.Process = nil
}

func childOf(parent int) int {
	if c := procfs.Children(parent); len(c) > 0 {
		return c[0]
	}
	return 0
}

func zombiesUnder(parent int) []int {
	var z []int
	for _, pid := range procfs.Children(parent) {
		if p, ok := procfs.Stat(pid); ok && p.State == "Z" {
			z = append(z, pid)
		}
	}
	return z
}

// TestSimRunsEveryScenario runs the scenario folder through pmtr sim, as a
// user would, and checks a failing expectation gives exit 1 naming it.
func TestSimRunsEveryScenario(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	out, errOut, code := runPmtr(t, append([]string{"sim", "-q"}, files...)...)
	if code != 0 {
		t.Fatalf("pmtr sim exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Count(out, "ok: ") != len(files) {
		t.Fatalf("%d ok lines for %d scenarios\n%s", strings.Count(out, "ok: "), len(files), out)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: wrong\nconfig: |\n  job {\n  name a\n  cmd /bin/a\n  }\nrun_for: 5s\nexpect:\n  - at: 2s\n    stopped: a\n"), 0o644)
	out, _, code = runPmtr(t, "sim", "--timeline", "--svg", filepath.Join(dir, "t.svg"), bad)
	if code != 1 || !strings.Contains(out, "FAIL: wrong: "+bad+":9: at +2.000s: expected job a stopped") {
		t.Fatalf("failing scenario: exit %d\n%s", code, out)
	}
	if svg, err := os.ReadFile(filepath.Join(dir, "t.svg")); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("no SVG written: %v", err)
	}
	// -c: the same scenario against the user's own config, where setup is not "once".
	own := filepath.Join(dir, "own.conf")
	os.WriteFile(own, []byte("job {\nname setup\ncmd /usr/bin/setup\n}\n"), 0o644)
	out, _, code = runPmtr(t, "sim", "-q", "-c", own, "../../scenarios/once.yaml")
	if code != 1 || !strings.Contains(out, "expected job setup started 1 times") {
		t.Fatalf("pmtr sim -c: exit %d\n%s", code, out)
	}
}

// TestCtlAndRptserver: pmtr ctl disables a job of a running pmtr, whose
// reports pmtr rptserver shows; two senders appear in its table.
func TestCtlAndRptserver(t *testing.T) {
	proctest.Heavy(t)
	rptPort, ctlPort := freePort(t), freePort(t)
	_, conf := writeConf(t, fmt.Sprintf("report to udp://127.0.0.1:%d\nlisten on udp://127.0.0.1:%d\njob {\nname web\ncmd /bin/sleep 73\n}\n", rptPort, ctlPort))
	srv := pmtrCmd(t, "rptserver", "-p", strconv.Itoa(rptPort), "-b", "127.0.0.1")
	var table syncBuf
	srv.Stdout = &table
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	d := pmtrCmd(t, "-F", "-c", conf)
	var log syncBuf
	d.Stderr = &log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	// rptserver may bind after pmtr's first report: the next comes 10 s later.
	waitFor(t, &table, "web                                      enabled", 10*time.Second+eventWait)
	if _, errOut, code := runPmtr(t, "ctl", "-p", strconv.Itoa(ctlPort), "disable", "web"); code != 0 {
		t.Fatalf("pmtr ctl: %d %s", code, errOut)
	}
	waitFor(t, &log, "disabling web", eventWait)
	waitFor(t, &table, "web                                      disabled", eventWait)
	// A second host (another loopback source address) reports too.
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: rptPort})
	if err != nil {
		t.Skipf("no second loopback source address: %v", err)
	}
	c.Write([]byte("report otherhost\ndb e 3725 42 /usr/bin/db\n"))
	c.Close()
	waitFor(t, &table, "2 systems reporting", eventWait)
	waitFor(t, &table, "1h 2m 5s", eventWait)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, b *syncBuf, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(b.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%q not seen within %v:\n%s", want, within, b.String())
}

func freePort(t testing.TB) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestMakeInstall: make install DESTDIR=... lays out the binary, the man
// page, the systemd unit (which systemd-analyze accepts) and an empty
// config, and never overwrites an existing config.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	os.MkdirAll(filepath.Join(dest, "etc"), 0o755)
	install := func() {
		out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest).CombinedOutput()
		if err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
	}
	install()
	for path, mode := range map[string]os.FileMode{"usr/local/bin/pmtr": 0o755, "usr/local/share/man/man8/pmtr.8": 0o644,
		"usr/local/lib/systemd/system/pmtr.service": 0o644, "usr/local/share/bash-completion/completions/pmtr": 0o644,
		"etc/pmtr.conf": 0o600} {
		st, err := os.Stat(filepath.Join(dest, path))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v (mode %v, want %v)", path, err, st.Mode().Perm(), mode)
		}
	}
	os.WriteFile(filepath.Join(dest, "etc/pmtr.conf"), []byte("# mine\n"), 0o600)
	install()
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/pmtr.conf")); string(b) != "# mine\n" {
		t.Fatalf("make install overwrote an existing config: %q", b)
	}
	verifyUnit(t, dest)
	out, err := exec.Command("make", "-C", "../..", "uninstall", "DESTDIR="+dest).CombinedOutput()
	if _, serr := os.Stat(filepath.Join(dest, "usr/local/bin/pmtr")); err != nil || !os.IsNotExist(serr) {
		t.Fatalf("make uninstall: %v %v\n%s", err, serr, out)
	}
}

func verifyUnit(t *testing.T, dest string) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/pmtr.service"))
	// Point ExecStart at the installed binary, as it will be on the real root.
	local := filepath.Join(t.TempDir(), "pmtr.service")
	os.WriteFile(local, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/pmtr", filepath.Join(dest, "usr/local/bin/pmtr"))), 0o644)
	cmd := exec.Command(sa, "verify", local)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/local/share/man"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestReportInterfaceErrors: a report interface that does not exist or
// cannot multicast is a config error with file, line and column.
func TestReportInterfaceErrors(t *testing.T) {
	_, conf := writeConf(t, "report to udp://239.0.0.1:9999@nosuchif0\nreport to udp://239.0.0.1:9999@lo\n")
	_, errOut, code := runPmtr(t, "-t", "-c", conf)
	if code != 1 || !strings.Contains(errOut, conf+":1:11: interface nosuchif0 does not exist") ||
		!strings.Contains(errOut, conf+":2:11: lo does not multicast") || !strings.Contains(errOut, "parse failed") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

// TestReloadRefusesAMissingReportInterface: a saved config whose report
// interface does not exist is rejected with its position (the backend
// checks it off the driver's loop); the config in force stays.
func TestReloadRefusesAMissingReportInterface(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname web\ncmd /bin/sleep 405\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	os.WriteFile(conf, []byte("report to udp://239.0.0.1:9999@nosuchif0\njob {\nname other\ncmd /bin/sleep 406\n}\n"), 0o644)
	_, errOut, code := pmtrIn(t, conf, "reload")
	if code != 1 || !strings.Contains(errOut, conf+":1:11: interface nosuchif0 does not exist") ||
		!strings.Contains(errOut, "the config in force stays") {
		t.Fatalf("reload: exit %d %q\nlog:\n%s", code, errOut, d.log.String())
	}
	waitLogRe(t, d.log, `NOTE: using PREVIOUS job config`, eventWait)
	if out, _, code := pmtrIn(t, conf, "status", "web"); code != 0 || !strings.Contains(out, "web") {
		t.Fatalf("web after the rejected reload: exit %d\n%s", code, out)
	}
	if strings.Contains(d.log.String(), "started job other") {
		t.Fatalf("the rejected config ran:\n%s", d.log.String())
	}
	d.terminate(eventWait)
}

// TestCheckRefusesUnsafeKeyFiles: pmtr -t (and the daemon's start) refuse a
// key file that others may read, with its position.
func TestCheckRefusesUnsafeKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	os.WriteFile(key, []byte("secret\n"), 0o644)
	_, conf := writeConf(t, "listen on udp://127.0.0.1:7 key "+key+"\n")
	if _, errOut, code := runPmtr(t, "-t", "-c", conf); code != 1 || !strings.Contains(errOut, "pmtr.conf:1:11: key file "+key+": is readable by others (mode 0644)") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	os.Chmod(key, 0o600)
	if out, errOut, code := runPmtr(t, "-t", "-c", conf); code != 0 {
		t.Fatalf("code %d, %s%s", code, out, errOut)
	}
}

// TestCheckWarningsGolden: every warning of pmtr -t, with its hint, as in
// testdata/warnings.golden; --strict turns them into a failure.
func TestCheckWarningsGolden(t *testing.T) {
	out, errOut, code := runPmtr(t, "-t", "-c", "testdata/warnings.conf")
	want, err := os.ReadFile("testdata/warnings.golden")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || errOut != string(want) || out != "testdata/warnings.conf: ok (3 jobs, 11 warnings)\n" {
		t.Fatalf("exit %d, stdout %q\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
	if _, errOut, code := runPmtr(t, "-t", "--strict", "-c", "testdata/warnings.conf"); code != 1 || !strings.HasSuffix(errOut, "pmtr: 11 warnings in testdata/warnings.conf (--strict makes them errors)\n") {
		t.Fatalf("--strict: exit %d\n%s", code, errOut)
	}
}

// TestDaemonLogsWarnings: the daemon logs the warnings of the config it
// loads, and of every reload.
func TestDaemonLogsWarnings(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname nap\ncmd sleep 60\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `pmtr.conf:3:1: warning: job nap: cmd sleep is not a path: pmtr does not search PATH`, eventWait)
	waitLogRe(t, d.log, `job nap: can't exec sleep: No such file or directory \(cmd needs an absolute path: pmtr does not search PATH\)`, eventWait)
	status := d.status(eventWait)
	if !regexp.MustCompile(`(?m)^nap\s+failed\s+-\s+\S+\s+1\s+start failed\s+failed to start: can't exec sleep: No such file or directory \(cmd needs an absolute path: pmtr does not search PATH\); starts again in \d+s$`).MatchString(status) {
		t.Fatalf("status:\n%s", status)
	}
	os.WriteFile(conf, []byte("job {\nname nap\ncmd /bin/sleep 60\nbounce every 2s\n}\n"), 0o644)
	waitLogRe(t, d.log, `pmtr.conf:4:14: warning: bounce every 2s is under 10s`, eventWait)
	d.terminate(eventWait)
}

// TestBashCompletion: the completion script parses, and completes job
// names from the config and the subcommands.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	if out, err := exec.Command("bash", "-n", "../../dist/pmtr.bash").CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	_, conf := writeConf(t, "job {\nname webapp\ncmd /bin/true\n}\njob {\nname worker\ncmd /bin/true\n}\n")
	script := `source ../../dist/pmtr.bash
COMP_WORDS=(pmtr restart -c "$CONF" w); COMP_CWORD=4; _pmtr; echo "jobs: ${COMPREPLY[*]}"
COMP_WORDS=(pmtr re); COMP_CWORD=1; _pmtr; echo "subs: ${COMPREPLY[*]}"`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "CONF="+conf, "PATH="+filepath.Dir(pmtrBin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "jobs: webapp worker") || !strings.Contains(string(out), "subs: restart reload") {
		t.Fatalf("completion: %v\n%s", err, out)
	}
}

// TestManPageLint: the man page renders without a warning.
func TestManPageLint(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed (Debian package groff-base): the man page is not linted")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "../../docs/pmtr.8")
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil || errOut.Len() > 0 || !strings.Contains(string(out), "pmtr plan") {
		t.Fatalf("groff: %v\n%s", err, errOut.String())
	}
	text := regexp.MustCompile(`.\x08|\x1b\[[0-9;]*m`).ReplaceAllString(string(out), "") // bold and underline
	text = strings.Join(strings.Fields(text), " ")
	for _, sub := range []string{"status", "stop", "reload", "why", "logs", "metrics", "plan", "sim", "ctl", "rptserver"} {
		if !strings.Contains(text, "pmtr "+sub) {
			t.Errorf("the man page does not mention pmtr %s", sub)
		}
	}
}

// TestJournalPriorities: with stderr the journal (JOURNAL_STREAM names its
// device and inode), lines carry <N> priorities and no pmtr[PID] prefix;
// a job's stderr is a warning, its stdout info, pmtr's errors err.
func TestJournalPriorities(t *testing.T) {
	proctest.Heavy(t)
	dir, conf := writeConf(t, "job {\nname talk\ncmd /bin/sh -c \"echo to-stdout; echo to-stderr >&2; exec /bin/sleep 601\"\n}\njob {\nname bad\ncmd /nonexistent/pmtr-prog\n}\n")
	journal, err := os.Create(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Fstat(int(journal.Fd()), &st)
	cmd := pmtrCmd(t, "-F", "-c", conf)
	cmd.Stderr = journal
	cmd.Env = append(cmd.Env, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	want := []string{"<6>pmtr: starting", "<6>started job talk [", "<6>talk[", ": to-stdout", "<4>talk[", ": to-stderr", "<3>job bad: can't exec /nonexistent/pmtr-prog"}
	deadline := time.Now().Add(eventWait)
	for {
		b, _ := os.ReadFile(journal.Name())
		text, missing := string(b), ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
			}
		}
		if missing == "" {
			if strings.Contains(text, "pmtr[") {
				t.Fatalf("a pid prefix in the journal:\n%s", text)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in the journal:\n%s", missing, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDetachedWithoutSyslogLogsToAFile: a detached pmtr with no syslog
// socket keeps its lines in a file in the runtime directory, and says so.
func TestDetachedWithoutSyslogLogsToAFile(t *testing.T) {
	proctest.Heavy(t)
	if _, err := os.Stat("/dev/log"); err == nil {
		t.Skip("this host has a syslog socket: the fallback is not used")
	}
	dir, conf := writeConf(t, "job {\nname quiet\ncmd /bin/sleep 602\n}\n")
	pidfile := filepath.Join(dir, "pmtr.pid")
	_, errOut, code := runPmtr(t, "-c", conf, "-p", pidfile)
	if code != 0 || !strings.Contains(errOut, "the daemon logs to "+logsink.LogFile(conf)) {
		t.Fatalf("detach: exit %d %q", code, errOut)
	}
	pid := readPid(t, pidfile, eventWait)
	defer func() {
		syscall.Kill(pid, syscall.SIGTERM)
		gone(pid, eventWait)
		os.Remove(logsink.LogFile(conf))
	}()
	deadline := time.Now().Add(eventWait)
	for {
		b, _ := os.ReadFile(logsink.LogFile(conf))
		if strings.Contains(string(b), "no syslog socket (/dev/log): pmtr logs to") && strings.Contains(string(b), "started job quiet [") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log file %s:\n%s", logsink.LogFile(conf), b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
