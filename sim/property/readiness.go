package property

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// Readiness drives a sim.World whose jobs have ready conditions, after
// names and checks (issue 23), and holds the core to four rules, checked
// from the events and effects alone:
//   - a job never starts before every job it is after is ready (a job
//     with a ready condition), running (one without) or finished well (a
//     once job whose last run exited 0 or 33);
//   - at most one probe attempt per job is out at a time;
//   - failed checks are counted in a row, and a success resets the count;
//   - a run stopped for not being ready in time is a failed run.
type Readiness struct {
	w       *sim.World
	specs   map[string]confgrammar.Job
	pid     map[string]int       // the job's live process, 0: none
	attempt map[int]uint64       // the spawn attempt of a live pid
	pending map[uint64]string    // spawn attempt -> job, until Spawned
	killed  map[int]bool         // pmtr signalled the pid
	ready   map[string]bool      // the live process is ready
	ranOK   map[string]bool      // a once job's last run ended well
	out     map[string]uint64    // the probe attempt out, by job
	purpose map[uint64]probeSent // what each attempt was sent for
	fails   map[string]int       // failed checks in a row of the live process
	notRdy  map[int]bool         // pids stopped for not being ready in time
	expect  map[string]int       // FailedRuns a job must show once the core has seen its exit
	control bool                 // a control command cleared counts since
	failure string
}

type probeSent struct {
	purpose core.Purpose
	pid     int
}

var readyNames = []string{"a", "b", "c", "d"}

// NewReadiness builds the model inside rapid.Check.
func NewReadiness(t *rapid.T) *Readiness {
	r := &Readiness{specs: map[string]confgrammar.Job{}, pid: map[string]int{}, attempt: map[int]uint64{},
		pending: map[uint64]string{}, killed: map[int]bool{}, ready: map[string]bool{}, ranOK: map[string]bool{},
		out: map[string]uint64{}, purpose: map[uint64]probeSent{}, fails: map[string]int{}, notRdy: map[int]bool{},
		expect: map[string]int{}}
	cfg := genReadyConfig(t)
	scripts := map[string]*sim.Script{}
	for _, j := range cfg.Jobs {
		r.specs[j.Name] = j
		scripts[j.Name] = genReadyScript(t, j.Name)
	}
	r.w = sim.NewWorld(scripts)
	r.w.OnEvent = func(_ core.Time, ev core.Event) { r.observe(ev) }
	r.w.OnEffect = func(_ core.Time, e core.Effect) { r.effect(e) }
	r.w.OnReady = func(core.Time, core.Ready) { r.afterStep() }
	r.w.Load(cfg)
	return r
}

// genReadyConfig draws 2 to 4 jobs; a job is after some of those before
// it (so there is no cycle).
func genReadyConfig(t *rapid.T) *confgrammar.Config {
	c := &confgrammar.Config{}
	n := rapid.IntRange(2, len(readyNames)).Draw(t, "jobs")
	for i, name := range readyNames[:n] {
		j := confgrammar.Job{Name: name, Cmd: []string{"/bin/" + name}}
		j.Once = rapid.IntRange(0, 4).Draw(t, name+".once") == 0
		if !j.Once {
			j.Ready = rapid.SampledFrom([]confgrammar.Probe{{}, {Kind: confgrammar.ProbeTCP, Target: "h:1"},
				{Kind: confgrammar.ProbeNotify}, {Kind: confgrammar.ProbeFD, FD: 3}}).Draw(t, name+".ready")
			j.ReadyTimeout = time.Duration(rapid.SampledFrom([]int{1, 12, 20, 20}).Draw(t, name+".timeout")) * time.Second
		}
		for _, before := range readyNames[:i] {
			if rapid.IntRange(0, 2).Draw(t, name+".after."+before) == 0 {
				j.After = append(j.After, before)
			}
		}
		if rapid.IntRange(0, 2).Draw(t, name+".check") > 0 {
			j.Check = confgrammar.Check{Probe: confgrammar.Probe{Kind: confgrammar.ProbeTCP, Target: "h:2"},
				Every:   time.Duration(rapid.IntRange(1, 3).Draw(t, name+".every")) * time.Second,
				Timeout: time.Duration(rapid.IntRange(1, 4).Draw(t, name+".ctimeout")) * 500 * time.Millisecond,
				Fails:   rapid.IntRange(1, 3).Draw(t, name+".fails")}
			j.OnCheckFail = rapid.SampledFrom([]confgrammar.CheckAction{confgrammar.CheckRestart, confgrammar.CheckStop, confgrammar.CheckIgnore}).Draw(t, name+".action")
		}
		c.Jobs = append(c.Jobs, j)
	}
	parsed, err := confgrammar.Parse("gen.conf", []byte(confgrammar.Format(c)))
	if err != nil {
		panic(fmt.Sprintf("generated config does not parse: %v\n%s", err, confgrammar.Format(c)))
	}
	return parsed
}

