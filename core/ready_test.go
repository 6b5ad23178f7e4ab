package core_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// Rules of readiness, after, checks and the watchdog (issue 23) that
// scenarios do not pin.

func readyAfter(d float64) sim.Run {
	return sim.Run{ReadyAfter: time.Duration(d * float64(time.Second))}
}

// Ready attempts come 100 ms after the start, then 100 ms plus 5% of the
// time since the start apart, up to 1 s (from 18 s on); the first success
// makes the job ready and starts the job after it.
func TestReadyAttemptsGrowToOneSecond(t *testing.T) {
	w := newWorld(t, "job {\nname db\ncmd /db\nready tcp 127.0.0.1:5432\n}\njob {\nname web\ncmd /web\nafter db\n}",
		map[string]*sim.Script{"db": runs(readyAfter(20.5))})
	w.RunUntil(sec(25))
	times := probeTimes(w, "db")
	if len(times) < 5 {
		t.Fatalf("ready attempts at %v", times)
	}
	if want := "+0.100s +0.205s +0.315s +0.430s +0.551s"; strings.Join(times[:5], " ") != want {
		t.Fatalf("first ready attempts at %v, want %s", times[:5], want)
	}
	if want := "+17.731s +18.717s +19.717s +20.717s"; strings.Join(times[len(times)-4:], " ") != want {
		t.Fatalf("last ready attempts at %v, want %s", times[len(times)-4:], want)
	}
	expectLogs(t, w, "+20.717s job db is ready: 127.0.0.1:5432 accepted a connection (21s after its start)", "+20.717s started job web [101]")
	if st := status(t, w, "db"); st.State != core.ReadyState || !st.Ready || st.ReadyAt != sec(20.717) {
		t.Fatalf("db: %+v", st)
	}
	if st := status(t, w, "web"); st.State != core.Running || st.HasReady {
		t.Fatalf("web: %+v", st)
	}
}

// The wait from the moment a port opens to the attempt that finds it open
// stays within 100 ms plus 5% of the time the service took (at most 1 s):
// a port opening at 3 s is found by 3.25 s, not at 3.6 s as with a
// doubling gap.
func TestReadyFoundSoonAfterThePortOpens(t *testing.T) {
	for _, open := range []float64{0.05, 0.1, 0.3, 0.5, 1, 1.5, 2, 2.999, 3, 5, 8, 12, 17.9, 18, 30} {
		w := newWorld(t, "job {\nname db\ncmd /db\nready tcp 127.0.0.1:5432\n}",
			map[string]*sim.Script{"db": runs(readyAfter(open))})
		w.RunUntil(sec(open + 2))
		st := status(t, w, "db")
		bound := min(sec(0.1)+sec(open)/20, sec(1))
		if !st.Ready || st.ReadyAt < sec(open) || st.ReadyAt-sec(open) > bound {
			t.Errorf("port open at %vs: ready at %v, want within %v of it", open, st.ReadyAt, time.Duration(bound))
		}
	}
}

func probeTimes(w *sim.World, job string) []string {
	var times []string
	for _, l := range w.Lines() {
		if strings.Contains(l, " < probe "+job+" ") {
			times = append(times, l[:strings.Index(l, " ")])
		}
	}
	return times
}

// A job after another waits, gated, with the reason in status and why.
func TestAfterHoldsAndSaysWhy(t *testing.T) {
	w := newWorld(t, "job {\nname db\ncmd /db\nready tcp h:1\n}\njob {\nname web\ncmd /web\nafter db\n}",
		map[string]*sim.Script{"db": runs(sim.Run{ReadyNever: true})})
	w.RunUntil(sec(5))
	st := status(t, w, "web")
	if st.State != core.Gated || st.Reason != "after db (not ready)" || st.Starts != 0 {
		t.Fatalf("web: %+v", st)
	}
	why, _, _ := w.M.Why("web", core.Time.String)
	if why != "gated: after db, which is not ready" {
		t.Fatalf("why web: %q", why)
	}
	why, _, _ = w.M.Why("db", core.Time.String)
	if want := "not ready: h:1: connection refused at +4.751s (attempt 25); pid 100 started at +0.000s; not ready by +60.000s fails the run (ready timeout 1m)"; why != want {
		t.Fatalf("why db:\n got %q\nwant %q", why, want)
	}
	if st := status(t, w, "db"); st.State != core.Starting || st.PID != 100 || st.Reason != "not ready" {
		t.Fatalf("db: %+v", st)
	}
}

