package proctest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pmtr/procfs"
)

func TestMain(m *testing.M) {
	if code, done := Isolate(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestIsolated: as root the tests run in a PID namespace whose first
// process, their parent, is this binary, reaping.
func TestIsolated(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: no PID namespace")
	}
	env, _ := os.ReadFile("/proc/1/environ")
	if os.Getppid() != 1 || os.Getenv(envNS) != "tests" || !strings.Contains(string(env), envNS+"=init\x00") {
		t.Fatalf("the tests run as pid %d, child of %d (%s=%q), want a child of the first process of their own namespace", os.Getpid(), os.Getppid(), envNS, os.Getenv(envNS))
	}
}

// TestMarkFollowsForksAndIsKilledAtTheEnd: a process that leaves its
// session and its parent still carries the test's mark, and is killed
// when the test ends, failed or not.
func TestMarkFollowsForksAndIsKilledAtTheEnd(t *testing.T) {
	var escaped []int
	t.Run("inner", func(t *testing.T) {
		dir := t.TempDir()
		cmd := Command(t, "/bin/sh", "-c", "(setsid /bin/sleep 1000 & echo $! > "+dir+"/pid) &")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(escaped) == 0 {
			b, _ := os.ReadFile(dir + "/pid")
			if pid, err := strconv.Atoi(string(b[:max(len(b)-1, 0)])); err == nil {
				escaped = append(escaped, pid)
			}
			if time.Now().After(deadline) {
				t.Fatal("no pid written")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for len(MarkedArgv(t, "/bin/sleep", "1000")) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the escaped sleep does not carry the mark: %v", Marked(t))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	for _, pid := range escaped {
		if procfs.Alive(pid) {
			t.Fatalf("process %d of the subtest outlived it", pid)
		}
	}
}
