package driver_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/sim"
)

const twoJobs = "job {\nname a\ncmd /bin/a\ndepends { /etc/a.conf }\n}\njob {\nname b\ncmd /bin/b\n}\n"

// newWorld starts the driver on the simulated backend with conf as
// pmtr.conf, read through the driver as the daemon reads it.
func newWorld(t *testing.T, conf string) *sim.World {
	t.Helper()
	w := sim.NewWorldWith(nil, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.B.SetDep(core.DepState{Path: "/etc/a.conf", Hash: "h0"})
	w.Start()
	if got := strings.Join(w.Logs(), "\n"); !strings.Contains(got, "started job a [") {
		t.Fatalf("the first config did not start:\n%s", got)
	}
	return w
}

func count(w *sim.World, pattern string) int {
	n := 0
	rx := regexp.MustCompile(pattern)
	for _, l := range w.Logs() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

func TestReloadsMergeWhileAReadIsInFlight(t *testing.T) {
	w := newWorld(t, twoJobs)
	before := w.B.Reads
	for range 3 {
		w.B.Inject(driver.Reload{Force: true})
	}
	w.RunUntil(w.Now)
	// The first reload reads; the two that came meanwhile make one more read.
	if got := w.B.Reads - before; got != 2 {
		t.Fatalf("3 reloads at once made %d reads of the config, want 2", got)
	}
}

func TestUnchangedConfigIsLeftAloneUnlessForced(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.Input(driver.Reload{})
	if n := count(w, "rescanning"); n != 0 {
		t.Fatalf("an unchanged file was reloaded:\n%s", w.Transcript())
	}
	w.Input(driver.Reload{Force: true})
	if n := count(w, "rescanning job configuration"); n != 1 {
		t.Fatalf("SIGHUP did not rescan:\n%s", w.Transcript())
	}
}

func TestBadSaveKeepsConfigAndDependenciesStillCount(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.B.SetFile("pmtr.conf", "job {\nname a\n")
	w.B.SetDep(core.DepState{Path: "/etc/a.conf", Hash: "h1"})
	w.Input(driver.Reload{})
	for _, want := range []string{"FAILED to parse pmtr.conf", "NOTE: using PREVIOUS job config", "job a: dependency /etc/a.conf changed; restarting"} {
		if count(w, regexp.QuoteMeta(want)) != 1 {
			t.Fatalf("missing %q:\n%s", want, strings.Join(w.Logs(), "\n"))
		}
	}
	w.B.RemoveFile("pmtr.conf")
	w.Input(driver.Reload{})
	if count(w, "ERROR: can't open pmtr.conf: No such file or directory") != 1 {
		t.Fatalf("a missing file is not reported:\n%s", strings.Join(w.Logs(), "\n"))
	}
	if st := w.D.Status(); len(st.Jobs) != 2 || st.Jobs[1].State != core.Running {
		t.Fatalf("the previous config is not in force: %+v", st.Jobs)
	}
}

func TestGoodSaveLoadsWithFreshDependencies(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.B.SetDep(core.DepState{Path: "/etc/c.conf", Missing: true, Reason: "is a FIFO, not a regular file"})
	w.B.SetFile("pmtr.conf", twoJobs+"job {\nname c\ncmd /bin/c\ndepends { /etc/c.conf }\n}\n")
	w.Input(driver.Reload{})
	if count(w, `job c: can't read dependency /etc/c.conf: is a FIFO, not a regular file; holding`) != 1 {
		t.Fatalf("the new job's dependency was not read:\n%s", strings.Join(w.Logs(), "\n"))
	}
	if got := w.B.Setup.Watch; len(got) != 3 || got[0] != "/pmtr.conf" {
		t.Fatalf("watched files: %v", got)
	}
}

func TestControlTextIsDecodedIntoCommands(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.Input(driver.ControlText{From: "127.0.0.1:9", Text: "disable a\tb enable"})
	w.Input(driver.ControlText{From: "127.0.0.1:9", Text: "a disable b"})
	tr := w.Transcript()
	for _, want := range []string{"> control disable a b from=127.0.0.1:9", "> control enable  from=127.0.0.1:9",
		"> control invalid  from=127.0.0.1:9", "invalid control msg from 127.0.0.1:9"} {
		if !strings.Contains(tr, want) {
			t.Fatalf("missing %q:\n%s", want, tr)
		}
	}
}

func TestStatusSnapshot(t *testing.T) {
	w := newWorld(t, twoJobs)
	reply := make(chan driver.Snapshot, 1)
	w.Input(driver.StatusQuery{Reply: reply})
	at := func(t core.Time) string { return t.String() }
	table := (<-reply).Table(at)
	if !regexp.MustCompile(`(?m)^a\s+running\s+100\s+0s\s+1\s+-\s+-$`).MatchString(table) {
		t.Fatalf("table:\n%s", table)
	}
	// a job stopped by control says by whom, when, and until what
	w.Input(driver.ControlText{From: "127.0.0.1:9", Text: "disable a"})
	w.Input(driver.StatusQuery{Reply: reply})
	table = (<-reply).Table(at)
	if !regexp.MustCompile(`(?m)^a\s+stopped\s+-\s+0s\s+1\s+stopped by 127.0.0.1:9 at \+0.000s; stays stopped until pmtr start\s+signal 15$`).MatchString(table) {
		t.Fatalf("table:\n%s", table)
	}
}

func TestStaleReadIsIgnored(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.Input(driver.FilesRead{Seq: 999, Config: confgrammar.OneFile("pmtr.conf", []byte("job {\nname z\ncmd /bin/z\n}\n"))})
	if count(w, "rescanning|started job z") != 0 {
		t.Fatalf("an answer nobody asked for was used:\n%s", w.Transcript())
	}
}

// TestKeysAreReadAgainOnEveryReload: a rotated key is applied by a forced
// reload and by a watched change alike; a missing key file rejects the
// change and the previous key stays.
func TestKeysAreReadAgainOnEveryReload(t *testing.T) {
	conf := "listen on udp://127.0.0.1:7 key /etc/pmtr.key\n" + twoJobs
	w := sim.NewWorldWith(nil, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.B.SetFile("/etc/pmtr.key", "one")
	w.Start()
	if got := string(w.B.Setup.Keys["/etc/pmtr.key"]); got != "one" {
		t.Fatalf("key in force %q", got)
	}
	if !slices.Contains(w.B.Setup.Watch, "/etc/pmtr.key") {
		t.Fatalf("the key file is not watched: %v", w.B.Setup.Watch)
	}
	w.B.SetFile("/etc/pmtr.key", "two")
	w.Input(driver.Reload{Force: true})
	if got := string(w.B.Setup.Keys["/etc/pmtr.key"]); got != "two" {
		t.Fatalf("after SIGHUP the key in force is %q", got)
	}
	w.B.SetFile("/etc/pmtr.key", "three")
	w.Input(driver.Reload{})
	if got := string(w.B.Setup.Keys["/etc/pmtr.key"]); got != "three" {
		t.Fatalf("after a save of the key file the key in force is %q", got)
	}
	w.B.RemoveFile("/etc/pmtr.key")
	w.Input(driver.Reload{})
	if got := string(w.B.Setup.Keys["/etc/pmtr.key"]); got != "three" || count(w, `ERROR: pmtr.conf:1:\d+: key file /etc/pmtr.key: `) != 1 {
		t.Fatalf("a missing key file: key %q\n%s", got, strings.Join(w.Logs(), "\n"))
	}
}

func result(t *testing.T, w *sim.World, in func(chan<- driver.Result) driver.Input) driver.Result {
	t.Helper()
	reply := make(chan driver.Result, 1)
	w.Input(in(reply))
	w.RunUntil(w.Now + core.Time(15e9))
	select {
	case r := <-reply:
		return r
	default:
		t.Fatalf("no answer\n%s", w.Transcript())
	}
	return driver.Result{}
}

// TestReloadCommandTellsWhatChanged: pmtr reload answers once the reload
// is done, with its outcome and changes, or the errors.
func TestReloadCommandTellsWhatChanged(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.B.SetFile("pmtr.conf", twoJobs+"job {\nname c\ncmd /bin/c\n}\n")
	r := result(t, w, func(c chan<- driver.Result) driver.Input { return driver.Reload{Force: true, Reply: c} })
	if r.Code != 0 || strings.Join(r.Lines, "\n") != "ok (3 jobs)\nstart c\nuntouched: 2" {
		t.Fatalf("reload: %+v", r)
	}
	w.B.SetFile("pmtr.conf", "job {\n")
	r = result(t, w, func(c chan<- driver.Result) driver.Input { return driver.Reload{Force: true, Reply: c} })
	if r.Code != driver.CodeFailed || !strings.HasPrefix(r.Lines[0], "pmtr.conf:1:5: job block is not closed") || r.Lines[len(r.Lines)-1] != "parse failed: the config in force stays" {
		t.Fatalf("bad reload: %+v", r)
	}
}

// TestCommandsWaitForTheirJobs: stop, start and restart answer once their
// jobs got there; an unknown name is refused with the nearest one.
func TestCommandsWaitForTheirJobs(t *testing.T) {
	w := newWorld(t, twoJobs)
	cmd := func(v core.Verb, names ...string) driver.Result {
		return result(t, w, func(c chan<- driver.Result) driver.Input {
			return driver.Command{Verb: v, Names: names, By: "uid 0 pid 1", Wait: true, Reply: c}
		})
	}
	if r := cmd(core.Restart, "b"); r.Code != 0 || strings.Join(r.Lines, "\n") != "b: started [102]" {
		t.Fatalf("restart: %+v", r)
	}
	if r := cmd(core.Disable, "a", "b"); r.Code != 0 || strings.Join(r.Lines, "\n") != "a: stopped\nb: stopped" {
		t.Fatalf("stop: %+v", r)
	}
	if r := cmd(core.Enable, "a"); r.Code != 0 || !strings.HasPrefix(r.Lines[0], "a: started [") {
		t.Fatalf("start: %+v", r)
	}
	if r := cmd(core.Restart, "bb", "zzz"); r.Code != driver.CodeUnknown || r.Lines[0] != `no job named "bb" in pmtr.conf (did you mean "b"?)` || r.Lines[1] != `no job named "zzz" in pmtr.conf` {
		t.Fatalf("unknown: %+v", r)
	}
	if n := count(w, `disabling a`); n != 1 {
		t.Fatalf("a was disabled %d times", n)
	}
}

// TestStatusCode: 0 when the listed jobs run or finished as intended, 3
// when one is down or stopped by control, 4 for an unknown name.
func TestStatusCode(t *testing.T) {
	j := func(name string, st core.State, ctl core.Verb) core.JobStatus {
		return core.JobStatus{Name: name, State: st, Control: ctl}
	}
	s := driver.Snapshot{Jobs: []core.JobStatus{j("run", core.Running, ""), j("once", core.Done, ""),
		j("off", core.Disabled, ""), j("held", core.Held, ""), j("ctl", core.Stopped, core.Disable), j("old(deleted)", core.Stopping, "")}}
	for _, c := range []struct {
		names []string
		want  int
	}{{[]string{"run", "once", "off"}, 0}, {[]string{"held"}, 3}, {[]string{"ctl"}, 3}, {nil, 3}, {[]string{"run", "nope"}, 4}} {
		if got, _ := driver.StatusCode(s, c.names); got != c.want {
			t.Errorf("StatusCode(%v) = %d, want %d", c.names, got, c.want)
		}
	}
	s.Config.Path = "/etc/pmtr.conf" // an unknown name gets the nearest one, as stop's does
	if _, bad := driver.StatusCode(s, []string{"hled"}); len(bad) != 1 || bad[0] != `no job named "hled" in /etc/pmtr.conf (did you mean "held"?)` {
		t.Errorf("unknown name: %q", bad)
	}
}

// TestHeldFilesChangeNothingUntilClosed: a config or dependency that
// another program holds open for writing (a save in progress) is not
// applied; its close brings the whole save, once.
func TestHeldFilesChangeNothingUntilClosed(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.B.SetWriting("pmtr.conf", true)
	w.B.SetFile("pmtr.conf", "") // truncated, not written back yet
	w.B.SetWriting("/etc/a.conf", true)
	w.B.SetDep(core.DepState{Path: "/etc/a.conf", Hash: "half"})
	w.Input(driver.Reload{})
	if n := count(w, "rescanning|SIGTERM|deleted|changed"); n != 0 {
		t.Fatalf("a save in progress was applied:\n%s", w.Transcript())
	}
	r := result(t, w, func(c chan<- driver.Result) driver.Input { return driver.Reload{Force: true, Reply: c} })
	if r.Code != driver.CodeFailed || !strings.Contains(strings.Join(r.Lines, "\n"), "pmtr.conf is held open for writing") {
		t.Fatalf("pmtr reload of a held config answered %+v", r)
	}
	w.B.SetFile("pmtr.conf", twoJobs)
	w.B.SetWriting("pmtr.conf", false)
	w.B.SetDep(core.DepState{Path: "/etc/a.conf", Hash: "h1"})
	w.B.SetWriting("/etc/a.conf", false)
	w.Input(driver.Reload{})
	if n := count(w, "dependency /etc/a.conf changed; restarting"); n != 1 {
		t.Fatalf("the closed dependency restarted its job %d times, want 1:\n%s", n, w.Transcript())
	}
	if n := count(w, "rescanning|deleted"); n != 0 {
		t.Fatalf("the config, saved whole with the same text, was reloaded:\n%s", w.Transcript())
	}
}

// TestCriticalJobEndsTheRunWithItsCode: the driver's run is done once a
// critical job ended by itself and every job is reaped, and ExitCode gives
// that job's code (128+N for signal N), which live.Run returns.
func TestCriticalJobEndsTheRunWithItsCode(t *testing.T) {
	conf := "job {\nname main\ncmd /bin/main\ncritical\n}\njob {\nname side\ncmd /bin/side\n}\n"
	w := sim.NewWorldWith(map[string]*sim.Script{"main": {Runs: []sim.Run{{For: 2e9, Signal: 2}}}},
		driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.Start()
	w.RunUntil(core.Time(60e9))
	if code, by := w.D.ExitCode(); !w.D.Done() || code != 130 || by != "main" || len(w.B.Live()) != 0 {
		t.Fatalf("done %v, exit %d by %q, live %v\n%s", w.D.Done(), code, by, w.B.Live(), w.Transcript())
	}
}

// TestStatusTableShowsThePolicy: a job in its backoff says which failed run
// it waits after; one that gave up for good says so, and status exits 3.
func TestStatusTableShowsThePolicy(t *testing.T) {
	conf := "job {\nname slow\ncmd /bin/slow\nbackoff 1m max 1h\n}\njob {\nname quit\ncmd /bin/quit\ngive-up 1 in 1m retry never\n}\n"
	exit1 := &sim.Script{Runs: []sim.Run{{For: 1e9, Exit: 1}}}
	w := sim.NewWorldWith(map[string]*sim.Script{"slow": exit1, "quit": exit1}, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.Start()
	w.RunUntil(core.Time(5e9))
	table := w.D.Status().Table(core.Time.String)
	for _, want := range []string{`slow\s+waiting .* failed run 1\s+exit status 1; starts again in 5\ds`,
		`quit\s+failed .* gave up\s+exit status 1; down until pmtr start`} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if code, _ := driver.StatusCode(w.D.Status(), []string{"quit"}); code != driver.CodeDown {
		t.Errorf("status of a job that gave up: %d, want %d", code, driver.CodeDown)
	}
}

// TestRefusedSaveUndone: a refused save shows in status (its first line,
// exit 3) and in the metrics until the file is good again; a save that
// brings back the content in force ends the refusal without touching a
// job (issue 27, items 2 and 3).
func TestRefusedSaveUndone(t *testing.T) {
	w := newWorld(t, twoJobs)
	at := func(t core.Time) string { return t.String() }
	status := func() driver.Snapshot {
		reply := make(chan driver.Snapshot, 1)
		w.Input(driver.StatusQuery{Reply: reply})
		return <-reply
	}
	metrics := func() core.Counters {
		reply := make(chan driver.Metrics, 1)
		w.Input(driver.MetricsQuery{Reply: reply})
		return (<-reply).Counters
	}
	s := status()
	if s.Config.Refused != nil || s.Config.Path != "pmtr.conf" || len(s.Config.Hash) != 64 || s.Config.Line(at) != "" {
		t.Fatalf("config state of a good file: %+v", s.Config)
	}
	good := s.Config.Hash
	w.RunUntil(w.Now + core.Time(5e9))
	w.B.SetFile("pmtr.conf", "job {\nname a\nnmae x\n")
	w.Input(driver.Reload{})
	s = status()
	if code, _ := driver.StatusCode(s, nil); code != driver.CodeDown || s.Config.Refused == nil || s.Config.Hash != good {
		t.Fatalf("after a bad save: exit %d, %+v", code, s.Config)
	}
	if line := s.Config.Line(at); !regexp.MustCompile(`^config pmtr.conf: refused at \+5.000s, \d+ errors \(pmtr -t shows them\); the previous config stays in force$`).MatchString(line) {
		t.Fatalf("status line %q", line)
	}
	if !strings.HasPrefix(s.Table(at), s.Config.Line(at)+"\n") {
		t.Fatalf("the table does not start with the config line:\n%s", s.Table(at))
	}
	if code, _ := driver.StatusCode(s, []string{"b"}); code != driver.CodeOK {
		t.Fatalf("status b: exit %d", code)
	}
	if metrics().LastReloadOK {
		t.Fatal("the metric says the last reload was good")
	}
	w.B.SetFile("pmtr.conf", twoJobs) // the save is undone
	w.Input(driver.Reload{})
	s = status()
	if code, _ := driver.StatusCode(s, nil); code != driver.CodeOK || s.Config.Refused != nil || s.Config.Since != 0 {
		t.Fatalf("after the undo: exit %d, %+v", code, s.Config)
	}
	if !metrics().LastReloadOK || count(w, ` config pmtr.conf is valid again \(same as in force\)$`) != 1 || count(w, "rescanning|started job") != 3 {
		t.Fatalf("after the undo:\n%s", w.Transcript())
	}
}

// TestStartWaitsUntilTheJobStaysUp: pmtr start and restart answer once the
// new process has been up for StayUp; one that exits sooner fails the
// command with how it ended; a job that finishes as intended (once) does
// not (issue 27, item 4).
func TestStartWaitsUntilTheJobStaysUp(t *testing.T) {
	conf := "job {\nname up\ncmd /bin/up\ndisable\n}\njob {\nname crashy\ncmd /bin/crashy\ndisable\n}\n" +
		"job {\nname setup\ncmd /bin/setup\nonce\ndisable\n}\njob {\nname nope\ncmd /bin/nope\ndisable\n}\n"
	w := sim.NewWorldWith(map[string]*sim.Script{
		"crashy": {Runs: []sim.Run{{For: 200e6, Exit: 3}}},
		"setup":  {Runs: []sim.Run{{For: 100e6, Exit: 0}}},
		"nope":   {Runs: []sim.Run{{SpawnError: "ENOENT"}}},
	}, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.Start()
	start := func(name string, wait core.Time) (driver.Result, core.Time) {
		t.Helper()
		reply := make(chan driver.Result, 1)
		from := w.Now
		w.Input(driver.Command{Verb: core.Enable, Names: []string{name}, By: "uid 0 pid 1", Wait: true, Reply: reply})
		for end := w.Now + wait; w.Now < end; {
			select {
			case r := <-reply:
				return r, w.Now - from
			default:
			}
			w.RunUntil(w.Now + core.Time(50e6))
		}
		t.Fatalf("start %s: no answer within %v\n%s", name, wait, w.Transcript())
		return driver.Result{}, 0
	}
	if r, took := start("up", core.Time(5e9)); r.Code != 0 || r.Lines[0] != "up: started [100]" || took != driver.StayUp {
		t.Errorf("start up: %+v after %v, want started after %v", r, took, driver.StayUp)
	}
	if r, took := start("crashy", core.Time(5e9)); r.Code != driver.CodeFailed || r.Lines[0] != "crashy: exited after 200ms with exit status 3 (it did not stay up 1s)" || took != core.Time(200e6) {
		t.Errorf("start crashy: %+v after %v", r, took)
	}
	if r, _ := start("setup", core.Time(5e9)); r.Code != 0 || r.Lines[0] != "setup: finished: exit status 0 (once)" {
		t.Errorf("start setup: %+v", r)
	}
	if r, _ := start("nope", core.Time(5e9)); r.Code != driver.CodeFailed || !strings.HasPrefix(r.Lines[0], "nope: failed to start: ") {
		t.Errorf("start nope: %+v", r)
	}
}

// TestDegradedContainmentShows: what the backend reports about
// containment (the pid records cannot be written) shows in pmtr status
// and pmtr why until it works again (issue 28, item 6).
func TestDegradedContainmentShows(t *testing.T) {
	w := newWorld(t, twoJobs)
	problem := "the jobs' pids can't be recorded in /run/pmtr (no space left on device)"
	w.Input(driver.Containment{Degraded: problem})
	line := "containment degraded since +0.000s: " + problem
	why := func() string {
		reply := make(chan driver.Result, 1)
		w.Input(driver.WhyQuery{Name: "a", At: core.Time.String, Reply: reply})
		return strings.Join((<-reply).Lines, "\n")
	}
	if table := w.D.Status().Table(core.Time.String); !strings.HasPrefix(table, line+"\nJOB ") {
		t.Fatalf("status does not start with %q:\n%s", line, table)
	}
	if got := why(); !strings.Contains(got, "\n"+line+"\n") && !strings.HasSuffix(got, "\n"+line) {
		t.Fatalf("why lacks %q:\n%s", line, got)
	}
	w.Input(driver.Containment{})
	if table, got := w.D.Status().Table(core.Time.String), why(); strings.Contains(table+got, "containment degraded") {
		t.Fatalf("degraded containment still shows after it works again:\n%s\n%s", table, got)
	}
}

// TestSetupNamesTheNotifyJobs: the setup names the jobs that use a notify
// socket, so that the backend can let the sockets of the others go.
func TestSetupNamesTheNotifyJobs(t *testing.T) {
	conf := "job {\nname a\ncmd /bin/a\nready notify\n}\njob {\nname b\ncmd /bin/b\n}\njob {\nname c\ncmd /bin/c\nwatchdog 5s\n}\n"
	w := sim.NewWorldWith(nil, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
	w.B.SetFile("pmtr.conf", conf)
	w.Start()
	if got := strings.Join(w.B.Setup.Notify, " "); got != "a c" {
		t.Fatalf("notify jobs %q, want a c", got)
	}
	w.B.SetFile("pmtr.conf", "job {\nname b\ncmd /bin/b\nready notify\n}\njob {\nname c\ncmd /bin/c\n}\n")
	w.Input(driver.Reload{})
	if got := strings.Join(w.B.Setup.Notify, " "); got != "b" {
		t.Fatalf("after the reload, notify jobs %q, want b", got)
	}
}
