package health

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
)

// fakeProber accepts attempts while free is true.
type fakeProber struct {
	mu     sync.Mutex
	free   bool
	starts []ExecSpec
}

func (p *fakeProber) Start(_ core.Probe, exec ExecSpec) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts = append(p.starts, exec)
	return p.free
}
func (p *fakeProber) Close() {}

// fakeNotes records the sockets made and the pipes closed.
type fakeNotes struct {
	mu      sync.Mutex
	opened  []string
	closed  []string
	belongs map[string]func(int) bool
	removed chan string
}

func (n *fakeNotes) Open(job string, uid, gid int, belongs func(pid int) bool) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opened = append(n.opened, job)
	n.belongs[job] = belongs
	return "/run/test/" + job, nil
}
func (n *fakeNotes) Remove(job string)                  { n.removed <- job }
func (n *fakeNotes) Pipe(string, int) (*os.File, error) { return nil, nil }
func (n *fakeNotes) ClosePipe(job string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = append(n.closed, job)
}
func (n *fakeNotes) Pause()  {}
func (n *fakeNotes) Resume() {}
func (n *fakeNotes) Files() ([]handover.NotifySocket, []handover.ReadyPipe) {
	return []handover.NotifySocket{{Job: "web"}, {Job: "other"}}, nil
}
func (n *fakeNotes) Inherit([]handover.NotifySocket, []handover.ReadyPipe, func(string) func(int) bool) error {
	return nil
}
func (n *fakeNotes) Close() {}

type noCgroups struct{}

func (noCgroups) Cgroups() bool          { return false }
func (noCgroups) Holds(string, int) bool { return false }
func (noCgroups) Dir(string) string      { return "" }

type rig struct {
	h      *Health
	prober *fakeProber
	notes  *fakeNotes
	sent   chan driver.Input
}

func newRig(t *testing.T) *rig {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	r := &rig{prober: &fakeProber{}, notes: &fakeNotes{belongs: map[string]func(int) bool{}, removed: make(chan string, 4)}, sent: make(chan driver.Input, 16)}
	r.h = New(Deps{ConfigPath: t.TempDir() + "/pmtr.conf", Jobs: noCgroups{}, Stop: stop,
		Send:   func(in driver.Input) bool { r.sent <- in; return true },
		Now:    func() core.Time { return 7 },
		Probes: func(func(core.Event)) Prober { return r.prober },
		Notes:  func(string, func(core.Event)) (Notes, error) { return r.notes, nil }})
	t.Cleanup(r.h.Close) // removes the notify directory
	if r.h.noteErr != nil {
		t.Fatalf("notify directory: %v", r.h.noteErr)
	}
	return r
}

func (r *rig) next(t *testing.T) core.Event {
	t.Helper()
	select {
	case in := <-r.sent:
		return in.(driver.Event).Ev
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the driver")
		return nil
	}
}

// An attempt the runner refuses (the job's earlier one still runs) is
// answered busy; an exec probe whose user is unknown fails, saying so.
func TestProbeRefusedOrUnknownUserIsAnswered(t *testing.T) {
	r := newRig(t)
	r.h.Probe(core.Probe{Job: "web", Seq: 3, What: confgrammar.Probe{Kind: confgrammar.ProbeTCP, Target: "127.0.0.1:1"}})
	if got, ok := r.next(t).(core.ProbeResult); !ok || got.Job != "web" || got.Seq != 3 || !got.Busy {
		t.Fatalf("refused attempt answered %#v", got)
	}
	job := &confgrammar.Job{Name: "db", User: "no-such-user-pmtr-test"}
	r.h.Probe(core.Probe{Job: "db", Seq: 4, What: confgrammar.Probe{Kind: confgrammar.ProbeExec, Argv: []string{"/bin/true"}}, Spec: job})
	if got, ok := r.next(t).(core.ProbeResult); !ok || got.Seq != 4 || got.Busy || got.Outcome != "unknown user: no-such-user-pmtr-test" {
		t.Fatalf("exec probe of an unknown user answered %#v", got)
	}
}

