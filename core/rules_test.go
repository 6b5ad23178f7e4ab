package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// Each test here pins one lifecycle rule of the manual or the compatibility
// policy, on the simulated backend, by the log lines a user would read.

func sec(n float64) core.Time { return core.Time(n * float64(time.Second)) }

func runs(rs ...sim.Run) *sim.Script { return &sim.Script{Runs: rs} }

func forever() sim.Run { return sim.Run{} }

func exitAfter(d float64, status int) sim.Run {
	return sim.Run{For: time.Duration(d * float64(time.Second)), Exit: status}
}

func newWorld(t *testing.T, conf string, scripts map[string]*sim.Script, deps ...core.DepState) *sim.World {
	t.Helper()
	w := sim.NewWorld(scripts)
	if err := w.LoadText(conf, deps...); err != nil {
		t.Fatal(err)
	}
	return w
}

// expectLogs checks that the given "+T text" lines appear in this order
// (other lines may come between them).
func expectLogs(t *testing.T, w *sim.World, want ...string) {
	t.Helper()
	logs := w.Logs()
	i := 0
	for _, l := range logs {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("missing log line %q (in order)\nlogs:\n%s", want[i], strings.Join(logs, "\n"))
	}
}

func expectNoLog(t *testing.T, w *sim.World, substr string) {
	t.Helper()
	for _, l := range w.Logs() {
		if strings.Contains(l, substr) {
			t.Fatalf("unexpected log line %q\nlogs:\n%s", l, strings.Join(w.Logs(), "\n"))
		}
	}
}

