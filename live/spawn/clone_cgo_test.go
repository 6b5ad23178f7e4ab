//go:build cgo && linux && amd64

package spawn

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
)

// A job started by pmtr's own fork (cloneStart) looks to itself exactly as
// one started by Go's: signals (an ignored one stays ignored), process
// group, directory, limit on open files, environment, descriptors.
func TestCloneStartIsGoFork(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGWINCH)
	defer signal.Reset(syscall.SIGWINCH)
	dir := t.TempDir()
	j := confgrammar.Job{Name: "c", Cmd: []string{"/bin/sleep", "100300"}, Dir: dir, Out: "out", Err: "/dev/null",
		Env: []string{"PMTR_CLONE_TEST=1"}}
	seen := map[string]map[string]string{}
	for _, path := range []string{"clone", "go"} {
		ln, err := l.prepare(&j, StartNotice{})
		if err != nil {
			t.Fatal(err)
		}
		fds := ln.fds()
		var pid int
		if path == "clone" {
			var ok bool
			if pid, ok, err = ln.cloneStart(fds); !ok {
				t.Skip("this kernel has no clone3: every start is Go's")
			}
		} else {
			pid, _, err = syscall.StartProcess(ln.path, ln.argv, &syscall.ProcAttr{Dir: ln.attr.Dir, Env: ln.attr.Env, Files: fds, Sys: ln.attr.Sys})
		}
		closeAll(ln.child)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		waitAsleep(t, pid) // the exec has closed pmtr's descriptors, and sleep runs
		seen[path] = childState(t, pid)
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		if got := seen[path]["pgrp"]; got != strconv.Itoa(pid) {
			t.Errorf("%s: the job's process group is %s, want its own (%d)", path, got, pid)
		}
	}
	c, g := seen["clone"], seen["go"]
	for k, v := range g {
		if k != "pgrp" && c[k] != v { // each its own: checked above
			t.Errorf("%s: pmtr's fork gives %q, Go's %q", k, c[k], v)
		}
	}
	if c["cwd"] != dir || !strings.Contains(c["env"], "PMTR_CLONE_TEST=1") || c["fd1"] != filepath.Join(dir, "out") {
		t.Errorf("the job's directory, environment or out is not the job's: %v", c)
	}
	if ign, err := strconv.ParseUint(c["SigIgn"], 16, 64); err != nil || ign&(1<<(syscall.SIGWINCH-1)) == 0 {
		t.Errorf("SIGWINCH, ignored in pmtr, is not ignored in the job (SigIgn %s)", c["SigIgn"])
	}
}

// waitAsleep waits until the sleep in pid waits in nanosleep: its exec is
// done (a fork returns once the child's exec has begun).
func waitAsleep(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan"); strings.Contains(string(b), "nanosleep") {
			return
		}
	}
	t.Fatalf("process %d is not asleep in sleep after 10 s", pid)
}

// childState is what a process sees of itself that a fork decides.
func childState(t *testing.T, pid int) map[string]string {
	t.Helper()
	p := "/proc/" + strconv.Itoa(pid)
	m := map[string]string{}
	status, err := os.ReadFile(p + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "SigBlk" || k == "SigIgn" || k == "SigCgt" || k == "NoNewPrivs" { // not SigQ: the user's, machine-wide
			m[k] = strings.TrimSpace(v)
		}
	}
	stat, _ := os.ReadFile(p + "/stat")
	if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 2 {
		m["pgrp"] = f[2]
	}
	m["cwd"], _ = os.Readlink(p + "/cwd")
	env, _ := os.ReadFile(p + "/environ")
	m["env"] = string(env)
	limits, _ := os.ReadFile(p + "/limits")
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			m["nofile"] = line
		}
	}
	ents, _ := os.ReadDir(p + "/fd")
	m["fds"] = strconv.Itoa(len(ents))
	for i := range 3 {
		m["fd"+strconv.Itoa(i)], _ = os.Readlink(p + "/fd/" + strconv.Itoa(i))
	}
	return m
}

// An exec that fails is the job's errno, worded by fork as Go's fork's
// is, and leaves no child behind.
func TestCloneStartExecFailure(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	j := confgrammar.Job{Name: "c", Cmd: []string{filepath.Join(t.TempDir(), "missing")}}
	before := children(t)
	for _, through := range []string{"cloneStart", "fork"} {
		ln, err := l.prepare(&j, StartNotice{})
		if err != nil {
			t.Fatal(err)
		}
		fds := ln.fds()
		var pid int
		if through == "cloneStart" {
			var ok bool
			if pid, ok, err = ln.cloneStart(fds); !ok {
				t.Skip("this kernel has no clone3")
			}
			if err != syscall.ENOENT {
				t.Errorf("cloneStart: pid %d, err %v; want ENOENT", pid, err)
			}
		} else if pid, err = ln.fork(); err == nil || err.Error() != "fork/exec "+j.Cmd[0]+": no such file or directory" {
			t.Errorf("fork: pid %d, err %v", pid, err)
		}
		closeAll(ln.child)
	}
	if after := children(t); after != before {
		t.Errorf("children before the failed execs: %q, after: %q", before, after)
	}
}

