package driver_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// recorder is a backend that answers nothing by itself: the test plays the
// world, answering its reads and starts by hand, and sees every call.
type recorder struct {
	calls  []string // Log and AfterSpawned, in order
	reads  []driver.ReadRequest
	starts []core.Spawn
}

func (r *recorder) Next(core.Time) driver.Input { return nil }
func (r *recorder) Now() core.Time              { return 0 }
func (r *recorder) Start(s core.Spawn)          { r.starts = append(r.starts, s) }
func (r *recorder) Cancel(core.Cancel)          {}
func (r *recorder) Signal(core.Kill)            {}
func (r *recorder) Probe(core.Probe)            {}
func (r *recorder) Report(string)               {}
func (r *recorder) Apply(driver.Setup)          {}
func (r *recorder) Read(q driver.ReadRequest)   { r.reads = append(r.reads, q) }
func (r *recorder) Log(l core.Log)              { r.calls = append(r.calls, "log "+l.Text) }
func (r *recorder) AfterSpawned(s core.Spawned) {
	r.calls = append(r.calls, fmt.Sprintf("after spawned %s %d", s.Job, s.PID))
}

// lastRead is the read in flight; answer fills the answer's Seq and the
// state of each dependency asked for (hash "h0" unless in deps).
func (r *recorder) lastRead(t *testing.T) driver.ReadRequest {
	t.Helper()
	if len(r.reads) == 0 {
		t.Fatal("nothing was read")
	}
	return r.reads[len(r.reads)-1]
}

func answer(q driver.ReadRequest, f driver.FilesRead, deps map[string]string) driver.FilesRead {
	f.Seq = q.Seq
	for _, p := range q.Deps {
		h := deps[p]
		if h == "" {
			h = "h0"
		}
		f.Deps = append(f.Deps, core.DepState{Path: p, Hash: h})
	}
	return f
}

func (r *recorder) logged(text string) bool {
	return slices.ContainsFunc(r.calls, func(c string) bool { return strings.Contains(c, text) })
}

// started loads twoJobs from the file, as the daemon does, and has a and
// b spawned.
func started(t *testing.T) (*driver.Driver, *recorder) {
	t.Helper()
	r := &recorder{}
	d := driver.New(r, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	d.Start()
	d.Handle(answer(r.lastRead(t), driver.FilesRead{Config: confgrammar.OneFile("pmtr.conf", []byte(twoJobs))}, nil))
	q := r.lastRead(t)
	if q.Check == nil || q.CheckFile != "pmtr.conf" || !slices.Equal(q.Deps, []string{"/etc/a.conf"}) {
		t.Fatalf("the new config's read: %+v", q)
	}
	d.Handle(answer(q, driver.FilesRead{}, nil))
	if len(r.starts) != 2 {
		t.Fatalf("starts: %+v\n%s", r.starts, strings.Join(r.calls, "\n"))
	}
	for i, s := range r.starts {
		d.Handle(driver.Event{Ev: core.Spawned{Job: s.Job, Attempt: s.Attempt, PID: 101 + i}})
	}
	return d, r
}

// TestHostErrorRejectsTheConfig: what the backend found the host cannot
// run (a report interface that does not exist) rejects the new config as
// a parse error does: pmtr reload answers failed, the config in force
// stays, and its dependencies, read along with the new config, still count.
func TestHostErrorRejectsTheConfig(t *testing.T) {
	d, r := started(t)
	reply := make(chan driver.Result, 1)
	d.Handle(driver.Reload{Reply: reply})
	d.Handle(answer(r.lastRead(t), driver.FilesRead{Config: confgrammar.OneFile("pmtr.conf", []byte(twoJobs+"job {\nname c\ncmd /bin/c\n}\n"))}, map[string]string{"/etc/a.conf": "h1"}))
	bad := confgrammar.ErrorList{&confgrammar.Error{File: "pmtr.conf", Pos: confgrammar.Pos{Line: 1, Col: 11}, Msg: "interface nosuchif0 does not exist"}}
	d.Handle(answer(r.lastRead(t), driver.FilesRead{HostErr: bad}, nil))
	var res driver.Result
	select {
	case res = <-reply:
	default:
		t.Fatalf("pmtr reload got no answer\n%s", strings.Join(r.calls, "\n"))
	}
	if res.Code != driver.CodeFailed || strings.Join(res.Lines, "\n") != "pmtr.conf:1:11: interface nosuchif0 does not exist\nparse failed: the config in force stays" {
		t.Fatalf("reload: %+v", res)
	}
	if names := d.Machine().Names(); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("jobs in force: %v", names)
	}
	for _, want := range []string{"ERROR: pmtr.conf:1:11: interface nosuchif0 does not exist", "using PREVIOUS job config", "dependency /etc/a.conf changed"} {
		if !r.logged(want) {
			t.Fatalf("missing %q:\n%s", want, strings.Join(r.calls, "\n"))
		}
	}
}

