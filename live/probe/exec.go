package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/logsafe"
)

// outputMax is how much of an exec probe's output, or of an http answer's
// body, is kept for why.
const outputMax = 200

// outputGrace is how long an exec probe's output is still read once its
// process has exited: what its group wrote is in the pipe by then, and
// only a process that left the group can hold the pipe open longer.
const outputGrace = 100 * time.Millisecond

// Exit is how an exec probe's process ended.
type Exit struct {
	Status unix.WaitStatus
	Err    error // the exit could not be learnt; Status means nothing
}

// Child is an exec probe's process, started by a Spawner.
type Child struct {
	PID int
	// Exited receives the exit once the process has ended, what was left
	// of its process group has been killed (a probe leaves nothing behind)
	// and it has been reaped.
	Exited <-chan Exit
	// Kill sends SIGKILL to the process group (the runner's kill at the
	// timeout); it must do nothing once the leader is reaped, when the
	// group's number may belong to someone else.
	Kill func()
}

// Spawner starts path with argv as attr says. attr.Sys asks for a process
// group of its own (Setpgid), and maybe for a cgroup (UseCgroupFD).
type Spawner func(path string, argv []string, attr *os.ProcAttr) (Child, error)

// ForkAndWait is the Spawner of a process where nothing else reaps its
// children (tests, tools). It waits for the child on a goroutine of its
// own, in waitid (a thread while the probe runs: exec attempts are few at
// once). It kills what is left of the group after the leader has exited
// but before it is reaped, so the group's number is still the probe's.
func ForkAndWait(path string, argv []string, attr *os.ProcAttr) (Child, error) {
	p, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return Child{}, err
	}
	pid := p.Pid
	p.Release() // waited for by number below, never through os
	var mu sync.Mutex
	reaped := false
	exited := make(chan Exit, 1)
	go func() {
		var info unix.Siginfo
		err := eintr(func() error { return unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) })
		mu.Lock()
		if err == nil {
			unix.Kill(-pid, unix.SIGKILL)
		}
		var ws unix.WaitStatus
		werr := eintr(func() error { _, err := unix.Wait4(pid, &ws, 0, nil); return err })
		reaped = true
		mu.Unlock()
		exited <- Exit{Status: ws, Err: errors.Join(err, werr)}
	}()
	kill := func() {
		mu.Lock()
		if !reaped {
			unix.Kill(-pid, unix.SIGKILL)
		}
		mu.Unlock()
	}
	return Child{PID: pid, Exited: exited, Kill: kill}, nil
}

func eintr(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// exec runs spec: exit 0 is ok. At the timeout its whole process group is
// killed. Its output (stdout and stderr together) is kept up to outputMax.
func (r *Runner) exec(ctx context.Context, spec ExecSpec, timeout time.Duration) (bool, string, string) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return false, "probe: no program to run", ""
	}
	prog := spec.Argv[0]
	child, outR, err := r.startExec(spec)
	if err != nil {
		return false, err.Error(), ""
	}
	head := make(chan output, 1)
	go readHead(outR, head)
	var ex Exit
	select {
	case ex = <-child.Exited:
	case <-ctx.Done():
		child.Kill()
		ex = <-child.Exited
	}
	outR.SetReadDeadline(time.Now().Add(outputGrace))
	out := <-head
	outR.Close()
	text := escapeOutput(out.head, out.more)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return false, prog + " timed out after " + timeout.String() + ": its process group was killed", text
	case ctx.Err() != nil:
		return false, prog + " was cancelled: pmtr is stopping its probes", text
	case ex.Err != nil:
		return false, prog + ": its exit is unknown: " + ex.Err.Error(), text
	case ex.Status.Signaled():
		return false, prog + " was killed by " + unix.SignalName(ex.Status.Signal()), text
	}
	code := ex.Status.ExitStatus()
	return code == 0, prog + " exited " + strconv.Itoa(code), text
}

