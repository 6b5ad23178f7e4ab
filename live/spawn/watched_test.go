package spawn

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A probe whose watch is registered after the reaper first looked, but
// before it decided, is told its exit; nothing goes to the driver, now or
// when its fork is counted done.
func TestWatchRegisteredWhileItsExitIsReaped(t *testing.T) {
	pt := newProcTable()
	pt.forking()
	const pid = 1 << 22 // no such process: the group kill finds nobody
	if pt.reapedWatched(pid, 0) {
		t.Fatal("a pid not watched yet was taken as watched")
	}
	told := make(chan unix.WaitStatus, 1)
	pt.watch(pid, func(ws unix.WaitStatus) { told <- ws })
	if hold, _ := pt.reaped(exitOf(pid), unix.WaitStatus(3<<8), pid, ""); !hold {
		t.Fatal("a watched process's exit went to the driver")
	}
	select {
	case ws := <-told:
		if ws.ExitStatus() != 3 {
			t.Fatalf("told exit status %d, want 3", ws.ExitStatus())
		}
	default:
		t.Fatal("the probe was not told its exit")
	}
	if evs := pt.forked(0, ""); len(evs) != 0 {
		t.Fatalf("the fork's end sent %v to the driver", evs)
	}
}
