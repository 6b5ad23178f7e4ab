package proctest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envNS tells a test binary which part it plays: "init" is the first
// process of the namespace, "tests" the one that runs the tests.
const envNS = "PMTR_TEST_PIDNS"

// Isolate runs the test binary again in a PID namespace of its own, with
// its own /proc: the tests see, count and signal only the processes of
// this run, and when the run ends, or is killed, the kernel kills every
// process it left. Call it first in TestMain; when done is true, exit
// with code. Where no namespace can be made (not root), it says so and
// returns done false: the tests run here, as before.
func Isolate() (code int, done bool) {
	switch os.Getenv(envNS) {
	case "tests":
		return 0, false
	case "init":
		return nsInit(), true
	}
	code, err := runInNamespace()
	if err != nil {
		fmt.Fprintf(os.Stderr, "proctest: the tests run without a PID namespace of their own: %v\n", err)
		return 0, false
	}
	return code, true
}

// runInNamespace starts the namespace's first process and waits for the
// tests' exit code, or the reason there is no namespace.
func runInNamespace() (int, error) {
	ready, tell, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer ready.Close()
	// Pdeathsig goes with the thread that started the process: this one
	// stays until the tests are over.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = withEnv(os.Environ(), envNS+"=init")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{tell}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	tell.Close()
	if err != nil {
		return 0, err
	}
	word, _ := io.ReadAll(ready)
	werr := cmd.Wait()
	if string(word) != "ok" {
		return 0, fmt.Errorf("%s", word)
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return 0, nil
	case errors.As(werr, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), nil
	default:
		fmt.Fprintf(os.Stderr, "proctest: the namespace of the tests ended: %v\n", werr)
		return 2, nil
	}
}

// nsInit is the namespace's first process: it mounts the namespace's own
// /proc, starts the tests, reaps every orphan, and exits with the tests'
// code, which ends the namespace and everything left in it.
func nsInit() int {
	tell := os.NewFile(3, "ready")
	fail := func(err error) int {
		fmt.Fprintf(tell, "%v", err)
		return 125
	}
	// Mounts made here must not reach the machine's own mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(fmt.Errorf("private mounts: %w", err))
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail(fmt.Errorf("mount /proc: %w", err))
	}
	p, err := os.StartProcess("/proc/self/exe", os.Args, &os.ProcAttr{
		Env:   withEnv(os.Environ(), envNS+"=tests"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return fail(fmt.Errorf("start the tests: %w", err))
	}
	fmt.Fprint(tell, "ok")
	tell.Close()
	return reapUntil(p.Pid)
}

// reapUntil reaps every child, orphans included, until tests exits.
func reapUntil(tests int) int {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "proctest: wait: %v\n", err)
			return 2
		}
		if pid != tests {
			continue
		}
		if ws.Signaled() {
			fmt.Fprintf(os.Stderr, "proctest: the tests were killed by %v\n", ws.Signal())
			return 2
		}
		return ws.ExitStatus()
	}
}

// withEnv is env with kv set, in place of an earlier value.
func withEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	return append(out, kv)
}