// Not ready in time: logged with the last attempt, stopped with its stop
// signal, and a failed run for the restart rules even when it ran longer
// than stable.
func TestNotReadyInTimeIsAFailedRun(t *testing.T) {
	w := newWorld(t, "job {\nname db\ncmd /db\nready http http://h/x\nready timeout 20s\nbackoff 1s max 1m\nstop signal SIGINT\n}",
		map[string]*sim.Script{"db": runs(sim.Run{ReadyNever: true})})
	w.RunUntil(sec(20))
	expectLogs(t, w, "+20.000s job db: not ready within 20s (the last of 49 attempts: http://h/x answered 503); stopping it (a failed run)",
		"+20.000s sending SIGINT to job db [100]", "+20.000s job db [100] exited after 20 sec: signal 2")
	if st := status(t, w, "db"); st.FailedRuns != 1 || st.State != core.Waiting {
		t.Fatalf("after the first run: %+v", st)
	}
	w.RunUntil(sec(60))
	if st := status(t, w, "db"); st.FailedRuns != 2 {
		t.Fatalf("a long run that was never ready reset the count: %+v", st)
	}
}

// notify and fd readiness is immediate, and READY=1 before the start was
// known still counts.
func TestReadyNotifyAndFD(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\nready notify\n}\njob {\nname b\ncmd /b\nready fd 3\n}\njob {\nname c\ncmd /c\nafter a b\n}",
		map[string]*sim.Script{"a": runs(readyAfter(2)), "b": runs(readyAfter(0))})
	w.RunUntil(sec(3))
	expectLogs(t, w, "+0.000s job b is ready: it wrote a newline to fd 3 (0s after its start)",
		"+2.000s job a is ready: it sent READY=1 (2s after its start)", "+2.000s started job c [102]")
	expectNoLog(t, w, "< probe")
}

// A message for a run that has ended, or a probe answer that is stale,
// changes nothing.
func TestStaleReadinessIsDropped(t *testing.T) {
	w := newWorld(t, "job {\nname b\ncmd /b\nready fd 3\n}", map[string]*sim.Script{"b": runs(sim.Run{ReadyNever: true})})
	w.Step(core.Notified{Job: "b", Attempt: 999, Ready: true})
	w.Step(core.ProbeResult{Job: "b", Seq: 42, OK: true})
	if st := status(t, w, "b"); st.Ready {
		t.Fatalf("a stale message made b ready: %+v", st)
	}
	w.Step(core.Notified{Job: "b", Attempt: 1, PipeClosed: true})
	expectLogs(t, w, "+0.000s job b: it closed fd 3 without writing a newline, so it cannot become ready; stopping it (a failed run)")
}

