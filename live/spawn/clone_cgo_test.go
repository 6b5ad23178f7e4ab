//go:build cgo && linux && amd64

package spawn

import (
	"os"
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
		fds := make([]uintptr, len(ln.attr.Files))
		for i, f := range ln.attr.Files {
			fds[i] = f.Fd()
		}
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

// An exec that fails is an error worded as Go's fork words it, and leaves
// no child behind.
func TestCloneStartExecFailure(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	j := confgrammar.Job{Name: "c", Cmd: []string{filepath.Join(t.TempDir(), "missing")}}
	ln, err := l.prepare(&j, StartNotice{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ln.child)
	fds := make([]uintptr, len(ln.attr.Files))
	for i, f := range ln.attr.Files {
		fds[i] = f.Fd()
	}
	before := children(t)
	pid, ok, err := ln.cloneStart(fds)
	if !ok {
		t.Skip("this kernel has no clone3")
	}
	if pid != 0 || err == nil || err.Error() != "fork/exec "+j.Cmd[0]+": no such file or directory" {
		t.Fatalf("pid %d, err %v", pid, err)
	}
	if after := children(t); after != before {
		t.Errorf("children before the failed exec: %q, after: %q", before, after)
	}
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
	fds := make([]uintptr, len(ln.attr.Files))
	for i, f := range ln.attr.Files {
		fds[i] = f.Fd()
	}
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
