// Package proctest keeps the processes a test starts to that test. Each
// test gets a mark (this run's random part and the test's name) that its
// processes carry in their environment, and that they hand down to every
// process they start, setsid and double forks included; a test counts and
// signals only processes with its mark, and when it ends, passed or
// failed, whatever still carries the mark is killed. Isolate runs a whole
// test binary in a PID namespace of its own, so that nothing it started
// outlives it even when it is killed.
package proctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pmtr/procfs"
)

// EnvMark is the environment variable that carries a test's mark.
const EnvMark = "PMTR_TEST_MARK"

// runID tells this run of the test binary from any other, on this machine
// or in another copy of the suite.
var runID = randomHex(6)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("proctest: no randomness: %v", err))
	}
	return hex.EncodeToString(b)
}

var marks struct {
	sync.Mutex
	byTest map[testing.TB]string
	n      int
}

// Mark is t's mark. The first call for a test arranges for every process
// that carries it to be killed when the test ends; call it before starting
// a process, so that this runs after the test's own cleanups (an orderly
// stop of its daemon).
func Mark(t testing.TB) string {
	t.Helper()
	marks.Lock()
	defer marks.Unlock()
	if m, ok := marks.byTest[t]; ok {
		return m
	}
	if marks.byTest == nil {
		marks.byTest = map[testing.TB]string{}
	}
	marks.n++
	m := fmt.Sprintf("%s-%d-%s", runID, marks.n, strings.ReplaceAll(t.Name(), " ", "_"))
	marks.byTest[t] = m
	t.Cleanup(func() {
		if left := killMarked(m); len(left) > 0 {
			t.Logf("proctest: processes of the test still there after SIGKILL: %v", left)
		}
		marks.Lock()
		delete(marks.byTest, t)
		marks.Unlock()
	})
	return m
}

// ID is a short name for t in this run, for files and cgroups that other
// runs on the machine might share: this run's random part and a number.
func ID(t testing.TB) string {
	t.Helper()
	id, _, _ := strings.Cut(strings.TrimPrefix(Mark(t), runID+"-"), "-")
	return runID + "-" + id
}

// Env is the environment entry that gives a process t's mark.
func Env(t testing.TB) string {
	t.Helper()
	return EnvMark + "=" + Mark(t)
}

// Command is exec.Command for a process of t: it carries t's mark.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), Env(t))
	return cmd
}

// Marked lists t's processes that are alive (not zombies).
func Marked(t testing.TB) []int {
	t.Helper()
	return marked(Mark(t))
}

// MarkedArgv lists t's live processes whose command line is exactly argv.
func MarkedArgv(t testing.TB, argv ...string) []int {
	t.Helper()
	want := strings.Join(argv, "\x00") + "\x00"
	var out []int
	for _, pid := range Marked(t) {
		if procfs.Cmdline(pid) == want {
			out = append(out, pid)
		}
	}
	return out
}

func marked(mark string) []int {
	entry := []byte("\x00" + EnvMark + "=" + mark + "\x00")
	var out []int
	for _, pid := range procfs.PIDs() {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), entry) {
			continue
		}
		if procfs.Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Kill kills t's processes now (a cleanup that needs them gone first
// calls it), and returns those it could not.
func Kill(t testing.TB) []int {
	t.Helper()
	return killMarked(Mark(t))
}

// killMarked sends SIGKILL to every process with the mark, again until
// none is left (one may fork while the others die), and returns those
// still alive after 10 s.
func killMarked(mark string) []int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := marked(mark)
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGCONT) // a stopped process dies at once either way
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // the kernel ends them; then look again
	}
}

// Heavy skips t under go test -short: it starts daemons, or many processes.
func Heavy(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes (go test -short skips the process-heavy tests)")
	}
}
