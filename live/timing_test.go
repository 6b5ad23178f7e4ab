package live

import (
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLiveTenSecondRules checks, in one 11-second run, the two timings that
// take ten seconds: a quick exit is restarted 10 s after it exited, and a
// job that ignores SIGTERM gets SIGKILL 10 s after its SIGTERM. The times
// are those at which the log lines were written; each pair is 10 s apart
// to within 10 ms on a quiet machine. The core's rules pin the 10 s
// exactly (core/rules_test.go); here a line written late, on a busy
// machine, may make a pair up to 0.5 s short or 2 s long.
func TestLiveTenSecondRules(t *testing.T) {
	conf := `job {
name quick
cmd /bin/sh -c "exit 3"
}
job {
name stubborn
cmd /bin/sh -c "trap '' TERM; echo ready; while true; do sleep 1; done"
}
`
	buf := &timedBuffer{start: time.Now()}
	r := startDaemonLog(t, conf, buf)
	r.waitLog(`stubborn\[\d+\]: ready`, eventWait) // SIGTERM is ignored from now on
	r.waitLog(`job quick \[\d+\] exited after 0 sec: exit status 3`, eventWait)
	r.reload("job {\nname quick\ncmd /bin/sh -c \"exit 3\"\n}\n")
	r.waitLog(`(?s)exit status 3\n.*started job quick`, 10*time.Second+eventWait)
	r.waitLog(`job stubborn\(deleted\) \[\d+\] exited after \d+ sec: signal 9`, 10*time.Second+eventWait)
	exitAt := buf.at(t, `job quick \[\d+\] exited after 0 sec: exit status 3`, 1)
	restartAt := buf.at(t, `started job quick`, 2)
	termAt := buf.at(t, `sending SIGTERM to job stubborn\(deleted\)`, 1)
	killAt := buf.at(t, `sending SIGKILL to job stubborn\(deleted\)`, 1)
	t.Logf("restart %v after the exit, SIGKILL %v after SIGTERM", restartAt-exitAt, killAt-termAt)
	if d := restartAt - exitAt; d < 9500*time.Millisecond || d > 12*time.Second {
		t.Errorf("quick exit restarted %v after the exit, want 10 s", d)
	}
	if d := killAt - termAt; d < 9500*time.Millisecond || d > 12*time.Second {
		t.Errorf("SIGKILL %v after SIGTERM, want 10 s", d)
	}
}

// at is when the n-th line matching re was written.
func (b *timedBuffer) at(t *testing.T, re string, n int) time.Duration {
	t.Helper()
	rx := regexp.MustCompile(re)
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := 0
	for _, l := range b.lines {
		if rx.MatchString(l.text) {
			if seen++; seen == n {
				return l.at
			}
		}
	}
	t.Fatalf("no line %d matching %q was written", n, re)
	return 0
}

func TestLiveUserAndUlimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a job as user nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this machine")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // nobody must reach the directory
	os.Chmod(dir, 0o777)
	r := startDaemon(t, `job {
name who
cmd /bin/sh -c "id -u; ulimit -n; ulimit -H -n; echo $HOME $USER; sleep 60"
user nobody
ulimit -n 77
out `+dir+`/who.txt
}
`)
	r.waitLog(`started job who`, eventWait)
	want := nobody.Uid + "\n77\n77\n" + nobody.HomeDir + " nobody\n"
	deadline := time.Now().Add(eventWait)
	var got []byte
	for time.Now().Before(deadline) {
		if got, _ = os.ReadFile(dir + "/who.txt"); string(got) == want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(got) != want {
		t.Fatalf("who.txt = %q, want %q\n%s", got, want, r.out)
	}
	st, _ := os.Stat(dir + "/who.txt")
	if uid := fileUID(st); uid != nobody.Uid {
		t.Fatalf("out file owned by uid %s, want nobody's %s (opened after the switch)", uid, nobody.Uid)
	}
}

func TestLiveUnknownUserKeepsOthersRunning(t *testing.T) {
	r := startDaemon(t, "job {\nname ghost\nuser no-such-user-pmtr\ncmd /bin/true\n}\njob {\nname fine\ncmd /bin/sleep 67\n}\n")
	r.waitLog(`(?s)unknown user: no-such-user-pmtr\n.*job ghost \[\d+\] exited after 0 sec: exit status 255`, eventWait)
	if !strings.Contains(r.out.String(), "started job fine") {
		t.Fatalf("the other job did not start:\n%s", r.out)
	}
}
