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

	"pmtr/procfs"
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
	probe := filepath.Join(mnt, rel, "pmtr-test-probe")
	if mnt == "" || os.Mkdir(probe, 0o755) != nil {
		t.Skipf("no writable cgroup v2 hierarchy here (mounted at %q): containment falls back to process groups", mnt)
	}
	os.Remove(probe)
}

// running lists the processes whose command line is exactly argv.
func running(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	var out []int
	for _, pid := range procfs.PIDs() {
		if b, err := os.ReadFile("/proc/" + itoa(pid) + "/cmdline"); err == nil && string(b) == want {
			if p, ok := procfs.Stat(pid); ok && p.State != "Z" {
				out = append(out, pid)
			}
		}
	}
	return out
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0)) + fmtInt(n) }

func fmtInt(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// waitCount waits until the count of each argv's processes is n.
func waitRunning(t *testing.T, n int, within time.Duration, argvs ...[]string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, a := range argvs {
			if len(running(a...)) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, a := range argvs {
				t.Logf("%v: %d running", a, len(running(a...)))
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
	waitRunning(t, 1, 5*time.Second, escaped...)
	if _, errOut, code := pmtrIn(t, conf, "stop", "esc"); code != 0 {
		t.Fatalf("stop: %d %s", code, errOut)
	}
	waitRunning(t, 0, time.Second, escaped...)
	pmtrIn(t, conf, "start", "esc")
	waitRunning(t, 1, 5*time.Second, escaped...)
	os.WriteFile(conf, []byte(keep), 0o644)
	waitRunning(t, 0, 5*time.Second, escaped...)
	os.WriteFile(conf, []byte(keep+escaper), 0o644)
	waitRunning(t, 1, 5*time.Second, escaped...)
	d.terminate(5 * time.Second)
	waitRunning(t, 0, time.Second, escaped...)
	waitRunning(t, 0, time.Second, []string{"/bin/sleep", "7004"})
}

// TestEachJobRunsOnceAfterPmtrIsKilled: kill -9 of pmtr leaves its jobs;
// the next pmtr on the same config stops them and starts each once, found
// in their cgroups, or, without cgroups, by the pids it recorded.
func TestEachJobRunsOnceAfterPmtrIsKilled(t *testing.T) {
	t.Run("cgroups", func(t *testing.T) {
		needCgroups(t)
		eachJobOnceAfterKill(t, "721", `found 1 processes left in .*job-j0 by an earlier pmtr; stopping them`)
	})
	t.Run("pid records", func(t *testing.T) {
		eachJobOnceAfterKill(t, "722", `found job j0 \[\d+\] left by an earlier pmtr; stopping it`, "PMTR_NO_CGROUPS=1")
	})
}

func eachJobOnceAfterKill(t *testing.T, marker, found string, env ...string) {
	var conf strings.Builder
	var jobs [][]string
	for i := range 5 {
		arg := marker + fmtInt(i)
		conf.WriteString("job {\nname j" + fmtInt(i) + "\ncmd /bin/sleep " + arg + "\n}\n")
		jobs = append(jobs, []string{"/bin/sleep", arg})
	}
	dir, path := writeConf(t, conf.String())
	d := startForeground(t, dir, path, env...)
	waitRunning(t, 1, 5*time.Second, jobs...)
	time.Sleep(300 * time.Millisecond) // the pid records are written within 100 ms
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.done <- nil
	waitRunning(t, 1, time.Second, jobs...) // orphans, still running
	d2 := startForeground(t, dir, path, env...)
	time.Sleep(3 * time.Second)
	waitRunning(t, 1, time.Second, jobs...)
	waitLogRe(t, d2.log, found, time.Second)
	d2.terminate(5 * time.Second)
	waitRunning(t, 0, time.Second, jobs...)
}

// TestOOMKillIsNamed: a job the OOM killer ends shows as "killed by the
// OOM killer", where the memory controller is available to pmtr.
func TestOOMKillIsNamed(t *testing.T) {
	needCgroups(t)
	dir, conf := writeConf(t, "job {\nname hog\ncmd /bin/sh -c \"sleep 1; head -c 300000000 /dev/zero | tail > /dev/null\"\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job hog \[`, 5*time.Second)
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
	d.terminate(5 * time.Second)
}

// TestPmtrAloneInItsCgroupMovesToALeaf: started alone in a cgroup of its
// own (as a systemd service with Delegate=yes is), pmtr moves into a leaf
// of its subtree and runs its jobs beside it.
func TestPmtrAloneInItsCgroupMovesToALeaf(t *testing.T) {
	needCgroups(t)
	own := filepath.Join(cgroup2Mnt(), "pmtr-test-"+fmtInt(os.Getpid()))
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Skipf("can't make a cgroup: %v", err)
	}
	defer os.Remove(own)
	fd, err := syscall.Open(own, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	dir, conf := writeConf(t, "job {\nname alone\ncmd /bin/sleep 7301\n}\n")
	d := &daemonProc{t: t, cmd: exec.Command(pmtrBin, "-F", "-c", conf), log: &syncBuf{}, conf: conf, done: make(chan error, 1)}
	d.cmd.Dir, d.cmd.Stderr = dir, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	waitRunning(t, 1, 5*time.Second, []string{"/bin/sleep", "7301"})
	cg, _ := os.ReadFile("/proc/" + fmtInt(d.cmd.Process.Pid) + "/cgroup")
	if !strings.Contains(string(cg), "/pmtr-test-"+fmtInt(os.Getpid())+"/pmtr-") || !strings.HasSuffix(strings.TrimSpace(string(cg)), "/supervisor") {
		t.Fatalf("pmtr is in %s", cg)
	}
	job := running("/bin/sleep", "7301")[0]
	jcg, _ := os.ReadFile("/proc/" + fmtInt(job) + "/cgroup")
	if !strings.HasSuffix(strings.TrimSpace(string(jcg)), "/job-alone") {
		t.Fatalf("the job is in %s", jcg)
	}
	d.terminate(5 * time.Second)
	waitRunning(t, 0, time.Second, []string{"/bin/sleep", "7301"})
	for _, p := range []string{"supervisor", ""} { // the leaf and the subtree pmtr left behind
		matches, _ := filepath.Glob(filepath.Join(own, "pmtr-*", p))
		for _, m := range matches {
			os.Remove(m)
		}
	}
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