func countLogs(w *sim.World, substr string) int {
	n := 0
	for _, l := range w.Logs() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestRuleStartInOrderStable(t *testing.T) {
	w := newWorld(t, `
job {
name c
cmd /bin/c
order 2
}
job {
name a
cmd /bin/a
}
job {
name b
cmd /bin/b
}
job {
name z
cmd /bin/z
order -1
}
`, nil)
	expectLogs(t, w, "+0.000s started job z [100]", "+0.000s started job a [101]",
		"+0.000s started job b [102]", "+0.000s started job c [103]")
}

func TestRuleQuickExitRestartsTenSecondsAfterExit(t *testing.T) {
	w := newWorld(t, "job {\nname q\ncmd /bin/q\n}", map[string]*sim.Script{"q": runs(exitAfter(3, 1))})
	w.RunUntil(sec(30))
	expectLogs(t, w, "+0.000s started job q [100]",
		"+3.000s job q [100] exited after 3 sec: exit status 1",
		"+13.000s started job q [101]",
		"+16.000s job q [101] exited after 3 sec: exit status 1",
		"+26.000s started job q [102]")
}

func TestRuleLongRunRestartsAtOnce(t *testing.T) {
	w := newWorld(t, "job {\nname l\ncmd /bin/l\n}", map[string]*sim.Script{"l": runs(exitAfter(10, 0))})
	w.RunUntil(sec(20))
	expectLogs(t, w, "+10.000s job l [100] exited after 10 sec: exit status 0",
		"+10.000s started job l [101]", "+20.000s started job l [102]")
}

func TestRuleSignalDeathFollowsTheSameRules(t *testing.T) {
	w := newWorld(t, "job {\nname s\ncmd /bin/s\n}", map[string]*sim.Script{"s": runs(sim.Run{For: time.Second, Signal: 9})})
	w.RunUntil(sec(12))
	expectLogs(t, w, "+1.000s job s [100] exited after 1 sec: signal 9", "+11.000s started job s [101]")
}

func TestRuleExit33StopsRestarts(t *testing.T) {
	w := newWorld(t, "job {\nname x\ncmd /bin/x\n}", map[string]*sim.Script{"x": runs(exitAfter(1, 33))})
	w.RunUntil(sec(100))
	expectLogs(t, w, "+1.000s job x [100] exited after 1 sec: exit status 33")
	if n := countLogs(w, "started job x"); n != 1 {
		t.Fatalf("started %d times, want 1", n)
	}
}

func TestRuleOnceStopsRestarts(t *testing.T) {
	w := newWorld(t, "job {\nname o\ncmd /bin/o\nonce\n}", map[string]*sim.Script{"o": runs(exitAfter(20, 1))})
	w.RunUntil(sec(100))
	if n := countLogs(w, "started job o"); n != 1 {
		t.Fatalf("started %d times, want 1", n)
	}
}

func TestRuleDisableNeverStarts(t *testing.T) {
	w := newWorld(t, "job {\nname d\ncmd /bin/d\ndisable\n}\njob {\nname e\ncmd /bin/e\n}", nil)
	w.RunUntil(sec(60))
	expectNoLog(t, w, "started job d")
	expectLogs(t, w, "+0.000s started job e [100]")
}

func TestRuleWaitGatesLaterJobsOnly(t *testing.T) {
	w := newWorld(t, `
job {
name early
cmd /bin/early
order -5
}
job {
name setup
cmd /bin/setup
wait
once
}
job {
name late
cmd /bin/late
order 5
}
`, map[string]*sim.Script{"setup": runs(exitAfter(4, 0))})
	w.RunUntil(sec(30))
	expectLogs(t, w, "+0.000s started job early [100]", "+0.000s started job setup [101]",
		"+0.000s pausing for job setup to finish", "+4.000s job setup finished", "+4.000s started job late [102]")
	if n := countLogs(w, "started job setup"); n != 1 {
		t.Fatalf("setup started %d times, want 1", n)
	}
}

func TestRuleWaitWithoutOnceNeverLoops(t *testing.T) {
	w := newWorld(t, "job {\nname w\ncmd /bin/w\nwait\n}\njob {\nname after\ncmd /bin/after\n}",
		map[string]*sim.Script{"w": runs(exitAfter(1, 0))})
	w.RunUntil(sec(25))
	expectLogs(t, w, "+1.000s job w finished", "+1.000s started job after [101]",
		"+11.000s started job w [102]", "+12.000s job w [102] exited after 1 sec: exit status 0",
		"+22.000s started job w [103]")
	if n := countLogs(w, "pausing for job w"); n != 1 {
		t.Fatalf("the wait job gated %d times, want once", n)
	}
}

func TestRuleTermThenKillExactlyTenSecondsLater(t *testing.T) {
	w := newWorld(t, "job {\nname stubborn\ncmd /bin/s\n}", map[string]*sim.Script{"stubborn": runs(sim.Run{IgnoreTerm: true})})
	w.RunUntil(sec(3.5))
	if err := w.LoadText(""); err != nil {
		t.Fatal(err)
	}
	w.RunUntil(sec(30))
	expectLogs(t, w, "+3.500s sending SIGTERM to job stubborn(deleted) [100]",
		"+13.500s sending SIGKILL to job stubborn(deleted) [100]",
		"+13.500s job stubborn(deleted) [100] exited after 13 sec: signal 9")
}

func TestRuleBounceOnTimeAndRestartAtOnce(t *testing.T) {
	w := newWorld(t, "job {\nname b\ncmd /bin/b\nbounce every 3s\n}", nil)
	w.RunUntil(sec(7))
	expectLogs(t, w, "+3.000s sending SIGTERM to job b [100]", "+3.000s job b [100] exited after 3 sec: signal 15",
		"+3.000s started job b [101]", "+6.000s sending SIGTERM to job b [101]", "+6.000s started job b [102]")
}

func TestRuleMissingDependencyHoldsJobUntilBack(t *testing.T) {
	w := newWorld(t, "job {\nname d\ncmd /bin/d\ndepends { /etc/d.conf }\n}", nil,
		core.DepState{Path: "/etc/d.conf", Missing: true})
	w.RunUntil(sec(5))
	expectNoLog(t, w, "started job d")
	w.Step(core.DepChanged{Path: "/etc/d.conf", Hash: "h1"})
	w.RunUntil(sec(6))
	expectLogs(t, w, "+0.000s job d: can't open dependency /etc/d.conf; holding the job stopped until it exists",
		"+5.000s started job d [100]")
	w.Step(core.DepChanged{Path: "/etc/d.conf", Missing: true})
	expectLogs(t, w, "+6.000s sending SIGTERM to job d [100]")
}

func TestRuleDependencyContentChangeRestarts(t *testing.T) {
	w := newWorld(t, "job {\nname d\ncmd /bin/d\ndepends { /etc/d.conf }\n}", nil,
		core.DepState{Path: "/etc/d.conf", Hash: "h1"})
	w.RunUntil(sec(20))
	w.Step(core.DepChanged{Path: "/etc/d.conf", Hash: "h1"}) // same content: nothing
	expectNoLog(t, w, "SIGTERM")
	w.Step(core.DepChanged{Path: "/etc/d.conf", Hash: "h2"})
	expectLogs(t, w, "+20.000s sending SIGTERM to job d [100]", "+20.000s started job d [101]")
}

// TestRuleControlStopOutlastsReloads: a job stopped by control (pmtr stop,
// UDP disable) stays stopped across reloads, an edit of its own definition
// included, until an enable or a restart; an enable lasts until the next
// reload, which gives the job back to the config (issue 27, item 1).
func TestRuleControlStopOutlastsReloads(t *testing.T) {
	conf := "job {\nname a\ncmd /bin/a\n}\njob {\nname b\ncmd /bin/b\ndisable\n}\njob {\nname c\ncmd /bin/c\n}"
	w := newWorld(t, conf, nil)
	w.RunUntil(sec(1))
	w.Step(core.Control{Verb: "enable", Names: []string{"b"}})
	w.Step(core.Control{Verb: "disable", Names: []string{"a", "zz"}, From: "uid 0"})
	expectLogs(t, w, "+1.000s enabling b", "+1.000s started job b [102]", "+1.000s disabling a",
		"+1.000s sending SIGTERM to job a [100]", "+1.000s control msg for unknown job zz")
	w.RunUntil(sec(30))
	if err := w.LoadText(conf + "\n# edited\n"); err != nil { // an edit of another part of the file
		t.Fatal(err)
	}
	expectLogs(t, w, "+30.000s rescanning job configuration", "+30.000s sending SIGTERM to job b [102]")
	w.RunUntil(sec(40))
	edited := strings.Replace(conf, "/bin/a", "/bin/a2", 1) // an edit of the stopped job itself
	cfg, err := confgrammar.Parse("sim.conf", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	if p := w.M.Plan(w.Now, cfg, nil); len(p.Changes) != 1 || p.Changes[0].String() != "update a (cmd changed; it stays stopped (pmtr stop) until pmtr start)" {
		t.Fatalf("plan: %v", p.Changes)
	}
	if err := w.LoadText(edited); err != nil {
		t.Fatal(err)
	}
	expectLogs(t, w, "+40.000s job a changed; it stays stopped (stopped by uid 0) until pmtr start")
	w.RunUntil(sec(50))
	if n := strings.Count(strings.Join(w.Logs(), "\n"), "started job a ["); n != 1 {
		t.Fatalf("a started %d times; want only its first start\n%s", n, strings.Join(w.Logs(), "\n"))
	}
	if st, _ := w.M.JobStatus("a"); st.State != core.Stopped || st.Reason != "stopped by uid 0" || st.ControlBy != "uid 0" || st.ControlAt != sec(1) {
		t.Fatalf("a's status: %+v", st)
	}
	w.Step(core.Control{Verb: "restart", Names: []string{"a"}, From: "uid 0"}) // a restart starts it, with its new definition
	expectLogs(t, w, "+50.000s enabling a", "+50.000s restarting job a", "+50.000s started job a [103]")
	w.Step(core.Control{Verb: "disable", Names: []string{"c"}})
	w.Step(core.Control{Verb: "enable", Names: []string{"c"}})
	w.RunUntil(sec(60))
	if err := w.LoadText(edited + "\n"); err != nil { // and a restarted or started job is the config's again
		t.Fatal(err)
	}
	w.RunUntil(sec(70))
	for _, name := range []string{"a", "c"} {
		if st, _ := w.M.JobStatus(name); st.State != core.Running || st.Control != "" {
			t.Errorf("%s after the reload: %+v", name, st)
		}
	}
}

func TestRuleShutdownTermsAllKillsStragglersStartsNothing(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /bin/a\n}\njob {\nname s\ncmd /bin/s\n}\njob {\nname q\ncmd /bin/q\n}",
		map[string]*sim.Script{"s": runs(sim.Run{IgnoreTerm: true}), "q": runs(exitAfter(1, 1))})
	w.RunUntil(sec(2))
	w.Step(core.Shutdown{Signal: 15})
	w.RunUntil(sec(60))
	expectLogs(t, w, "+2.000s pmtr: exiting on signal 15", "+2.000s sending SIGTERM to job a [100]",
		"+2.000s sending SIGTERM to job s [101]", "+12.000s sending SIGKILL to job s [101]")
	expectNoLog(t, w, "started job q [103]")
	if !w.Done() || len(w.B.Live()) != 0 {
		t.Fatalf("shutdown not complete: done=%v live=%v", w.Done(), w.B.Live())
	}
}

