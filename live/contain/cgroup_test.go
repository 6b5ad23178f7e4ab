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

	other, _ := c.open("db")
	if other < 0 {
		t.Fatal("another job's start waited for web's signalling, or its directory failed")
	}
	got := make(chan int, 1)
	go func() { fd, _ := c.open("web"); got <- fd }()
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
	if fd, _ := c.open("web"); len(c.busy) != 0 || fd != -1 {
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
		fd, _ := c.open("web")
		if fd < 0 {
			t.Fatal("web's cgroup directory could not be made or opened")
		}
		if err := os.WriteFile(filepath.Join(c.dir("web"), "cgroup.events"), []byte(tc.events), 0o644); err != nil {
			t.Fatal(err)
		}
		got := c.frozen("web", fd, false)
		unix.Close(fd)
		if want := map[bool]string{true: c.dir("web")}[tc.frozen]; got != want {
			t.Errorf("cgroup.events %q: frozen says %q, want %q", tc.events, got, want)
		}
	}
	fd, made := c.open("db") // no cgroup.events: not frozen
	defer unix.Close(fd)
	if got := c.frozen("db", fd, made); got != "" {
		t.Errorf("a cgroup without cgroup.events: frozen says %q", got)
	}
}

// A cgroup open has just made can only be frozen through base: frozen
// reads base's cgroup.events for it, and the job's own once it existed.
func TestFrozenOfANewCgroupIsBase(t *testing.T) {
	c := newCgroups(nil)
	c.base = t.TempDir()
	events := filepath.Join(c.base, "cgroup.events")
	if err := os.WriteFile(events, []byte("populated 1\nfrozen 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, made := c.open("web")
	if fd < 0 || !made {
		t.Fatalf("open of a new cgroup: fd %d, made %v", fd, made)
	}
	if got := c.frozen("web", fd, made); got != c.dir("web") {
		t.Errorf("a new cgroup below a frozen base: frozen says %q", got)
	}
	unix.Close(fd)
	if err := os.WriteFile(events, []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.close() // base's files are opened again at the next start
	c.made = map[string]bool{}
	os.RemoveAll(c.dir("web")) // close wrote cgroup.kill into the plain directory
	if fd, made = c.open("web"); fd < 0 || !made {
		t.Fatalf("open after thaw: fd %d, made %v", fd, made)
	}
	if got := c.frozen("web", fd, made); got != "" {
		t.Errorf("a new cgroup below a thawed base: frozen says %q", got)
	}
	unix.Close(fd)
	fd, made = c.open("web") // it exists now: its own cgroup.events counts
	defer unix.Close(fd)
	if made {
		t.Error("open says it made a cgroup that was there")
	}
	if err := os.WriteFile(filepath.Join(c.dir("web"), "cgroup.events"), []byte("frozen 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.frozen("web", fd, made); got != c.dir("web") {
		t.Errorf("a frozen cgroup that was there: frozen says %q", got)
	}
}
