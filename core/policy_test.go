package core_test

import (
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// Rules of the restart policy (issue 24) that scenarios do not pin.

func status(t *testing.T, w *sim.World, name string) core.JobStatus {
	t.Helper()
	st, ok := w.M.JobStatus(name)
	if !ok {
		t.Fatalf("no job %s", name)
	}
	return st
}

// pmtr start of a job that gave up for good starts it now, with fresh counts.
func TestPolicyStartAfterGivingUp(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /bin/a\ngive-up 2 in 1m retry never\n}",
		map[string]*sim.Script{"a": runs(exitAfter(1, 1))})
	w.RunUntil(sec(100))
	st := status(t, w, "a")
	if st.State != core.Failed || !st.GaveUp || st.FailedRuns != 2 || st.NextStart != core.Never || st.Starts != 2 || st.Reason != "gave up" {
		t.Fatalf("after giving up: %+v", st)
	}
	code, _ := w.M.ExitCode()
	if code != 0 || w.Done() {
		t.Fatalf("a job that is not critical ended pmtr")
	}
	w.Step(core.Control{Verb: core.Enable, Names: []string{"a"}, From: "uid 0"})
	expectLogs(t, w, "+100.000s started job a [102]")
	if st := status(t, w, "a"); st.FailedRuns != 0 || st.GaveUp {
		t.Fatalf("pmtr start left the counts: %+v", st)
	}
}

// pmtr restart and pmtr start of a job waiting for its backoff start it now;
// enable of a job under the plain 10 s rule keeps C pmtr's wait.
func TestPolicyStartCutsTheBackoffOnly(t *testing.T) {
	conf := "job {\nname slow\ncmd /bin/slow\nbackoff 1m max 1h\n}\njob {\nname plain\ncmd /bin/plain\n}"
	w := newWorld(t, conf, map[string]*sim.Script{"slow": runs(exitAfter(1, 1)), "plain": runs(exitAfter(1, 1))})
	w.RunUntil(sec(5))
	if st := status(t, w, "slow"); st.State != core.Waiting || st.FailedRuns != 1 || st.RestartDelay < sec(54) || st.RestartDelay > sec(66) {
		t.Fatalf("slow: %+v", st)
	}
	w.Step(core.Control{Verb: core.Enable, Names: []string{"slow", "plain"}, From: "uid 0"})
	expectLogs(t, w, "+5.000s started job slow [102]")
	expectNoLog(t, w, "+5.000s started job plain")
	w.RunUntil(sec(11))
	expectLogs(t, w, "+11.000s started job plain [103]")
	w.Step(core.Control{Verb: core.Restart, Names: []string{"slow"}, From: "uid 0"})
	if st := status(t, w, "slow"); st.FailedRuns != 0 {
		t.Fatalf("restart kept the counts: %+v", st)
	}
}

// A change of policy applies in place: the running process is not touched,
// plan says "update", and the next stop uses the new signal and timeout.
func TestPolicyChangeAppliesInPlace(t *testing.T) {
	w := newWorld(t, "job {\nname api\ncmd /bin/api\n}", map[string]*sim.Script{"api": runs(sim.Run{IgnoreTerm: true})})
	w.RunUntil(sec(20))
	edited := "job {\nname api\ncmd /bin/api\nbackoff 1s max 1m\nstop signal QUIT\nstop timeout 2s\ncritical\n}"
	cfg, err := confgrammar.Parse("edited.conf", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	p := w.M.Plan(w.Now, cfg, nil)
	if len(p.Changes) != 1 || p.Changes[0].String() != "update api (backoff, stop signal, stop timeout, critical changed; no restart needed now)" {
		t.Fatalf("plan %v", p.Changes)
	}
	if err := w.LoadText(edited); err != nil {
		t.Fatal(err)
	}
	if st := status(t, w, "api"); st.PID != 100 {
		t.Fatalf("policy change restarted the job: %+v", st)
	}
	w.Step(core.Control{Verb: core.Disable, Names: []string{"api"}, From: "uid 0"})
	w.RunUntil(sec(30))
	expectLogs(t, w, "+20.000s sending SIGQUIT to job api [100]", "+22.000s sending SIGKILL to job api [100]")
	if w.Done() {
		t.Fatal("a critical job that pmtr stopped ended pmtr")
	}
}

// A shutdown by signal exits 0 even when a critical job ends meanwhile.
func TestPolicyShutdownExitsZero(t *testing.T) {
	w := newWorld(t, "job {\nname main\ncmd /bin/main\ncritical\n}", map[string]*sim.Script{"main": runs(sim.Run{StopDelay: 1e9, Exit: 5})})
	w.RunUntil(sec(3))
	w.Step(core.Shutdown{Signal: 15})
	w.RunUntil(sec(10))
	if code, by := w.M.ExitCode(); !w.Done() || code != 0 || by != "" {
		t.Fatalf("done %v, exit %d by %q", w.Done(), code, by)
	}
	expectNoLog(t, w, "is critical")
}

// A critical job whose program cannot be started ends pmtr with 255.
func TestPolicyCriticalSpawnFailure(t *testing.T) {
	w := sim.NewWorld(nil)
	w.B.FailNextSpawn("ENOENT")
	if err := w.LoadText("job {\nname main\ncmd /bin/main\ncritical\n}"); err != nil {
		t.Fatal(err)
	}
	w.RunUntil(sec(1))
	if code, by := w.M.ExitCode(); !w.Done() || code != 255 || by != "main" {
		t.Fatalf("done %v, exit %d by %q\n%s", w.Done(), code, by, strings.Join(w.Logs(), "\n"))
	}
}
