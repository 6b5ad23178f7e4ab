package live

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLiveTenSecondRules checks, in one 11-second run, the two timings that
// take ten seconds: a quick exit is restarted 10 s after it exited, and a
// job that ignores SIGTERM gets SIGKILL 10 s after its SIGTERM.
func TestLiveTenSecondRules(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 11 s")
	}
	conf := `job {
name quick
cmd /bin/sh -c "exit 3"
}
job {
name stubborn
cmd /bin/sh -c "trap '' TERM; while true; do sleep 1; done"
}
`
	r := startDaemon(t, conf)
	r.waitLog(`started job stubborn \[(\d+)\]`, 5*time.Second)
	exitAt := waitLogTime(r, `job quick \[\d+\] exited after 0 sec: exit status 3`)
	r.reload("job {\nname quick\ncmd /bin/sh -c \"exit 3\"\n}\n")
	termAt := waitLogTime(r, `sending SIGTERM to job stubborn\(deleted\)`)
	restartAt := waitLogTimeWithin(r, `(?s)exit status 3\n.*started job quick`, 12*time.Second)
	killAt := waitLogTimeWithin(r, `sending SIGKILL to job stubborn\(deleted\)`, 12*time.Second)
	r.waitLog(`job stubborn\(deleted\) \[\d+\] exited after \d+ sec: signal 9`, 2*time.Second)
	if d := restartAt.Sub(exitAt); d < 9900*time.Millisecond || d > 10800*time.Millisecond {
		t.Errorf("quick exit restarted %v after the exit, want 10 s", d)
	}
	if d := killAt.Sub(termAt); d < 9900*time.Millisecond || d > 10800*time.Millisecond {
		t.Errorf("SIGKILL %v after SIGTERM, want 10 s", d)
	}
}

func waitLogTime(r *running, re string) time.Time { return waitLogTimeWithin(r, re, 5*time.Second) }

// waitLogTimeWithin returns when the line appeared, to within the 5 ms poll.
func waitLogTimeWithin(r *running, re string, within time.Duration) time.Time {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r.count(re) > 0 {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.waitLog(re, 0)
	return time.Time{}
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
	r.waitLog(`started job who`, 5*time.Second)
	want := nobody.Uid + "\n77\n77\n" + nobody.HomeDir + " nobody\n"
	deadline := time.Now().Add(5 * time.Second)
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
	r.waitLog(`(?s)unknown user: no-such-user-pmtr\n.*job ghost \[\d+\] exited after 0 sec: exit status 255`, 5*time.Second)
	if !strings.Contains(r.out.String(), "started job fine") {
		t.Fatalf("the other job did not start:\n%s", r.out)
	}
}