func TestRuleReloadDiff(t *testing.T) {
	conf := `
job {
name same
cmd /bin/same
}
job {
name changed
cmd /bin/changed
nice 1
}
job {
name removed
cmd /bin/removed
}
job {
name finished
cmd /bin/finished
once
}
`
	w := newWorld(t, conf, map[string]*sim.Script{"finished": runs(exitAfter(1, 0))})
	w.RunUntil(sec(20))
	if err := w.LoadText(conf); err != nil { // the same config: a no-op
		t.Fatal(err)
	}
	expectNoLog(t, w, "SIGTERM")
	edited := `
job {
name same
cmd /bin/same
}
job {
name changed
cmd /bin/changed
nice 2
}
job {
name finished
cmd /bin/finished two
once
}
job {
name added
cmd /bin/added
}
`
	if err := w.LoadText(edited); err != nil {
		t.Fatal(err)
	}
	expectLogs(t, w, "+20.000s rescanning job configuration", "+20.000s sending SIGTERM to job changed [101]",
		"+20.000s sending SIGTERM to job removed(deleted) [102]",
		"+20.000s started job finished [104]", "+20.000s started job added [105]",
		"+20.000s started job changed [106]", "+20.000s job removed(deleted) [102] exited after 20 sec: signal 15")
	expectNoLog(t, w, "SIGTERM to job same")
}