// An exec probe runs with its job's environment and dir.
func TestExecProbeHasItsJobsEnvAndDir(t *testing.T) {
	r := newRig(t)
	r.prober.free = true
	spec, err := r.h.execSpec(&confgrammar.Job{Name: "db", Dir: "/srv", Env: []string{"A=1", "PATH=/only"}}, []string{"/bin/check"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Dir != "/srv" || !slices.Equal(spec.Argv, []string{"/bin/check"}) || !slices.Contains(spec.Env, "A=1") ||
		!slices.Contains(spec.Env, "PATH=/only") || slices.ContainsFunc(spec.Env, func(e string) bool { return e == "PATH="+os.Getenv("PATH") && e != "PATH=/only" }) {
		t.Fatalf("exec spec %#v", spec)
	}
}

func TestSetEnvVarReplacesInACopy(t *testing.T) {
	env := []string{"A=1", "B=2"}
	got := setEnvVar(env, "B=3", "C=4")
	if !slices.Equal(got, []string{"A=1", "B=3", "C=4"}) || !slices.Equal(env, []string{"A=1", "B=2"}) {
		t.Fatalf("setEnvVar: %q (env now %q)", got, env)
	}
}

// A start gets NOTIFY_SOCKET and WATCHDOG_USEC; its socket is made once;
// the job's leader speaks for it until its exit, which closes its pipe.
func TestStartNoticeAndWhoSpeaksForAJob(t *testing.T) {
	r := newRig(t)
	job := &confgrammar.Job{Name: "web", Ready: confgrammar.Probe{Kind: confgrammar.ProbeNotify}, Watchdog: 2 * time.Second}
	for range 2 {
		n, err := r.h.ForStart(core.Spawn{Job: "web", Spec: job})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(n.Env, []string{"NOTIFY_SOCKET=/run/test/web", "WATCHDOG_USEC=2000000"}) {
			t.Fatalf("start notice env %q", n.Env)
		}
	}
	if !slices.Equal(r.notes.opened, []string{"web"}) {
		t.Fatalf("sockets made: %q, want web once", r.notes.opened)
	}
	belongs := r.notes.belongs["web"]
	pid := os.Getpid()
	if belongs(pid) {
		t.Fatal("a process speaks for a job with no leader yet")
	}
	r.h.Sent(driver.Event{Ev: core.Spawned{Job: "web", PID: pid}})
	if !belongs(pid) {
		t.Fatal("the job's leader does not speak for it")
	}
	r.h.Sent(driver.Event{Ev: core.Exited{PID: pid}})
	if belongs(pid) || !slices.Equal(r.notes.closed, []string{"web"}) {
		t.Fatalf("after the leader's exit: belongs %v, pipes closed %q", belongs(pid), r.notes.closed)
	}
	socks, _ := r.h.Files()
	if socks[0].UID != -1 || socks[0].GID != -1 || socks[1].UID != -1 {
		t.Fatalf("handed-over sockets' owners: %#v", socks)
	}
}

// Paused, the forwarder keeps outcomes queued for pmtr upgrade; resumed,
// it sends them in order.
func TestPauseHoldsOutcomesInOrder(t *testing.T) {
	r := newRig(t)
	r.h.Pause()
	r.h.deliver(core.ProbeResult{Job: "a", Seq: 1})
	r.h.deliver(core.ProbeResult{Job: "a", Seq: 2})
	select {
	case in := <-r.sent:
		t.Fatalf("%#v reached the driver while paused", in)
	default:
	}
	if len(r.h.Queued()) != 2 {
		t.Fatalf("%d outcomes queued, want 2", len(r.h.Queued()))
	}
	r.h.Resume()
	for seq := uint64(1); seq <= 2; seq++ {
		if got := r.next(t).(core.ProbeResult); got.Seq != seq {
			t.Fatalf("outcome %d came as %d", seq, got.Seq)
		}
	}
}

// A job the config in force no longer runs with a notify socket loses
// it; the first setup only records which jobs use one.
func TestKeepSocketsLetsTheOthersGo(t *testing.T) {
	r := newRig(t)
	job := &confgrammar.Job{Name: "web", Ready: confgrammar.Probe{Kind: confgrammar.ProbeNotify}}
	if _, err := r.h.ForStart(core.Spawn{Job: "web", Spec: job}); err != nil {
		t.Fatal(err)
	}
	r.h.KeepSockets(nil) // the first setup
	r.h.KeepSockets([]string{"db"})
	select {
	case got := <-r.notes.removed:
		if got != "web" {
			t.Fatalf("removed %q, want web", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("web's socket was kept")
	}
	if _, err := r.h.ForStart(core.Spawn{Job: "web", Spec: job}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.notes.opened, []string{"web", "web"}) {
		t.Fatalf("sockets made: %q, want web again after it went", r.notes.opened)
	}
}