func genReadyScript(t *rapid.T, name string) *sim.Script {
	s := &sim.Script{}
	for i := range rapid.IntRange(1, 3).Draw(t, name+".runs") {
		label := fmt.Sprintf("%s.run%d", name, i)
		ms := func(what string, hi int) time.Duration {
			return time.Duration(rapid.IntRange(0, hi).Draw(t, label+"."+what)) * 100 * time.Millisecond
		}
		run := sim.Run{For: ms("for", 300), Exit: rapid.SampledFrom([]int{0, 1, 33}).Draw(t, label+".exit"),
			ReadyAfter: ms("ready", 50), ReadyNever: rapid.IntRange(0, 2).Draw(t, label+".never") == 0,
			ProbeTakes: ms("takes", 30), StopDelay: ms("stopdelay", 30)}
		if rapid.IntRange(0, 2).Draw(t, label+".checkfails") > 0 {
			from := ms("from", 60)
			run.CheckFails = sim.Window{On: true, From: from, To: from + ms("span", 60)}
		}
		s.Runs = append(s.Runs, run)
	}
	return s
}

// Advance moves virtual time forward.
func (r *Readiness) Advance(t *rapid.T) {
	ms := rapid.IntRange(0, 15000).Draw(t, "ms")
	r.w.RunUntil(r.w.Now + core.Time(time.Duration(ms)*time.Millisecond))
	r.fail(t)
}

// Crash ends a random live process.
func (r *Readiness) Crash(t *rapid.T) {
	live := r.w.B.Live()
	if len(live) == 0 {
		r.Advance(t)
		return
	}
	pid := rapid.SampledFrom(live).Draw(t, "pid")
	r.w.B.Crash(pid, rapid.SampledFrom([]int{0, 1, 33}).Draw(t, "status"), 0)
	r.w.RunUntil(r.w.Now)
	r.fail(t)
}

// Control restarts, stops or starts a job.
func (r *Readiness) Control(t *rapid.T) {
	verb := rapid.SampledFrom([]core.Verb{core.Enable, core.Disable, core.Restart}).Draw(t, "verb")
	name := rapid.SampledFrom(readyNames).Draw(t, "name")
	r.control = true
	r.w.Step(core.Control{Verb: verb, Names: []string{name}, From: "test"})
	r.fail(t)
}

// Check runs after every action.
func (r *Readiness) Check(t *rapid.T) {
	r.fail(t)
	for _, st := range r.w.M.Status() {
		if st.HasCheck && st.Up() && st.CheckFails != r.fails[st.Name] {
			t.Fatalf("job %s: the core counts %d failed checks in a row, the outcomes say %d\n%s", st.Name, st.CheckFails, r.fails[st.Name], r.w.Transcript())
		}
	}
	if j := r.w.Journal(); len(j)%5 == 0 {
		if got := sim.Replay(r.w.Seed(), j); got != r.w.Transcript() {
			t.Fatalf("replay differs:\n%s\n---- original:\n%s", got, r.w.Transcript())
		}
	}
}

func (r *Readiness) fail(t *rapid.T) {
	if r.failure != "" {
		t.Fatalf("%s\n%s", r.failure, r.w.Transcript())
	}
}

func (r *Readiness) failf(format string, args ...any) {
	if r.failure == "" {
		r.failure = fmt.Sprintf("%v: ", r.w.Now) + fmt.Sprintf(format, args...)
	}
}