func TestRuleRejectedReloadKeepsOldConfig(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /bin/a\n}", nil)
	w.Step(core.ConfigRejected{File: "/etc/pmtr.conf", Errors: []string{"/etc/pmtr.conf:3:1: unexpected end of file"}})
	expectLogs(t, w, "+0.000s FAILED to parse /etc/pmtr.conf", "+0.000s ERROR: /etc/pmtr.conf:3:1: unexpected end of file",
		"+0.000s NOTE: using PREVIOUS job config")
	expectNoLog(t, w, "SIGTERM")
}

func TestRuleReportFormatAndPeriod(t *testing.T) {
	w := newWorld(t, "report to udp://127.0.0.1:9999\njob {\nname a\ncmd /bin/a x\n}\njob {\nname d\ncmd /bin/d\ndisable\n}", nil)
	w.RunUntil(sec(25))
	var reports []string
	for _, l := range w.Lines() {
		if strings.Contains(l, " < report ") {
			reports = append(reports, l)
		}
	}
	want := []string{
		`+0.000s < report "a e 0 0 /bin/a\nd d 0 0 /bin/d\n"`,
		`+1.000s < report "a e 1 100 /bin/a\nd d 0 0 /bin/d\n"`,
		`+11.000s < report "a e 11 100 /bin/a\nd d 0 0 /bin/d\n"`,
		`+21.000s < report "a e 21 100 /bin/a\nd d 0 0 /bin/d\n"`,
	}
	if strings.Join(reports, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reports:\n%s\nwant:\n%s", strings.Join(reports, "\n"), strings.Join(want, "\n"))
	}
}

func TestRuleSameEventsSameTranscript(t *testing.T) {
	run := func() string {
		w := newWorld(t, "job {\nname a\ncmd /bin/a\nbounce every 7s\n}\njob {\nname q\ncmd /bin/q\n}",
			map[string]*sim.Script{"q": runs(exitAfter(2, 1), exitAfter(12, 0))})
		w.RunUntil(sec(100))
		return w.Transcript()
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("transcripts differ:\n%s\n----\n%s", a, b)
	}
}

