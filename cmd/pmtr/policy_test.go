package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The restart policy with real processes (issue 24): a critical job's end
// is pmtr's exit code, and each job is stopped with its own signal and
// timeout.

// exitOf waits for the daemon to exit by itself and returns its code.
func (d *daemonProc) exitOf(within time.Duration) int {
	d.t.Helper()
	select {
	case err := <-d.done:
		d.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			d.t.Fatalf("pmtr: %v\n%s", err, d.log.String())
		}
		return 0
	case <-time.After(within):
		d.t.Fatalf("pmtr did not exit within %v\n%s", within, d.log.String())
	}
	return -1
}

var jobPidRx = regexp.MustCompile(`started job \S+ \[(\d+)\]|\[\d+\]: child (\d+)`)

// noneLeft fails for each process pmtr started (and the grandchild the
// side job names) that still exists.
func noneLeft(t *testing.T, log string) {
	t.Helper()
	n := 0
	for _, m := range jobPidRx.FindAllStringSubmatch(log, -1) {
		pid, _ := strconv.Atoi(m[1] + m[2])
		n++
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("process %d of a job outlived pmtr (kill 0: %v)", pid, err)
		}
	}
	if n < 4 {
		t.Fatalf("found %d job processes in the log, want at least 4:\n%s", n, log)
	}
}

const sideJobs = `job {
name side
cmd /bin/sh -c "/bin/sleep 611 & echo child $!; exec /bin/sleep 612"
}
job {
name quits
cmd /bin/sh -c "trap 'exit 0' QUIT; while :; do /bin/sleep 0.05; done"
stop signal SIGQUIT
}
`

// TestCriticalJobExitCodeIsPmtrs: pmtr exits 7 when its critical job exits
// 7, after stopping every other job; nothing of any job is left.
func TestCriticalJobExitCodeIsPmtrs(t *testing.T) {
	dir, conf := writeConf(t, `job {
name main
cmd /bin/sh -c "while [ ! -e go ]; do /bin/sleep 0.02; done; exit 7"
critical
}
`+sideJobs)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `side\[\d+\]: child \d+`, eventWait)
	waitLogRe(t, d.log, `started job quits \[`, eventWait)
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := d.exitOf(eventWait); code != 7 {
		t.Fatalf("pmtr exited %d, want 7\n%s", code, d.log.String())
	}
	log := d.log.String()
	for _, want := range []string{"job main is critical and ended with exit status 7: stopping every job; pmtr exits 7",
		"sending SIGTERM to job side", "sending SIGQUIT to job quits"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	noneLeft(t, log)
}

// TestCriticalJobKilledBySIGINT: a critical job that dies of SIGINT makes
// pmtr exit 130, as a shell reports it.
func TestCriticalJobKilledBySIGINT(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname main\ncmd /bin/sleep 613\ncritical\n}\n"+sideJobs)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `side\[\d+\]: child \d+`, eventWait)
	waitLogRe(t, d.log, `started job quits \[`, eventWait)
	waitLogRe(t, d.log, `started job main \[`, eventWait) // the jobs start at once, in any order
	m := regexp.MustCompile(`started job main \[(\d+)\]`).FindStringSubmatch(d.log.String())
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := d.exitOf(eventWait); code != 130 {
		t.Fatalf("pmtr exited %d, want 130\n%s", code, d.log.String())
	}
	noneLeft(t, d.log.String())
}

// TestStopSignalReachesATrappingJob: a job whose stop signal is SIGQUIT
// gets SIGQUIT (its trap runs and it exits 0), not SIGTERM.
func TestStopSignalReachesATrappingJob(t *testing.T) {
	dir, conf := writeConf(t, `job {
name nginx
cmd /bin/sh -c "trap 'echo got QUIT; exit 0' QUIT; trap 'echo got TERM; exit 1' TERM; echo ready; while :; do /bin/sleep 0.05; done"
stop signal QUIT
}
`)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `nginx\[\d+\]: ready`, eventWait)
	if _, errOut, code := pmtrIn(t, conf, "stop", "nginx"); code != 0 {
		t.Fatalf("pmtr stop: exit %d %s", code, errOut)
	}
	// Its output and its exit are read apart: either may be logged first.
	waitLogRe(t, d.log, `(?s)sending SIGQUIT to job nginx \[\d+\].*job nginx \[\d+\] exited after \d+ sec: exit status 0`, eventWait)
	waitLogRe(t, d.log, `(?s)sending SIGQUIT to job nginx \[\d+\].*nginx\[\d+\]: got QUIT`, eventWait)
	if strings.Contains(d.log.String(), "got TERM") || strings.Contains(d.log.String(), "SIGKILL") {
		t.Fatalf("the job got SIGTERM or SIGKILL:\n%s", d.log.String())
	}
	d.terminate(eventWait)
}

// TestStopTimeoutKillsAfterIt: a job that ignores its stop signal is
// killed after its stop timeout, 2 s, not 10: pmtr why names the SIGKILL 2 s
// after the SIGTERM, and the SIGKILL comes no sooner than 2 s.
func TestStopTimeoutKillsAfterIt(t *testing.T) {
	dir, conf := writeConf(t, `job {
name stubborn
cmd /bin/sh -c "trap '' TERM; echo ready; while :; do /bin/sleep 0.05; done"
stop timeout 2s
}
`)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `stubborn\[\d+\]: ready`, eventWait)
	start := time.Now()
	if _, errOut, code := pmtrIn(t, conf, "stop", "--no-wait", "stubborn"); code != 0 {
		t.Fatalf("pmtr stop: exit %d %s", code, errOut)
	}
	out, _, _ := pmtrIn(t, conf, "why", "stubborn")
	m := regexp.MustCompile(`was sent SIGTERM at (\d\d:\d\d:\d\d); SIGKILL follows at (\d\d:\d\d:\d\d)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pmtr why while stopping:\n%s\nlog:\n%s", out, d.log.String())
	}
	sent, _ := time.Parse("15:04:05", m[1])
	kill, _ := time.Parse("15:04:05", m[2])
	if kill.Sub(sent) != 2*time.Second {
		t.Fatalf("SIGKILL planned %v after SIGTERM, want 2s: %s", kill.Sub(sent), out)
	}
	waitLogRe(t, d.log, `job stubborn \[\d+\] exited after \d+ sec: signal 9`, eventWait)
	if took := time.Since(start); took < 1900*time.Millisecond {
		t.Fatalf("the job was killed %v after its stop, before its 2 s stop timeout", took)
	}
	d.terminate(eventWait)
}