// Failed checks are counted in a row; a success resets the count; the
// fails-th in a row restarts the job at once.
func TestChecksCountInARow(t *testing.T) {
	conf := "job {\nname a\ncmd /a\ncheck exec /bin/probe every 1s fails 3\n}"
	w := newWorld(t, conf, map[string]*sim.Script{"a": runs(
		sim.Run{CheckFails: sim.Window{On: true, From: 5 * time.Second, To: 7 * time.Second}},
	)})
	w.RunUntil(sec(10))
	if st := status(t, w, "a"); st.CheckFails != 0 || st.CheckFailures != 2 || st.State != core.Running || st.Starts != 1 {
		t.Fatalf("two failures then a success: %+v", st)
	}
	// a's checks are 996 ms into each second, on the 25 ms slot at 1 s.
	expectLogs(t, w, "+5.000s job a: check failed (1 of 3): /bin/probe exited 1", "+6.000s job a: check failed (2 of 3): /bin/probe exited 1",
		"+7.000s job a: check passing again: /bin/probe exited 0")
	w2 := newWorld(t, conf, map[string]*sim.Script{"a": runs(sim.Run{CheckFails: sim.Window{On: true, From: 5 * time.Second}}, forever())})
	w2.RunUntil(sec(10))
	expectLogs(t, w2, "+7.000s job a: 3 checks failed in a row; restarting it (on-check-fail restart)", "+7.000s sending SIGTERM to job a [100]", "+7.000s started job a [101]")
	if st := status(t, w2, "a"); st.CheckFails != 0 || st.CheckFailures != 3 || st.Starts != 2 {
		t.Fatalf("after the restart: %+v", st)
	}
}

// A check still running at its next time is skipped (logged once), so
// that at most one attempt per job is out.
func TestChecksNeverOverlap(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\ncheck tcp h:1 every 1s timeout 5s\n}",
		map[string]*sim.Script{"a": runs(sim.Run{ProbeTakes: 2500 * time.Millisecond})})
	out := 0
	w.OnEffect = func(_ core.Time, e core.Effect) {
		if _, ok := e.(core.Probe); ok {
			out++
			if out > 1 {
				t.Fatalf("two probes of one job out at once")
			}
		}
	}
	w.OnEvent = func(_ core.Time, ev core.Event) {
		if _, ok := ev.(core.ProbeResult); ok {
			out--
		}
	}
	w.RunUntil(sec(20))
	if n := countLogs(w, "check skipped"); n < 5 {
		t.Fatalf("%d skips logged, want one per attempt that ran over", n)
	}
}

// Checks of many jobs started together are spread over the period, on
// its slots: each first check on a slot boundary, most of the 40 slots of
// the second used, none crowded.
func TestChecksAreSpread(t *testing.T) {
	var conf strings.Builder
	for i := range 200 {
		conf.WriteString("job {\nname j" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\ncmd /j\ncheck tcp h:1 every 1s\n}\n")
	}
	w := newWorld(t, conf.String(), nil)
	at := map[core.Time]int{}
	w.OnEffect = func(now core.Time, e core.Effect) {
		if _, ok := e.(core.Probe); ok && now <= sec(1) {
			at[now]++
		}
	}
	w.RunUntil(sec(1))
	most := 0
	for t0, n := range at {
		if t0%core.CheckSlot != 0 {
			t.Fatalf("%d first checks at %v, not on a slot of %v", n, t0, time.Duration(core.CheckSlot))
		}
		most = max(most, n)
	}
	if len(at) < 30 || most > 20 {
		t.Fatalf("200 jobs' first checks fell on %d slots, at most %d on one: want them spread over the 40", len(at), most)
	}
}

// A missed watchdog is a failed check; WATCHDOG=1 (without a check) resets the count.
func TestWatchdog(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\nready notify\nwatchdog 5s\non-check-fail stop\ncheck exec /p fails 2 every 1h\n}",
		map[string]*sim.Script{"a": runs(sim.Run{WatchdogEvery: 2 * time.Second, WatchdogUntil: 10 * time.Second})})
	w.RunUntil(sec(30))
	expectLogs(t, w, "+13.000s job a: check failed (1 of 2): no WATCHDOG=1 for 5s", "+18.000s job a: check failed (2 of 2): no WATCHDOG=1 for 5s",
		"+18.000s job a: 2 checks failed in a row; stopping it until pmtr start (on-check-fail stop)")
	st := status(t, w, "a")
	if st.State != core.Stopped || st.Reason != "checks failed" {
		t.Fatalf("after on-check-fail stop: %+v", st)
	}
	why, _, _ := w.M.Why("a", core.Time.String)
	if want := "stopped: 2 checks failed in a row, the last at +18.000s: no WATCHDOG=1 for 5s; stays stopped until pmtr start (on-check-fail stop)"; why != want {
		t.Fatalf("why:\n got %q\nwant %q", why, want)
	}
	w.Step(core.Control{Verb: core.Enable, Names: []string{"a"}, From: "uid 0"})
	expectLogs(t, w, "+30.000s started job a [101]")
}