// Rule: dependency changes restart a job at most once in 10 s; changes in
// between restart it once, when the 10 s are over.
func TestRuleDependencyRestartsAtMostOnceIn10s(t *testing.T) {
	w := newWorld(t, "job {\nname d\ncmd /bin/d\ndepends { /etc/d.conf }\n}", nil,
		core.DepState{Path: "/etc/d.conf", Hash: "h0"})
	w.RunUntil(sec(20))
	for i := 1; i <= 100; i++ { // 100 rewrites in 5 s
		w.RunUntil(sec(20 + float64(i)*0.05))
		w.Step(core.DepChanged{Path: "/etc/d.conf", Hash: fmt.Sprintf("h%d", i)})
	}
	w.RunUntil(sec(45))
	expectLogs(t, w, "+20.050s job d: dependency /etc/d.conf changed; restarting",
		"+20.100s job d: dependency /etc/d.conf changed again; restarting it at +30.050s (at most once in 10s)",
		"+30.050s job d: restarting for the dependency changes of the last 10s")
	if n := countLogs(w, "started job d "); n != 3 {
		t.Fatalf("job d started %d times, want 3 (start, one restart, one deferred restart)\n%s", n, strings.Join(w.Logs(), "\n"))
	}
}

// Rule: log lines caused by control messages from the network are limited
// per listener: a few, then one count when the window ends.
func TestRuleNetworkLogLinesAreLimited(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /bin/a\n}", nil)
	w.RunUntil(sec(1))
	for range 1000 {
		w.Step(core.Control{Verb: core.Invalid, From: "127.0.0.1:9", Via: "udp://127.0.0.1:7"})
	}
	w.Step(core.Control{Verb: core.Disable, Names: []string{"zz"}, From: "127.0.0.1:9", Via: "udp://127.0.0.1:7"})
	w.Step(core.Control{Verb: core.Invalid, From: "127.0.0.1:9", Via: "udp://127.0.0.1:8"})
	w.RunUntil(sec(30))
	if n := countLogs(w, "invalid control msg"); n != core.NetLogBurst+1 {
		t.Fatalf("%d invalid-message lines, want %d\n%s", n, core.NetLogBurst+1, strings.Join(w.Logs(), "\n"))
	}
	expectLogs(t, w, "+11.000s ... 998 more log lines about control messages on udp://127.0.0.1:7 left out in the last 10s")
}

// Rule: a plan names what a load would do at once, as the load then does.
func TestRulePlanNamesEveryChange(t *testing.T) {
	conf := "job {\nname same\ncmd /bin/same\n}\njob {\nname api\ncmd /bin/api\n}\njob {\nname old\ncmd /bin/old\n}\njob {\nname web\ncmd /bin/web\n}\n"
	w := newWorld(t, conf, nil)
	w.RunUntil(sec(20))
	edited := "job {\nname same\ncmd /bin/same\n}\njob {\nname api\ncmd /bin/api\nenv A=1\nnice 2\n}\njob {\nname web\ncmd /bin/web\ndisable\n}\njob {\nname new\ncmd /bin/new\n}\njob {\nname off\ncmd /bin/off\ndisable\n}\n"
	cfg, err := confgrammar.Parse("edited.conf", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	p := w.M.Plan(w.Now, cfg, nil)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.String())
	}
	want := []string{"restart api (env, nice changed)", "stop web (disabled)", "start new", "add off (not started now: disabled)", "stop old (removed from the config)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || p.Untouched != 1 {
		t.Fatalf("plan:\n%s\nuntouched %d\nwant:\n%s", strings.Join(got, "\n"), p.Untouched, strings.Join(want, "\n"))
	}
	if n := countLogs(w, "SIGTERM"); n != 0 {
		t.Fatalf("planning changed the machine:\n%s", strings.Join(w.Logs(), "\n"))
	}
}