// TestAfterSpawnedFollowsTheStartLine: the backend hears of a Spawned
// once its effects are performed, so live logs a job's output after its
// start.
func TestAfterSpawnedFollowsTheStartLine(t *testing.T) {
	_, r := started(t)
	want := []string{"started job a [101]", "after spawned a 101", "started job b [102]", "after spawned b 102"}
	var got []string
	for _, c := range r.calls {
		if strings.Contains(c, "started job") || strings.HasPrefix(c, "after spawned") {
			got = append(got, strings.TrimPrefix(c, "log "))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q\nall:\n%s", got, want, strings.Join(r.calls, "\n"))
	}
}

// oddInput is an Input of a type the driver does not know.
type oddInput struct{ driver.Tick }

// TestUnknownInputIsLogged: a backend that sends something else gets a log
// line, not a panic, and the driver goes on.
func TestUnknownInputIsLogged(t *testing.T) {
	d, r := started(t)
	d.Handle(oddInput{})
	if !r.logged("driver: unknown input driver_test.oddInput (tick) ignored") {
		t.Fatalf("not logged:\n%s", strings.Join(r.calls, "\n"))
	}
	if names := d.Machine().Names(); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("jobs after an unknown input: %v", names)
	}
}

// publisher is a recorder that publishes the metrics' values.
type publisher struct {
	*recorder
	want   bool
	stales int
	got    []driver.Metrics
}

func (p *publisher) Stale()       { p.stales++ }
func (p *publisher) Wanted() bool { return p.want }
func (p *publisher) Publish(m driver.Metrics) {
	p.got = append(p.got, m)
	p.want = false
}

// TestMetricsPublishedAfterTheInputAtHand: a scrape that wants the
// metrics gets them right after the input the driver is handling, not
// after the inputs queued behind it (jobs' exits), and nothing is
// published while nobody wants it (issue 28, item 9: every scrape was a
// query queued behind the exits; 2000 scrapers slowed restarts to 139 ms).
func TestMetricsPublishedAfterTheInputAtHand(t *testing.T) {
	p := &publisher{recorder: &recorder{}}
	d := driver.New(p, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	d.Start()
	d.Handle(answer(p.lastRead(t), driver.FilesRead{Config: confgrammar.OneFile("pmtr.conf", []byte(twoJobs))}, nil))
	d.Handle(answer(p.lastRead(t), driver.FilesRead{}, nil))
	for i, s := range p.starts {
		d.Handle(driver.Event{Ev: core.Spawned{Job: s.Job, Attempt: s.Attempt, PID: 101 + i}})
	}
	if len(p.got) != 0 {
		t.Fatalf("published %d times while nobody wanted it", len(p.got))
	}
	p.want = true // a scrape, while the exit of a is handled
	d.Handle(driver.Event{Ev: core.Exited{PID: 101}})
	if len(p.got) != 1 {
		t.Fatalf("published %d times after the input at hand, want 1", len(p.got))
	}
	var a core.JobStatus
	for _, j := range p.got[0].Jobs {
		if j.Name == "a" {
			a = j
		}
	}
	if a.State == core.Running || a.PID == 101 {
		t.Fatalf("the values published after a's exit show it running: %+v", a)
	}
	p.want = true // a scrape's wake-up, nothing changed: the same values again
	d.Handle(driver.MetricsWanted{})
	if len(p.got) != 2 || &p.got[1].Jobs[0] != &p.got[0].Jobs[0] {
		t.Fatalf("published %d times; unchanged values were copied again", len(p.got))
	}
	d.Handle(driver.Event{Ev: core.Exited{PID: 102}})
	if len(p.got) != 2 || p.stales != 1 {
		t.Fatalf("published %d times with nobody waiting; told stale %d times, want once (the values had been published)", len(p.got), p.stales)
	}
}
