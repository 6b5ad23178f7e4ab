package driver_test

import (
	"reflect"
	"strings"
	"testing"

	"pmtr/core"
	"pmtr/driver"
)

// TestUpgradeKeepsTheDriversState: after a handover to a new driver
// (through the bytes pmtr upgrade writes), the config in force, its hash,
// a refused save, the dependencies and the jobs' status are the same, and
// the new driver goes on: a changed dependency restarts its job, and a
// save of the file applies.
func TestUpgradeKeepsTheDriversState(t *testing.T) {
	w := newWorld(t, twoJobs)
	w.B.SetFile("pmtr.conf", "job {\nname a\n") // a refused save
	w.Input(driver.Reload{})
	w.RunUntil(w.Now + 5e9)
	before := w.D.Status()
	if before.Config.Refused == nil {
		t.Fatalf("the bad save was not refused:\n%s", w.Transcript())
	}
	if err := w.Upgrade(); err != nil {
		t.Fatal(err)
	}
	after := w.D.Status()
	if !reflect.DeepEqual(before.Jobs, after.Jobs) || !reflect.DeepEqual(before.Config, after.Config) {
		t.Fatalf("status before the upgrade\n%+v\nafter\n%+v", before, after)
	}
	pids := map[string]int{}
	for _, j := range after.Jobs {
		pids[j.Name] = j.PID
	}
	w.B.SetDep(core.DepState{Path: "/etc/a.conf", Hash: "h1"})
	w.Input(driver.Reload{})
	if n := count(w, `job a: dependency /etc/a.conf changed; restarting`); n != 1 {
		t.Fatalf("the new driver missed the dependency change (%d):\n%s", n, w.Transcript())
	}
	w.B.SetFile("pmtr.conf", twoJobs+"job {\nname c\ncmd /bin/c\n}\n")
	w.Input(driver.Reload{})
	w.RunUntil(w.Now + 1e9)
	st, ok := w.M.JobStatus("c")
	if !ok || !st.Up() {
		t.Fatalf("the new driver did not apply a good save: %+v\n%s", st, w.Transcript())
	}
	if b, _ := w.M.JobStatus("b"); b.PID != pids["b"] {
		t.Fatalf("job b restarted across the upgrade: pid %d, was %d", b.PID, pids["b"])
	}
}

// TestHandoverAnswersWhoWaits: a command waiting for its job and a reload
// caller are answered at the handover (their connections do not survive
// the exec), and the read under way is made again by the new driver.
func TestHandoverAnswersWhoWaits(t *testing.T) {
	w := newWorld(t, twoJobs)
	cmd := make(chan driver.Result, 1)
	w.B.Inject(driver.Command{Verb: core.Restart, Names: []string{"b"}, By: "test", Wait: true, Reply: cmd})
	reload := make(chan driver.Result, 1)
	w.B.Inject(driver.Reload{Force: true, Reply: reload})
	reply := make(chan driver.HandoverAnswer, 1)
	w.B.Inject(driver.Handover{Reply: reply})
	w.RunUntil(w.Now)
	a := <-reply
	if a.Err != nil || !w.D.Paused() {
		t.Fatalf("handover: %v, paused %v", a.Err, w.D.Paused())
	}
	if r := <-cmd; !strings.Contains(strings.Join(r.Lines, "\n"), "pmtr is being upgraded") {
		t.Fatalf("the waiting command got %+v", r)
	}
	if r := <-reload; r.Code != driver.CodeFailed || !strings.Contains(r.Lines[0], "the new pmtr reads the config again") {
		t.Fatalf("the reload caller got %+v", r)
	}
	if a.State.Reload != driver.ReloadForced {
		t.Fatalf("the forced reload under way is not in the state: %v", a.State.Reload)
	}
	reads := w.B.Reads
	w.D.Resume(a.State)
	w.RunUntil(w.Now)
	if w.D.Paused() || w.B.Reads != reads+1 {
		t.Fatalf("resumed: paused %v, %d reads of the config, want %d", w.D.Paused(), w.B.Reads, reads+1)
	}
}