// Rule: Why gives a sentence with its cause for every state.
func TestRuleWhyForEveryState(t *testing.T) {
	conf := `job {
name setup
cmd /bin/setup
wait
}
job {
name web
cmd /bin/web
depends { /etc/web.json }
}
job {
name run
cmd /bin/run
}
job {
name flaky
cmd /bin/flaky
}
job {
name off
cmd /bin/off
disable
}
job {
name one
cmd /bin/one
once
}
job {
name nope
cmd nope
}
job {
name stub
cmd /bin/stub
}
`
	w := newWorld(t, conf, map[string]*sim.Script{
		"setup": runs(exitAfter(2, 0)), "flaky": runs(exitAfter(1, 1)), "one": runs(exitAfter(1, 0)),
		"nope": runs(sim.Run{SpawnError: "ENOENT"}), "stub": runs(sim.Run{IgnoreTerm: true}),
	}, core.DepState{Path: "/etc/web.json", Missing: true})
	at := func(t core.Time) string { return t.String() }
	why := func(name string) string {
		s, _, ok := w.M.Why(name, at)
		if !ok {
			t.Fatalf("no job %s", name)
		}
		return s
	}
	w.RunUntil(sec(1))
	if got := why("run"); got != "gated: waiting for job setup (wait) to exit" {
		t.Fatalf("gated: %q", got)
	}
	w.RunUntil(sec(2.5))
	w.Step(core.Control{Verb: core.Disable, Names: []string{"stub"}, From: "uid 0 pid 7"})
	w.RunUntil(sec(4))
	for name, want := range map[string]string{
		"setup": "waiting: exited after 2 s with exit status 0 at +2.000s; starts again at +12.000s (it ran less than 10s)",
		"web":   "held: dependency /etc/web.json is missing",
		"run":   "running: pid 101 since +2.000s, started 1 time",
		"flaky": "waiting: exited after 1 s with exit status 1 at +3.000s; starts again at +13.000s (it ran less than 10s)",
		"off":   "disabled in the config",
		"one":   "done: it runs once (once), and exited after 1 s with exit status 0 at +3.000s",
		"nope":  "failed: failed to start: can't exec nope: No such file or directory (cmd needs an absolute path: pmtr does not search PATH) at +2.000s; tries again at +12.000s",
		"stub":  "stopping: pid 104 was sent SIGTERM at +2.500s; SIGKILL follows at +12.500s",
	} {
		if got := why(name); got != want {
			t.Errorf("why %s:\n got %q\nwant %q", name, got, want)
		}
	}
	w.RunUntil(sec(13))
	if got := why("stub"); got != "stopped by uid 0 pid 7 at +2.500s; stays stopped until pmtr start" {
		t.Errorf("why stub: %q", got)
	}
	_, history, _ := w.M.Why("stub", at)
	if len(history) < 3 || history[len(history)-1].Text != "job stub [104] exited after 10 sec: signal 9" {
		t.Errorf("stub's history: %+v", history)
	}
}

// TestConfigKeepsRunningProcesses: a first config whose jobs have
// processes already (pmtr upgrade without a readable state) takes them as
// the jobs' runs: nothing starts them again, and their exits are handled
// by the rules.
func TestConfigKeepsRunningProcesses(t *testing.T) {
	cfg, err := confgrammar.Parse("pmtr.conf", []byte("job {\nname a\ncmd /bin/a\n}\njob {\nname b\ncmd /bin/b\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := core.New()
	m.Step(sec(100), core.ConfigLoaded{Gen: 1, Config: cfg, Running: map[string]int{"a": 4711}})
	var spawned []string
	for _, e := range m.Ready().Effects {
		if s, ok := e.(core.Spawn); ok {
			spawned = append(spawned, s.Job)
		}
	}
	if fmt.Sprint(spawned) != "[b]" {
		t.Fatalf("spawned %v, want only b (a runs already)", spawned)
	}
	if st, _ := m.JobStatus("a"); st.State != core.Running || st.PID != 4711 || st.Starts != 1 {
		t.Fatalf("a: %+v", st)
	}
	m.Step(sec(200), core.Exited{PID: 4711, Status: 1})
	respawn := false
	for _, e := range m.Ready().Effects {
		if s, ok := e.(core.Spawn); ok && s.Job == "a" {
			respawn = true
		}
	}
	if !respawn {
		t.Fatal("a's exit after 100 s did not start it again")
	}
}
