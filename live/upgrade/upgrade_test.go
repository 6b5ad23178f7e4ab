package upgrade

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/inbox"
)

// fakeSpawns answers the check of the new binary and records the pauses.
type fakeSpawns struct {
	check    string
	checkErr error
	pauseErr error
	calls    []string
}

func (s *fakeSpawns) CheckBinary(path string, args []string, _ time.Duration) (string, error) {
	s.calls = append(s.calls, "check "+path+" "+strings.Join(args, " "))
	return s.check, s.checkErr
}
func (s *fakeSpawns) Pause(time.Duration) ([]handover.Spawn, error) {
	s.calls = append(s.calls, "pause")
	return nil, s.pauseErr
}
func (s *fakeSpawns) Resume()                    { s.calls = append(s.calls, "resume") }
func (s *fakeSpawns) NotBegun() []handover.Spawn { return nil }

type fakeHealth struct{ calls *[]string }

func (h fakeHealth) Pause()                      { *h.calls = append(*h.calls, "health pause") }
func (h fakeHealth) Resume()                     { *h.calls = append(*h.calls, "health resume") }
func (h fakeHealth) Queued() <-chan driver.Input { return nil }
func (h fakeHealth) Files() ([]handover.NotifySocket, []handover.ReadyPipe) {
	return nil, nil
}
func (h fakeHealth) Inherit(*handover.State) {}
func (h fakeHealth) Sent(driver.Input)       {}

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Logf(_ core.Level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf(format, args...))
}
func (l *lines) Flush() {}

func newUpgrader(s *fakeSpawns) (*Upgrader, *inbox.Inbox, *lines) {
	q, log := inbox.New(4), &lines{}
	return New(Deps{Inbox: q, Log: log, Spawns: s, Health: fakeHealth{&s.calls}, Self: "/usr/sbin/pmtr"}), q, log
}

// A binary that is not pmtr, or not now: nothing changes, and the log
// says why.
func TestUpgradeRefusedChangesNothing(t *testing.T) {
	for _, c := range []struct {
		name, binary string
		spawns       fakeSpawns
		want         string
		calls        []string
	}{
		{"relative", "pmtr", fakeSpawns{}, "pmtr upgrade: pmtr: give the new binary's absolute path; nothing changed", nil},
		{"not pmtr", "", fakeSpawns{check: "hello\n"}, "pmtr upgrade: /usr/sbin/pmtr refused: it does not say",
			[]string{"check /usr/sbin/pmtr --state-format"}},
		{"no answer", "/opt/pmtr", fakeSpawns{checkErr: errors.New("it did not answer within 5s")},
			"pmtr upgrade: /opt/pmtr refused: it did not answer within 5s; nothing changed", []string{"check /opt/pmtr --state-format"}},
		{"busy", "/opt/pmtr", fakeSpawns{check: handover.FormatLine(), pauseErr: errors.New("starts still under way")},
			"pmtr upgrade: not now: starts still under way; nothing changed (try again)", []string{"check /opt/pmtr --state-format", "pause"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, q, _ := newUpgrader(&c.spawns)
			err := u.Upgrade(c.binary, Caller{By: "uid 0 pid 1"})
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("Upgrade: %v, want %q...", err, c.want)
			}
			if !reflect.DeepEqual(c.spawns.calls, c.calls) {
				t.Fatalf("calls %q, want %q", c.spawns.calls, c.calls)
			}
			select {
			case in := <-q.C():
				t.Fatalf("the driver was sent %#v", in)
			default:
			}
		})
	}
}

// A driver that cannot hand over: the spawners and the health wiring
// carry on, in the reverse order of their pauses.
func TestUpgradeTheDriverRefusesResumesTheRooms(t *testing.T) {
	s := &fakeSpawns{check: handover.FormatLine()}
	u, q, log := newUpgrader(s)
	go func() {
		in := <-q.C()
		in.(driver.Handover).Reply <- driver.HandoverAnswer{Err: errors.New("a config read is under way")}
	}()
	err := u.Upgrade("", Caller{By: "uid 0 pid 1"})
	if err == nil || err.Error() != "pmtr upgrade: a config read is under way; nothing changed" {
		t.Fatalf("Upgrade: %v", err)
	}
	want := []string{"check /usr/sbin/pmtr --state-format", "pause", "health pause", "health resume", "resume"}
	if !reflect.DeepEqual(s.calls, want) {
		t.Fatalf("calls %q, want %q", s.calls, want)
	}
	if last := log.got[len(log.got)-1]; last != err.Error() {
		t.Fatalf("logged %q, want the error", last)
	}
}

// The inputs kept for the new binary come back as the inputs they were;
// queries are not kept.
func TestPendingInputsRoundTrip(t *testing.T) {
	ins := []driver.Input{
		driver.Event{At: 5, Ev: core.Exited{PID: 42}},
		driver.ControlText{From: "10.0.0.1:99", Via: "udp", Text: "disable web"},
		driver.Reload{Force: true},
		driver.Reload{},
	}
	ps := pending(append(ins, driver.StatusQuery{}))
	if len(ps) != len(ins) {
		t.Fatalf("%d pending, want %d", len(ps), len(ins))
	}
	for i, p := range ps {
		if got := input(p); !reflect.DeepEqual(got, ins[i]) {
			t.Errorf("pending %d: %#v came back as %#v", i, ins[i], got)
		}
	}
}

// The state's memfd reads back whole; it is close-on-exec until the exec
// asks otherwise.
func TestMemfdAndInheritable(t *testing.T) {
	f, err := writeMemfd("pmtr-test", []byte("state"))
	if err != nil {
		t.Fatal(err)
	}
	fd := fdOf(f)
	cloexec := func() bool {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		return flags&unix.FD_CLOEXEC != 0
	}
	if !cloexec() {
		t.Fatal("the memfd is inherited before the exec")
	}
	if err := inheritable([]int{fd}, true); err != nil || cloexec() {
		t.Fatalf("inheritable: %v, close-on-exec %v", err, cloexec())
	}
	inheritable([]int{fd}, false)
	if !cloexec() {
		t.Fatal("close-on-exec not set back after a failed exec")
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, err := ReadMemfd(dup)
	if err != nil || string(data) != "state" {
		t.Fatalf("ReadMemfd: %q, %v", data, err)
	}
}

func TestInheritedFDsLeaveOutTheAbsent(t *testing.T) {
	st := handover.State{Files: handover.Files{Control: 3, Lock: -1, Reply: -1, Rings: 4,
		Metrics: []handover.Listener{{ID: "m", FD: 5}}, UDP: []handover.Listener{{ID: "u", FD: 6}},
		Outputs: []handover.Output{{FD: 7}}, Notify: []handover.NotifySocket{{FD: 8}}, Pipes: []handover.ReadyPipe{{FD: 9}}}}
	if got := inheritedFDs(st); !reflect.DeepEqual(got, []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("inherited %v", got)
	}
}