// on-check-fail shutdown stops every job and pmtr exits 3.
func TestCheckFailShutdown(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\ncheck tcp h:1 every 1s fails 1\non-check-fail shutdown\n}\njob {\nname b\ncmd /b\n}",
		map[string]*sim.Script{"a": runs(sim.Run{CheckFails: sim.Window{On: true, From: 3 * time.Second}})})
	w.RunUntil(sec(10))
	if !w.Done() {
		t.Fatal("pmtr did not stop")
	}
	if code, by := w.M.ExitCode(); code != 3 || by != "a" {
		t.Fatalf("exit %d by %q", code, by)
	}
}

// A job is stopped only once every job after it has exited, on shutdown
// and when a reload removes them.
func TestStopOrderFollowsAfter(t *testing.T) {
	conf := "job {\nname db\ncmd /db\n}\njob {\nname web\ncmd /web\nafter db\n}\njob {\nname api\ncmd /api\nafter web\n}"
	scripts := map[string]*sim.Script{"web": runs(sim.Run{StopDelay: 2 * time.Second}), "api": runs(sim.Run{StopDelay: time.Second})}
	w := newWorld(t, conf, scripts)
	w.RunUntil(sec(5))
	w.Step(core.Shutdown{Signal: 15})
	w.RunUntil(sec(20))
	expectLogs(t, w, "+5.000s sending SIGTERM to job api [102]", "+6.000s sending SIGTERM to job web [101]", "+8.000s sending SIGTERM to job db [100]")
	w2 := newWorld(t, conf, scripts)
	w2.RunUntil(sec(5))
	if err := w2.LoadText("job {\nname other\ncmd /o\n}"); err != nil {
		t.Fatal(err)
	}
	w2.RunUntil(sec(20))
	expectLogs(t, w2, "+5.000s sending SIGTERM to job api(deleted) [102]", "+6.000s sending SIGTERM to job web(deleted) [101]", "+8.000s sending SIGTERM to job db(deleted) [100]")
}

// after on a once job: it starts the jobs after it once it exited 0, and
// holds them when it failed.
func TestAfterOnceJob(t *testing.T) {
	conf := "job {\nname setup\ncmd /setup\nonce\n}\njob {\nname app\ncmd /app\nafter setup\n}"
	w := newWorld(t, conf, map[string]*sim.Script{"setup": runs(exitAfter(2, 0))})
	w.RunUntil(sec(5))
	expectLogs(t, w, "+2.000s started job app [101]")
	w = newWorld(t, conf, map[string]*sim.Script{"setup": runs(exitAfter(2, 1))})
	w.RunUntil(sec(5))
	why, _, _ := w.M.Why("app", core.Time.String)
	if st := status(t, w, "app"); st.State != core.Gated || why != "gated: after setup, which is failed: exit status 1" {
		t.Fatalf("app: %+v, why %q", st, why)
	}
}

// STATUS= text shows in why.
func TestNotifyStatusInWhy(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\nready notify\n}", map[string]*sim.Script{"a": runs(sim.Run{ReadyNever: true})})
	w.Step(core.Notified{Job: "a", PID: 100, HasStatus: true, Status: "loading 40%"})
	why, _, _ := w.M.Why("a", core.Time.String)
	if !strings.HasSuffix(why, "; it says: loading 40%") || status(t, w, "a").NotifyStatus != "loading 40%" {
		t.Fatalf("why: %q", why)
	}
}