// observe follows the world from the events, before the machine sees them.
func (r *Readiness) observe(ev core.Event) {
	switch e := ev.(type) {
	case core.Spawned:
		name := r.pending[e.Attempt]
		delete(r.pending, e.Attempt)
		r.pid[name], r.attempt[e.PID], r.fails[name] = e.PID, e.Attempt, 0
		r.ready[name] = r.specs[name].Ready.Kind == confgrammar.NoProbe
	case core.Exited:
		r.exited(e)
	case core.ProbeResult:
		r.probeResult(e)
	case core.Notified:
		r.notified(e)
	}
}

func (r *Readiness) exited(e core.Exited) {
	for name, pid := range r.pid {
		if pid != e.PID {
			continue
		}
		if !r.killed[pid] || r.notRdy[pid] {
			r.ranOK[name] = !r.notRdy[pid] && e.Signal == 0 && (e.Status == 0 || e.Status == 33)
		}
		if r.notRdy[pid] && !r.control {
			st, _ := r.w.M.JobStatus(name)
			r.expect[name] = st.FailedRuns + 1
		}
		r.pid[name], r.ready[name] = 0, false
		delete(r.attempt, pid)
		delete(r.killed, pid)
		delete(r.notRdy, pid)
	}
}

func (r *Readiness) probeResult(e core.ProbeResult) {
	if r.out[e.Job] != e.Seq {
		r.failf("a result for probe %d of %s, which is not the one out (%d)", e.Seq, e.Job, r.out[e.Job])
		return
	}
	delete(r.out, e.Job)
	sent := r.purpose[e.Seq]
	delete(r.purpose, e.Seq)
	if e.Busy || sent.pid == 0 || sent.pid != r.pid[e.Job] || r.killed[sent.pid] {
		return
	}
	switch {
	case sent.purpose == core.ForReady && e.OK:
		r.ready[e.Job] = true
	case sent.purpose == core.ForCheck && e.OK:
		r.fails[e.Job] = 0
	case sent.purpose == core.ForCheck:
		r.fails[e.Job]++
	}
}

func (r *Readiness) notified(e core.Notified) {
	pid := r.pid[e.Job]
	if !e.Ready || pid == 0 || r.killed[pid] {
		return
	}
	switch r.specs[e.Job].Ready.Kind {
	case confgrammar.ProbeNotify:
		r.ready[e.Job] = r.ready[e.Job] || e.Attempt == 0 && e.PID == pid
	case confgrammar.ProbeFD:
		r.ready[e.Job] = r.ready[e.Job] || e.Attempt == r.attempt[pid]
	}
}

// effect holds each effect to the rules as the core emits it.
func (r *Readiness) effect(e core.Effect) {
	switch e := e.(type) {
	case core.Spawn:
		r.pending[e.Attempt] = e.Job
		for _, dep := range r.specs[e.Job].After {
			if why := r.unmet(dep); why != "" {
				r.failf("job %s started while %s, which it is after, %s", e.Job, dep, why)
			}
		}
	case core.Probe:
		if seq, out := r.out[e.Job]; out {
			r.failf("probe %d of %s sent while probe %d is out", e.Seq, e.Job, seq)
		}
		r.out[e.Job] = e.Seq
		r.purpose[e.Seq] = probeSent{e.Purpose, r.pid[e.Job]}
	case core.Kill:
		r.killed[e.PID] = true
	case core.Log:
		if strings.Contains(e.Text, "stopping it (a failed run)") {
			r.notRdy[r.pid[e.Job]] = true
		}
	}
}

// unmet says why dep is not yet what a job after it waits for, or "".
func (r *Readiness) unmet(dep string) string {
	spec := r.specs[dep]
	switch {
	case spec.Once && !r.ranOK[dep]:
		return "has not finished well"
	case spec.Once:
		return ""
	case r.pid[dep] == 0 || r.killed[r.pid[dep]]:
		return "has no live process"
	case !r.ready[dep]:
		return "is not ready"
	}
	return ""
}

// afterStep: once the core has seen the exit of a run stopped for not
// being ready, that run counts as a failed one.
func (r *Readiness) afterStep() {
	for name, want := range r.expect {
		delete(r.expect, name)
		if st, _ := r.w.M.JobStatus(name); st.FailedRuns != want && !slices.Contains([]core.State{core.Done, core.Stopped}, st.State) {
			r.failf("job %s was stopped for not being ready in time, yet counts %d failed runs in a row, not %d", name, st.FailedRuns, want)
		}
	}
}

// World is the simulated world the model drives.
func (r *Readiness) World() *sim.World { return r.w }