// startExec forks spec's program with its output on a pipe and stdin on
// /dev/null, in a process group of its own and, if asked, in a cgroup.
func (r *Runner) startExec(spec ExecSpec) (Child, *os.File, error) {
	prog := spec.Argv[0]
	if spec.Dir != "" { // StartProcess would word a bad dir as an exec error
		if st, err := os.Stat(spec.Dir); err != nil || !st.IsDir() {
			if err == nil {
				err = syscall.ENOTDIR
			}
			return Child{}, nil, fmt.Errorf("can't chdir %s: %s", spec.Dir, errnoText(err))
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return Child{}, nil, fmt.Errorf("probe: output pipe: %w", err)
	}
	defer outW.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		outR.Close()
		return Child{}, nil, fmt.Errorf("probe: %w", err)
	}
	defer devnull.Close()
	attr := &os.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: []*os.File{devnull, outW, outW},
		Sys: &syscall.SysProcAttr{Setpgid: true, Credential: spec.Cred}}
	child, err := r.spawnIn(spec.Cgroup, prog, spec.Argv, attr)
	if err != nil {
		outR.Close()
		return Child{}, nil, err
	}
	return child, outR, nil
}

// spawnIn forks into cgroup (when not ""): atomically through clone3 where
// the kernel has it, else by moving the child right after the fork.
func (r *Runner) spawnIn(cgroup, prog string, argv []string, attr *os.ProcAttr) (Child, error) {
	if cgroup == "" {
		child, err := r.spawn(prog, argv, attr)
		return child, execError(prog, err)
	}
	fd, err := unix.Open(cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Child{}, fmt.Errorf("can't exec %s in cgroup %s: %s", prog, cgroup, errnoText(err))
	}
	defer unix.Close(fd)
	attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	child, err := r.spawn(prog, argv, attr)
	if !errors.Is(err, syscall.ENOSYS) && !errors.Is(err, syscall.EINVAL) {
		if err != nil { // the fork into it or the exec: both are named
			return Child{}, fmt.Errorf("can't exec %s in cgroup %s: %s", prog, cgroup, errnoText(err))
		}
		return child, nil
	}
	attr.Sys.UseCgroupFD = false
	if child, err = r.spawn(prog, argv, attr); err != nil {
		return Child{}, execError(prog, err)
	}
	if err := joinCgroup(cgroup, child.PID); err != nil {
		child.Kill()
		<-child.Exited
		return Child{}, fmt.Errorf("can't exec %s in cgroup %s: %s", prog, cgroup, errnoText(err))
	}
	return child, nil
}

// joinCgroup moves pid into cgroup (never making a file there: a
// directory that is not a cgroup has no cgroup.procs).
func joinCgroup(cgroup string, pid int) error {
	f, err := os.OpenFile(filepath.Join(cgroup, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// execError words a failed fork or exec as live words a job's.
func execError(prog string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("can't exec %s: %s", prog, errnoText(err))
}

// errnoText is the system's word for err: "no such file or directory".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// output is the start of what an exec probe wrote.
type output struct {
	head []byte
	more bool // it wrote more than head
}

// readHead reads f until its end (or its deadline), keeping outputMax bytes.
func readHead(f *os.File, to chan<- output) {
	var o output
	buf := make([]byte, 512)
	for {
		n, err := f.Read(buf)
		if room := outputMax - len(o.head); n > room {
			o.head = append(o.head, buf[:room]...)
			o.more = true
		} else {
			o.head = append(o.head, buf[:n]...)
		}
		if err != nil {
			break
		}
	}
	to <- o
}

// escapeOutput makes kept output fit for one log line: escaped, nothing
// cut but what outputMax left out (marked "...").
func escapeOutput(head []byte, more bool) string {
	s := strings.TrimRight(string(head), "\r\n")
	if s == "" && !more {
		return ""
	}
	s = logsafe.Cap(s, 4*outputMax)
	if more {
		s += "..."
	}
	return s
}
