package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/joboutput"
)

// transcript keeps pmtr's log lines and the inputs sent to the driver in
// the order they were made.
type transcript struct {
	mu    sync.Mutex
	items []string
	sent  chan core.Event
}

func (tr *transcript) Log(l core.Log) {
	tr.mu.Lock()
	tr.items = append(tr.items, "log: "+l.Text)
	tr.mu.Unlock()
}

func (tr *transcript) send(in driver.Input) bool {
	ev, ok := in.(driver.Event)
	if !ok {
		return true
	}
	tr.mu.Lock()
	tr.items = append(tr.items, fmt.Sprint("event: ", ev.Ev))
	tr.mu.Unlock()
	tr.sent <- ev.Ev
	return true
}

type noContainment struct{}

func (noContainment) Open(string) (int, string)                           { return -1, "" }
func (noContainment) Started(int, string)                                 {}
func (noContainment) Ended(int)                                           {}
func (noContainment) Settled()                                            {}
func (noContainment) SignalLater(string, ...syscall.Signal)               {}
func (noContainment) Empty(string, time.Duration) bool                    { return true }
func (noContainment) OOMKilled(string) bool                               { return false }
func (noContainment) Cgroups() bool                                       { return false }
func (noContainment) Prepare(*os.File, string, int, bool) *joboutput.Pipe { return nil }
func (noContainment) Admit(...*joboutput.Pipe)                            {}
func (noContainment) SetOutput(string, string, string)                    {}

// TestOutOfDescriptorsBlamesPmtr: with pmtr out of descriptors, whichever
// step of a start runs out (the job's files, the exec's own pipe), the
// job's line says that pmtr, not the job, ran out, names the job once (the
// core adds "job NAME: "), and pmtr's own line about it comes first (issue
// 28, item 7: the exec error lost its errno and blamed the job).
func TestOutOfDescriptorsBlamesPmtr(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	tr := &transcript{sent: make(chan core.Event, 16)}
	stop := make(chan struct{})
	defer close(stop)
	p := New(l, Deps{Log: tr, Send: tr.send, Now: func() core.Time { return 0 }, Stop: stop,
		Contain: noContainment{}, Output: noContainment{}, Rings: noContainment{}, Spawners: 1})
	defer p.Close()
	out := filepath.Join(t.TempDir(), "out")
	job := &confgrammar.Job{Name: "j24", Cmd: []string{"/bin/sleep", "1000"}, Out: out, Err: out + ".err"}

	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Cur, 256)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)

	failures := 0
	for free := 0; free < 12; free++ { // every step of a start runs out at some count
		fillers := exhaust(t)
		for _, f := range fillers[len(fillers)-free:] {
			f.Close()
		}
		p.Start(core.Spawn{Job: job.Name, Attempt: uint64(free + 1), Spec: job})
		ev := <-tr.sent
		for _, f := range fillers[:len(fillers)-free] {
			f.Close()
		}
		switch ev := ev.(type) {
		case core.SpawnFailed:
			failures++
			if ev.Reason != outOfFDs {
				t.Errorf("with %d descriptors free the start failed as %q, want %q", free, ev.Reason, outOfFDs)
			}
		case core.Spawned:
			syscall.Kill(-ev.PID, syscall.SIGKILL)
		default:
			t.Fatalf("with %d descriptors free: %v", free, ev)
		}
	}
	if failures < 2 {
		t.Fatalf("only %d starts ran out of descriptors: the test did not exhaust them", failures)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	first := strings.Join(tr.items[:2], "\n")
	if !strings.HasPrefix(tr.items[0], "log: pmtr has run out of file descriptors (its limit is 256 open files)") ||
		!strings.HasPrefix(tr.items[1], "event: spawn-failed j24") {
		t.Fatalf("pmtr's line does not come first:\n%s", first)
	}
}

// exhaust opens /dev/null until the process is out of descriptors and
// returns what it opened.
func exhaust(t *testing.T) []*os.File {
	t.Helper()
	var fs []*os.File
	for range 1 << 16 {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	t.Fatal("never ran out of descriptors")
	return nil
}

// A burst of trimAfter starts or more tells BurstOver once it is over.
func TestBurstOverIsToldAfterABurst(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	tr := &transcript{sent: make(chan core.Event, 2*trimAfter)}
	stop := make(chan struct{})
	defer close(stop)
	over := make(chan struct{}, 4)
	p := New(l, Deps{Log: tr, Send: tr.send, Now: func() core.Time { return 0 }, Stop: stop,
		Contain: noContainment{}, Output: noContainment{}, Rings: noContainment{}, Spawners: 2,
		BurstOver: func() { over <- struct{}{} }})
	defer p.Close()
	job := &confgrammar.Job{Name: "b", Cmd: []string{"/bin/true"}, Out: os.DevNull, Err: os.DevNull}
	for i := range trimAfter {
		p.Start(core.Spawn{Job: job.Name, Attempt: uint64(i + 1), Spec: job})
	}
	for spawned := 0; spawned < trimAfter; {
		switch ev := (<-tr.sent).(type) {
		case core.Spawned:
			spawned++
		case core.Exited:
		default:
			t.Fatalf("a start of /bin/true: %v", ev)
		}
	}
	select {
	case <-over:
	case <-time.After(30 * time.Second):
		t.Fatal("a burst of starts ended without BurstOver")
	}
}