// A job gets back the limit on open files pmtr was started with, which
// the Go runtime raised for pmtr, as from Go's fork; and keeps pmtr's when
// someone has changed pmtr's since. (Run in a copy of the test binary
// started with a low soft limit: the limit is taken when pmtr starts.)
func TestCloneStartGivesBackTheOpenFilesLimit(t *testing.T) {
	if os.Getenv("PMTR_NOFILE_TEST") == "" {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Skip("no prlimit (util-linux) to start the test with a low limit")
		}
		cmd := exec.Command(prlimit, "--nofile=1024:4096", os.Args[0], "-test.run=^TestCloneStartGivesBackTheOpenFilesLimit$", "-test.v")
		cmd.Env = append(os.Environ(), "PMTR_NOFILE_TEST=1")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); lim.Cur != 4095 || lim.Max != 4096 {
		t.Fatalf("the Go runtime left the limit at %d:%d, want 4095:4096", lim.Cur, lim.Max)
	}
	if got := childLimit(t); got != "1024 4096" {
		t.Errorf("the job's limit is %q, want pmtr's first 1024 4096", got)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 2048, Max: 4096}); err != nil { // as prlimit from outside would
		t.Fatal(err)
	}
	if got := childLimit(t); got != "2048 4096" {
		t.Errorf("after a change of pmtr's limit the job's is %q, want 2048 4096", got)
	}
}

// childLimit starts /bin/sh through cloneStart and returns its soft and
// hard limits on open files.
func childLimit(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ln := &launch{path: "/bin/sh", argv: []string{"sh", "-c", "echo $(ulimit -Sn) $(ulimit -Hn)"},
		attr: &os.ProcAttr{Env: os.Environ(), Sys: &syscall.SysProcAttr{Setpgid: true}}}
	fds := []uintptr{^uintptr(0), w.Fd(), w.Fd()}
	pid, ok, err := ln.cloneStart(fds)
	w.Close()
	if !ok || err != nil {
		t.Fatalf("cloneStart: ok %v, err %v", ok, err)
	}
	out, _ := io.ReadAll(r)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	return strings.TrimSpace(string(out))
}

// children lists this process's children, zombies included.
func children(t *testing.T) string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip(err)
	}
	var all []string
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		all = append(all, strings.Fields(string(b))...)
	}
	slices.Sort(all)
	return strings.Join(all, " ")
}

// A fork that fails (here a cgroup descriptor that is no cgroup) is left
// to Go's fork, whose error pmtr reports as before; only ENOSYS and EPERM
// (no clone3, or a seccomp profile that refuses it) turn the path off.
func TestCloneStartLeavesForkFailuresToGo(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	j := confgrammar.Job{Name: "c", Cmd: []string{"/bin/true"}}
	ln, err := l.prepare(&j, StartNotice{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ln.child)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln.attr.Sys.UseCgroupFD, ln.attr.Sys.CgroupFD = true, int(f.Fd())
	fds := ln.fds()
	if pid, ok, err := ln.cloneStart(fds); ok || pid != 0 || err != nil {
		t.Fatalf("a failed fork: pid %d, ok %v, err %v; want it left to Go's fork", pid, ok, err)
	}
	if cloneOff.Load() {
		t.Fatal("a fork failure other than ENOSYS or EPERM turned pmtr's fork off")
	}
}

// BenchmarkForkPaths: Go's fork against pmtr's own (cloneStart), 200
// /bin/true started by 4 goroutines per op, as DefaultSpawners do; the
// children are reaped after. forks/s.
func BenchmarkForkPaths(b *testing.B) {
	const n, workers = 200, DefaultSpawners
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	fd := devnull.Fd()
	fds := []uintptr{fd, fd, fd}
	ln := &launch{path: "/bin/true", argv: []string{"true"},
		attr: &os.ProcAttr{Env: os.Environ(), Sys: &syscall.SysProcAttr{Setpgid: true}}}
	start := map[string]func() (int, error){
		"go": func() (int, error) {
			pid, _, err := syscall.StartProcess(ln.path, ln.argv, &syscall.ProcAttr{Env: ln.attr.Env, Files: fds, Sys: ln.attr.Sys})
			return pid, err
		},
		"pmtr": func() (int, error) {
			pid, ok, err := ln.cloneStart(fds)
			if !ok {
				b.Skip("this kernel has no clone3")
			}
			return pid, err
		},
	}
	for _, path := range []string{"go", "pmtr"} {
		b.Run("fork="+path, func(b *testing.B) {
			pids := make(chan int, n)
			for b.Loop() {
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						for range n / workers {
							pid, err := start[path]()
							if err != nil {
								b.Error(err)
								return
							}
							pids <- pid
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				for range n / workers * workers {
					var ws unix.WaitStatus
					unix.Wait4(<-pids, &ws, 0, nil)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "forks/s")
		})
	}
}
