package spawn

import (
	"testing"

	"pmtr/core"
	"pmtr/driver"
)

func exitOf(pid int) driver.Event { return driver.Event{Ev: core.Exited{PID: pid}} }

// The reaper never waits for a fork: an exit it reaps before the fork that
// made the process has queued its Spawned is held and handed back to that
// fork, to come after Spawned; what no fork claims goes out once no fork is
// in flight.
func TestExitBeforeItsSpawnedIsHeld(t *testing.T) {
	pt := newProcTable()
	pt.forking()
	pt.forking()
	if hold, _ := pt.exited(exitOf(101), 101, ""); !hold {
		t.Fatal("the exit of an unknown pid went out while forks were in flight")
	}
	if hold, _ := pt.exited(exitOf(999), 999, ""); !hold {
		t.Fatal("an orphan's exit went out while forks were in flight")
	}
	if evs := pt.forked(101, "web"); len(evs) != 1 || evs[0].Ev.(core.Exited).PID != 101 {
		t.Fatalf("the fork of 101 got back %v, want its exit", evs)
	}
	if _, known := pt.jobs[101]; known {
		t.Fatal("a process that has exited is still listed")
	}
	if evs := pt.forked(0, ""); len(evs) != 1 || evs[0].Ev.(core.Exited).PID != 999 {
		t.Fatalf("the last fork got back %v, want the orphan's exit", evs)
	}
	if hold, _ := pt.exited(exitOf(998), 998, ""); hold {
		t.Fatal("an orphan's exit was held with no fork in flight")
	}
}

// A helper's exit reaped before its Spawned waits for its exec status too.
func TestEarlyExitOfAHelperWaitsForItsStatus(t *testing.T) {
	pt := newProcTable()
	pt.forking()
	pt.exited(exitOf(7), 7, "")
	pt.await(7)
	if evs := pt.forked(7, "h"); len(evs) != 0 {
		t.Fatalf("a helper's exit went out before its exec status: %v", evs)
	}
	if ev, ok := pt.release(7); !ok || ev.Ev.(core.Exited).PID != 7 {
		t.Fatal("the helper's exit was not held for its exec status")
	}
}
