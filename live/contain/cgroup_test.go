package contain

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A quick exit can start a job again before the signalling of its stopped
// run has read the cgroup's process list; the new run must not get that
// signal, so its start waits until the signalling is done. (It failed as
// a bounce whose new run got the old run's SIGTERM.)
func TestStartWaitsForSignalsToItsCgroup(t *testing.T) {
	c := newCgroups(nil)
	c.base = t.TempDir() // a plain directory: no process is listed, fd works
	c.busyMu.Lock()
	c.busy["web"]++ // as signalLater does before its goroutine runs
	c.busyMu.Unlock()

	other := c.open("db")
	if other < 0 {
		t.Fatal("another job's start waited for web's signalling, or its directory failed")
	}
	got := make(chan int, 1)
	go func() { got <- c.open("web") }()
	select {
	case fd := <-got:
		unix.Close(fd)
		t.Fatal("web started while a signal to web's cgroup was still in flight")
	case <-time.After(100 * time.Millisecond):
	}
	c.settle("web")
	select {
	case fd := <-got:
		if fd < 0 {
			t.Fatal("web's cgroup directory could not be opened")
		}
		unix.Close(fd)
	case <-time.After(30 * time.Second):
		t.Fatal("web's start still waits after its signalling was done")
	}
	unix.Close(other)
	if len(c.busy) != 0 {
		t.Fatalf("signallings left in flight: %v", c.busy)
	}
}

// signalLater with containment off does nothing and leaves nothing to wait for.
func TestSignalLaterWithoutCgroups(t *testing.T) {
	c := newCgroups(nil)
	c.signalLater("web", unix.SIGTERM)
	if len(c.busy) != 0 || c.open("web") != -1 {
		t.Fatal("without cgroups a signalling was counted or a cgroup opened")
	}
}

// frozen reads the cgroup.events of the cgroup open returned, and finds
// "frozen 1" among its lines only.
func TestFrozenReadsCgroupEventsOfTheOpenCgroup(t *testing.T) {
	c := newCgroups(nil)
	c.base = t.TempDir() // a plain directory with a cgroup.events written by the test
	for _, tc := range []struct {
		events string
		frozen bool
	}{
		{"populated 0\nfrozen 0\n", false},
		{"populated 1\nfrozen 1\n", true},
		{"frozen 1\npopulated 0\n", true},
		{"populated 0\nfrozen 10\n", false},
		{"", false},
	} {
		fd := c.open("web")
		if fd < 0 {
			t.Fatal("web's cgroup directory could not be made or opened")
		}
		if err := os.WriteFile(filepath.Join(c.dir("web"), "cgroup.events"), []byte(tc.events), 0o644); err != nil {
			t.Fatal(err)
		}
		got := c.frozen("web", fd)
		unix.Close(fd)
		if want := map[bool]string{true: c.dir("web")}[tc.frozen]; got != want {
			t.Errorf("cgroup.events %q: frozen says %q, want %q", tc.events, got, want)
		}
	}
	fd := c.open("db") // no cgroup.events: not frozen
	defer unix.Close(fd)
	if got := c.frozen("db", fd); got != "" {
		t.Errorf("a cgroup without cgroup.events: frozen says %q", got)
	}
}
