package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/live/hostfacts"
	"pmtr/proctest"
)

// needCgroups skips a test where pmtr cannot make cgroups (no writable
// cgroup v2 hierarchy), with the reason.
func needCgroups(t *testing.T) {
	t.Helper()
	mnt := cgroup2Mnt()
	own, _ := os.ReadFile("/proc/self/cgroup")
	rel := ""
	for _, l := range strings.Split(string(own), "\n") {
		if r, ok := strings.CutPrefix(l, "0::"); ok {
			rel = r
		}
	}
	probe := filepath.Join(mnt, rel, "pmtr-test-probe-"+proctest.ID(t))
	if mnt == "" || os.Mkdir(probe, 0o755) != nil {
		t.Skipf("no writable cgroup v2 hierarchy here (mounted at %q): containment falls back to process groups", mnt)
	}
	os.Remove(probe)
}

func fmtInt(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// waitRunning waits until the test has n live processes of each argv
// (only its own count: they carry its mark).
func waitRunning(t *testing.T, n int, within time.Duration, argvs ...[]string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, a := range argvs {
			if len(proctest.MarkedArgv(t, a...)) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, a := range argvs {
				t.Logf("%v: %d running", a, len(proctest.MarkedArgv(t, a...)))
			}
			out, _ := exec.Command("ps", "-eo", "pid,ppid,args").Output()
			t.Fatalf("want %d of each within %v\n%s", n, within, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const escaper = "job {\nname esc\ncmd /bin/sh -c \"setsid /bin/sleep 7001 & (/bin/sleep 7002 &) ; exec /bin/sleep 7003\"\n}\n"

var escaped = [][]string{{"/bin/sleep", "7001"}, {"/bin/sleep", "7002"}, {"/bin/sleep", "7003"}}

// TestNothingOfAStoppedJobSurvives: a job whose children call setsid or
// fork twice: after a stop, a reload that removes it, and pmtr's shutdown,
// no process of it is left.
func TestNothingOfAStoppedJobSurvives(t *testing.T) {
	needCgroups(t)
	keep := "job {\nname keep\ncmd /bin/sleep 7004\n}\n"
	dir, conf := writeConf(t, keep+escaper)
	d := startForeground(t, dir, conf)
	waitRunning(t, 1, eventWait, escaped...)
	if _, errOut, code := pmtrIn(t, conf, "stop", "esc"); code != 0 {
		t.Fatalf("stop: %d %s", code, errOut)
	}
	waitRunning(t, 0, eventWait, escaped...)
	pmtrIn(t, conf, "start", "esc")
	waitRunning(t, 1, eventWait, escaped...)
	os.WriteFile(conf, []byte(keep), 0o644)
	waitRunning(t, 0, eventWait, escaped...)
	os.WriteFile(conf, []byte(keep+escaper), 0o644)
	waitRunning(t, 1, eventWait, escaped...)
	d.terminate(eventWait)
	waitRunning(t, 0, eventWait, escaped...)
	waitRunning(t, 0, eventWait, []string{"/bin/sleep", "7004"})
}

// TestEachJobRunsOnceAfterPmtrIsKilled: kill -9 of pmtr leaves its jobs;
// the next pmtr on the same config stops them and starts each once, found
// in their cgroups, or, without cgroups, by the pids it recorded.
func TestEachJobRunsOnceAfterPmtrIsKilled(t *testing.T) {
	t.Run("cgroups", func(t *testing.T) {
		needCgroups(t)
		eachJobOnceAfterKill(t, false, `found 1 processes left in .*job-j0 by an earlier pmtr; stopping them`)
	})
	t.Run("pid records", func(t *testing.T) {
		eachJobOnceAfterKill(t, true, `found job j0 \[\d+\] left by an earlier pmtr; stopping it`, "PMTR_NO_CGROUPS=1")
	})
}

func eachJobOnceAfterKill(t *testing.T, records bool, found string, env ...string) {
	var conf strings.Builder
	var jobs [][]string
	for i := range 5 {
		arg := "72" + fmtInt(i) + "0"
		conf.WriteString("job {\nname j" + fmtInt(i) + "\ncmd /bin/sleep " + arg + "\n}\n")
		jobs = append(jobs, []string{"/bin/sleep", arg})
	}
	dir, path := writeConf(t, conf.String())
	d := startForeground(t, dir, path, env...)
	waitRunning(t, 1, eventWait, jobs...)
	var orphans []int
	for _, j := range jobs {
		orphans = append(orphans, proctest.MarkedArgv(t, j...)...)
	}
	if records {
		waitRecords(t, path, orphans)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.done <- nil
	waitRunning(t, 1, eventWait, jobs...) // orphans, still running
	d2 := startForeground(t, dir, path, env...)
	for i := range jobs {
		waitLogRe(t, d2.log, `started job j`+fmtInt(i)+` \[`, eventWait)
	}
	waitLogRe(t, d2.log, found, eventWait)
	for _, pid := range orphans {
		if !gone(pid, eventWait) {
			t.Fatalf("job process %d of the killed pmtr is still running\n%s", pid, d2.log.String())
		}
	}
	for _, j := range jobs { // the new ones have started, the old ones are gone: one each
		if pids := proctest.MarkedArgv(t, j...); len(pids) != 1 {
			t.Fatalf("%v: %d running, want 1\n%s", j, len(pids), d2.log.String())
		}
	}
	d2.terminate(eventWait)
	waitRunning(t, 0, eventWait, jobs...)
}

// waitRecords waits until pmtr's record of its jobs' pids (in the runtime
// directory) lists every pid.
func waitRecords(t *testing.T, conf string, pids []int) {
	t.Helper()
	path := filepath.Join(hostfacts.RuntimeDir(), "jobs-"+hostfacts.ConfigHash(conf))
	deadline := time.Now().Add(eventWait)
	for {
		b, _ := os.ReadFile(path)
		text, missing := "\n"+string(b), 0
		for _, pid := range pids {
			if !strings.Contains(text, "\n"+fmtInt(pid)+" ") {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the pids %v not recorded in %s:%s", missing, pids, path, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOOMKillIsNamed: a job the OOM killer ends shows as "killed by the
// OOM killer", where the memory controller is available to pmtr.
func TestOOMKillIsNamed(t *testing.T) {
	needCgroups(t)
	dir, conf := writeConf(t, "job {\nname hog\ncmd /bin/sh -c \"sleep 1; head -c 300000000 /dev/zero | tail > /dev/null\"\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job hog \[`, eventWait)
	if strings.Contains(d.log.String(), "memory controller is not available") {
		t.Skip("the memory controller is not available to pmtr's cgroup here: OOM kills cannot be told from SIGKILL")
	}
	out, _, _ := pmtrIn(t, conf, "status", "--json")
	m := regexp.MustCompile(`"contained": "cgroup ([^"]+)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no cgroup for hog:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(m[1], "memory.max"), []byte("50M"), 0); err != nil {
		t.Skipf("can't limit the job's memory: %v", err)
	}
	waitLogRe(t, d.log, `job hog \[\d+\] exited after \d+ sec: killed by the OOM killer`, 10*time.Second)
	d.terminate(eventWait)
}

// TestPmtrAloneInItsCgroupMovesToALeaf: started alone in a cgroup of its
// own (as a systemd service with Delegate=yes is), pmtr moves into a leaf
// of its subtree and runs its jobs beside it.
func TestPmtrAloneInItsCgroupMovesToALeaf(t *testing.T) {
	needCgroups(t)
	own := filepath.Join(cgroup2Mnt(), "pmtr-test-"+proctest.ID(t)) // this run's alone
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Skipf("can't make a cgroup: %v", err)
	}
	t.Cleanup(func() { // what pmtr made below, failed or not
		proctest.Kill(t)
		removeCgroups(own)
	})
	fd, err := syscall.Open(own, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	dir, conf := writeConf(t, "job {\nname alone\ncmd /bin/sleep 7301\n}\n")
	proctest.Heavy(t)
	d := &daemonProc{t: t, cmd: pmtrCmd(t, "-F", "-c", conf), log: &syncBuf{}, conf: conf, done: make(chan error, 1)}
	d.cmd.Dir, d.cmd.Stderr = dir, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	waitRunning(t, 1, eventWait, []string{"/bin/sleep", "7301"})
	cg, _ := os.ReadFile("/proc/" + fmtInt(d.cmd.Process.Pid) + "/cgroup")
	if !strings.Contains(string(cg), own[len(cgroup2Mnt()):]+"/pmtr-") || !strings.HasSuffix(strings.TrimSpace(string(cg)), "/supervisor") {
		t.Fatalf("pmtr is in %s", cg)
	}
	job := proctest.MarkedArgv(t, "/bin/sleep", "7301")[0]
	jcg, _ := os.ReadFile("/proc/" + fmtInt(job) + "/cgroup")
	if !strings.HasSuffix(strings.TrimSpace(string(jcg)), "/job-alone") {
		t.Fatalf("the job is in %s", jcg)
	}
	d.terminate(eventWait)
	waitRunning(t, 0, eventWait, []string{"/bin/sleep", "7301"})
}

// removeCgroups removes dir and the cgroups below it, deepest first.
func removeCgroups(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroups(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir)
}

// cgroup2Mnt is where the cgroup v2 hierarchy is mounted, or "".
func cgroup2Mnt() string {
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if pre, post, ok := strings.Cut(l, " - "); ok && strings.HasPrefix(post, "cgroup2 ") {
			return strings.Fields(pre)[4]
		}
	}
	return ""
}