// An exec check's output (escaped by the prober) is in why and the log.
func TestCheckOutputInWhy(t *testing.T) {
	w := newWorld(t, "job {\nname a\ncmd /a\ncheck exec /bin/probe every 1s timeout 1s fails 3\n}",
		map[string]*sim.Script{"a": runs(sim.Run{ProbeTakes: time.Minute})})
	var seq uint64
	w.OnEffect = func(_ core.Time, e core.Effect) {
		if p, ok := e.(core.Probe); ok && seq == 0 {
			seq = p.Seq
		}
	}
	w.RunUntil(sec(1))
	if seq == 0 {
		t.Fatal("no check was sent")
	}
	w.Step(core.ProbeResult{Job: "a", Seq: seq, Outcome: "/bin/probe exited 2", Output: `disk full\n`})
	why, _, _ := w.M.Why("a", core.Time.String)
	if !strings.HasPrefix(why, `unhealthy: /bin/probe exited 2: disk full\n at +1.000s (1 of 3 failed checks in a row; at 3: restart)`) {
		t.Fatalf("why: %q", why)
	}
	expectLogs(t, w, `+1.000s job a: check failed (1 of 3): /bin/probe exited 2: disk full\n`)
}

// Checks come on slots but keep their period on average: a period that is
// not a multiple of the slot moves over the slots rather than drifting.
func TestChecksKeepThePeriod(t *testing.T) {
	for _, c := range []struct {
		every string
		d     time.Duration
		slot  core.Time
	}{{"1030ms", 1030 * time.Millisecond, core.CheckSlot}, {"200ms", 200 * time.Millisecond, core.Time(5 * time.Millisecond)}} {
		w := newWorld(t, "job {\nname a\ncmd /a\ncheck tcp h:1 every "+c.every+"\n}", nil)
		var at []core.Time
		w.OnEffect = func(now core.Time, e core.Effect) {
			if _, ok := e.(core.Probe); ok {
				at = append(at, now)
			}
		}
		span := 100 * c.d
		w.RunUntil(core.Time(span))
		if len(at) < 99 || len(at) > 101 {
			t.Fatalf("every %s: %d checks in %v, want 100", c.every, len(at), span)
		}
		for i, t0 := range at {
			if t0%c.slot != 0 {
				t.Fatalf("every %s: a check at %v, not on a slot of %v", c.every, t0, time.Duration(c.slot))
			}
			if gap := t0 - at[max(i-1, 0)]; i > 0 && (gap <= core.Time(c.d)-c.slot || gap >= core.Time(c.d)+c.slot) {
				t.Fatalf("every %s: checks at %v and %v", c.every, at[i-1], t0)
			}
		}
	}
}

// A readiness pipe that ends before the job's start is known (the job
// closed fd 3 at once, and the listener's note came before Spawned) stops
// the run once it is known, as a pipe that ends later does. (It was
// dropped: the job then ran never ready, and never stopped for it.)
func TestReadyPipeEndedBeforeTheStartWasKnown(t *testing.T) {
	cfg, err := confgrammar.Parse("t.conf", []byte("job {\nname c\ncmd /c\nready fd 3\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := core.New()
	m.Step(0, core.ConfigLoaded{Gen: 1, Config: cfg})
	var sp core.Spawn
	for _, e := range m.Ready().Effects {
		if s, ok := e.(core.Spawn); ok {
			sp = s
		}
	}
	if sp.Job != "c" {
		t.Fatal("no spawn of c")
	}
	m.Step(0, core.Notified{Job: "c", Attempt: sp.Attempt, PipeClosed: true})
	m.Step(0, core.Spawned{Job: "c", Attempt: sp.Attempt, PID: 100})
	var logs []string
	killed := false
	for _, e := range m.Ready().Effects {
		switch e := e.(type) {
		case core.Log:
			logs = append(logs, e.Text)
		case core.Kill:
			killed = killed || e.PID == 100
		}
	}
	want := "job c: it closed fd 3 without writing a newline, so it cannot become ready; stopping it (a failed run)"
	if !slices.Contains(logs, want) || !killed {
		t.Fatalf("logs %q, killed %v; want %q and a signal to 100", logs, killed, want)
	}
}
