package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pmtr/ctlproto"
	"pmtr/handover"
	"pmtr/live/ctlsock"
	"pmtr/proctest"
)

// newVersion is the version of the second binary the upgrade tests go to.
const newVersion = "9.9.9-upgrade-test"

var (
	newBinOnce sync.Once
	newBin     string
	newBinErr  error
)

// newPmtr is pmtr built again as another version (-ldflags), once per run.
func newPmtr(t *testing.T) string {
	t.Helper()
	newBinOnce.Do(func() {
		newBin = filepath.Join(filepath.Dir(pmtrBin), "pmtr-new")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.buildStamp="+newVersion, "-o", newBin, ".").CombinedOutput()
		if err != nil {
			newBinErr = fmt.Errorf("build the new pmtr: %v\n%s", err, out)
		}
	})
	if newBinErr != nil {
		t.Fatal(newBinErr)
	}
	return newBin
}

// binVersion is what bin --version says it is.
func binVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "pmtr ")
}

// jobPIDs are the jobs' pids and states, from pmtr status --json.
func jobPIDs(t *testing.T, conf string) (map[string]int, map[string]string) {
	t.Helper()
	pids, states, err := tryJobPIDs(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	return pids, states
}

func tryJobPIDs(t *testing.T, conf string) (map[string]int, map[string]string, error) {
	t.Helper()
	out, errOut, code := runPmtr(t, "status", "--json", "-c", conf)
	if code != 0 && code != 3 {
		return nil, nil, fmt.Errorf("status: exit %d: %s", code, errOut)
	}
	var s struct {
		Jobs []struct {
			Name  string `json:"name"`
			PID   int    `json:"pid"`
			State string `json:"state"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, nil, fmt.Errorf("status --json: %v\n%s", err, out)
	}
	pids, states := map[string]int{}, map[string]string{}
	for _, j := range s.Jobs {
		pids[j.Name], states[j.Name] = j.PID, j.State
	}
	return pids, states, nil
}

// waitPIDs waits until every job of names runs, and returns the pids.
func waitPIDs(t *testing.T, conf string, names []string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		pids, _, err := tryJobPIDs(t, conf) // the daemon may not answer yet
		missing := len(names)
		if err == nil {
			missing = 0
		}
		for _, n := range names {
			if err == nil && pids[n] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs not running within %v: %v (%v)", missing, len(names), eventWait, pids, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNewPID waits until job runs with another pid than old.
func waitNewPID(t *testing.T, conf, job string, old int) int {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		if pids, _ := jobPIDs(t, conf); pids[job] != 0 && pids[job] != old {
			return pids[job]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s [%d] was not started again within %v", job, old, eventWait)
	return 0
}

func upgradeConf(n int, extra string) (string, []string) {
	var b strings.Builder
	var names []string
	for i := range n {
		name := fmt.Sprintf("j%02d", i)
		names = append(names, name)
		fmt.Fprintf(&b, "job {\nname %s\ncmd /bin/sh -c \"echo hello from %s; exec /bin/sleep 1000\"\nstable 100ms\nbackoff 100ms max 100ms\n}\n", name, name)
	}
	return b.String() + extra, names
}

// hammer asks what asks until stop is closed, counting the answers and
// saying what went wrong.
func hammer(what string, stop <-chan struct{}, ask func() error) (answers *atomic.Int64, failures chan string) {
	answers, failures = &atomic.Int64{}, make(chan string, 100)
	go func() {
		defer close(failures)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := ask(); err != nil {
				select {
				case failures <- fmt.Sprintf("%s: %v", what, err):
				default:
				}
			} else {
				answers.Add(1)
			}
		}
	}()
	return answers, failures
}

// TestUpgradeKeepsEveryJob: 20 jobs and one stopped by control; pmtr
// upgrade to the same binary, then to one built as another version.
// Every job keeps its pid, pmtr status and the metrics endpoint answer
// all along (the control socket never refuses a connection: it is
// inherited, never closed), the stopped job stays stopped, the log rings
// keep their lines, pmtr's pid stays, and a job killed afterwards is
// started again by the rules.
func TestUpgradeKeepsEveryJob(t *testing.T) {
	port := freeTCPPort(t)
	text, names := upgradeConf(20, fmt.Sprintf("job {\nname held\ncmd /bin/sleep 1000\n}\nmetrics on http://127.0.0.1:%d\n", port))
	dir, conf := writeConf(t, text)
	d := startForeground(t, dir, conf)
	defer func() {
		if t.Failed() {
			t.Logf("pmtr's log:\n%s", d.log.String())
		}
	}()
	before := waitPIDs(t, conf, append(names, "held"))
	if out, errOut, code := pmtrIn(t, conf, "stop", "held"); code != 0 {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	waitLogRe(t, d.log, `j07\[\d+\]: hello from j07`, eventWait)
	scrape(t, port) // the endpoint is up

	stop := make(chan struct{})
	statuses, statusFails := hammer("pmtr status", stop, func() error {
		code, err := ctlsock.Ask(conf, ctlproto.Request{Verb: "status"}, eventWait, io.Discard, io.Discard)
		if err == nil && code != 0 && code != 3 {
			err = fmt.Errorf("exit %d", code)
		}
		return err
	})
	scrapes, scrapeFails := hammer("metrics", stop, func() error {
		r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			return err
		}
		defer r.Body.Close()
		io.Copy(io.Discard, r.Body)
		if r.StatusCode != 200 {
			return fmt.Errorf("HTTP %d", r.StatusCode)
		}
		return nil
	})
	old := binVersion(t, pmtrBin)
	for _, to := range []struct{ bin, version string }{{pmtrBin, old}, {newPmtr(t), newVersion}} {
		out, errOut, code := pmtrIn(t, conf, "upgrade", "--binary", to.bin)
		want := fmt.Sprintf("upgraded from %s to %s (20 jobs kept)\n", old, to.version)
		if code != 0 || out != want {
			t.Fatalf("upgrade to %s: exit %d, %q (want %q)\n%s\n%s", to.bin, code, out, want, errOut, d.log.String())
		}
	}
	close(stop)
	for _, fails := range []chan string{statusFails, scrapeFails} {
		for f := range fails {
			t.Errorf("during the upgrades: %s", f)
		}
	}
	t.Logf("%d status answers and %d scrapes during the upgrades", statuses.Load(), scrapes.Load())

	after, states := jobPIDs(t, conf)
	for _, n := range names {
		if after[n] != before[n] {
			t.Errorf("job %s: pid %d before the upgrades, %d after", n, before[n], after[n])
		}
	}
	if states["held"] != "stopped" || after["held"] != 0 {
		t.Errorf("the job stopped by control is %s [%d] after the upgrades", states["held"], after["held"])
	}
	if d.cmd.ProcessState != nil {
		t.Fatalf("pmtr exited: %v", d.cmd.ProcessState)
	}
	waitLogRe(t, d.log, fmt.Sprintf(`pmtr\[%d\]: upgraded from %s to %s \(20 jobs kept\)`, d.cmd.Process.Pid, regexp.QuoteMeta(old), regexp.QuoteMeta(newVersion)), eventWait)
	if out, _, _ := pmtrIn(t, conf, "logs", "j07"); !strings.Contains(out, "hello from j07") {
		t.Errorf("pmtr logs j07 lost the line of before the upgrades:\n%s", out)
	}
	if body := scrape(t, port); !strings.Contains(body, `pmtr_build_info{version="`+newVersion+`"} 1`) {
		t.Errorf("the metrics do not name the new version:\n%s", body)
	}
	syscall.Kill(after["j05"], syscall.SIGKILL)
	waitNewPID(t, conf, "j05", after["j05"])
	if out, _, code := pmtrIn(t, conf, "start", "held"); code != 0 {
		t.Errorf("start of the stopped job after the upgrades: exit %d\n%s", code, out)
	}
}

// TestUpgradeRestartsAJobThatExitsDuringIt: jobs killed while pmtr is
// being upgraded (by a wrapper of the new binary, as its check runs,
// at a few moments) are reaped by one pmtr or the other and started
// again; the others keep their pids.
func TestUpgradeRestartsAJobThatExitsDuringIt(t *testing.T) {
	text, names := upgradeConf(6, "")
	dir, conf := writeConf(t, text)
	d := startForeground(t, dir, conf)
	defer func() {
		if t.Failed() {
			t.Logf("pmtr's log:\n%s", d.log.String())
		}
	}()
	before := waitPIDs(t, conf, names)
	wrapper := filepath.Join(dir, "pmtr-wrapper")
	// setsid: the check's process group is killed once it has answered.
	// setsid(1) forks when its caller leads a group, so the wrapper waits
	// until the killer has left the group (it writes detached), lest the
	// killer die with the check before it kills anything.
	detached := filepath.Join(dir, "detached")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = --state-format ]; then\n"+
		"  setsid /bin/sh -c ': > %s; kill -9 %d; sleep 0.03; kill -9 %d; sleep 0.1; kill -9 %d' </dev/null >/dev/null 2>&1 &\n"+
		"  while [ ! -e %s ]; do sleep 0.01; done\nfi\nexec %s \"$@\"\n",
		detached, before["j00"], before["j01"], before["j02"], detached, newPmtr(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := pmtrIn(t, conf, "upgrade", "--binary", wrapper); code != 0 || !strings.HasPrefix(out, "upgraded from "+binVersion(t, pmtrBin)+" to "+newVersion) {
		t.Fatalf("upgrade: exit %d, %q\n%s\n%s", code, out, errOut, d.log.String())
	}
	for _, n := range names[:3] {
		waitNewPID(t, conf, n, before[n])
	}
	after, _ := jobPIDs(t, conf)
	for _, n := range names[3:] {
		if after[n] != before[n] {
			t.Errorf("job %s: pid %d before the upgrade, %d after", n, before[n], after[n])
		}
	}
}

// TestUpgradeRefusesBadBinaries: a binary that is not executable, that
// exits 1, that reads another state format, or that passes the check but
// cannot be run is refused (exit 1, saying why); the old pmtr carries on
// supervising. (Its jobs are contained by process group only, with pid
// records, so that the upgrade without cgroups is tried too.)
func TestUpgradeRefusesBadBinaries(t *testing.T) {
	text, names := upgradeConf(3, "")
	dir, conf := writeConf(t, text)
	d := startForeground(t, dir, conf, "PMTR_NO_CGROUPS=1")
	defer func() {
		if t.Failed() {
			t.Logf("pmtr's log:\n%s", d.log.String())
		}
	}()
	before := waitPIDs(t, conf, names)
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ bin, why string }{
		{write("not-executable", "#!/bin/sh\necho pmtr-state 1\n", 0o644), "refused: it cannot be run"},
		{write("exits-1", "#!/bin/sh\nexit 1\n", 0o755), "--state-format ended with exit status 1"},
		{write("old-format", "#!/bin/sh\necho pmtr-state 0\n", 0o755), "it reads state formats 0, this pmtr writes format " + strconv.Itoa(handover.Format)},
		{write("no-format", "#!/bin/sh\necho usage: pmtr\n", 0o755), "it does not say which state formats it reads"},
		// passes the check, then cannot be run: the exec fails, pmtr resumes
		{write("gone-at-exec", "#!/bin/sh\n[ \"$1\" = --state-format ] && chmod -x \"$0\" && echo pmtr-state "+strconv.Itoa(handover.Format)+"\n", 0o755),
			"can't run " + filepath.Join(dir, "gone-at-exec") + ": permission denied; this pmtr carries on"},
	}
	for _, c := range cases {
		out, errOut, code := pmtrIn(t, conf, "upgrade", "--binary", c.bin)
		if code != 1 || !strings.Contains(errOut, c.why) {
			t.Errorf("upgrade to %s: exit %d, %q, stderr %q; want exit 1 saying %q", filepath.Base(c.bin), code, out, errOut, c.why)
		}
	}
	if d.cmd.ProcessState != nil {
		t.Fatalf("pmtr exited: %v\n%s", d.cmd.ProcessState, d.log.String())
	}
	after, _ := jobPIDs(t, conf)
	for _, n := range names {
		if after[n] != before[n] {
			t.Errorf("job %s: pid %d before, %d after the refused upgrades", n, before[n], after[n])
		}
	}
	syscall.Kill(after["j01"], syscall.SIGKILL) // the old pmtr still supervises
	waitNewPID(t, conf, "j01", after["j01"])
	if out, errOut, code := pmtrIn(t, conf, "upgrade"); code != 0 || out != fmt.Sprintf("upgraded from %[1]s to %[1]s (3 jobs kept)\n", binVersion(t, pmtrBin)) {
		t.Fatalf("a good upgrade after the refused ones: exit %d, %q\n%s", code, out, errOut)
	}
}

// TestUpgradeAsPID1: pmtr as PID 1 of a PID namespace (a container) is
// upgraded in place: it stays PID 1, its jobs keep their pids, and it
// still stops them all and exits 0 on SIGTERM.
func TestUpgradeAsPID1(t *testing.T) {
	proctest.Heavy(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	text, names := upgradeConf(3, "")
	_, conf := writeConf(t, text)
	cmd := proctest.Command(t, unshare, "--pid", "--fork", "--kill-child", "--mount-proc", pmtrBin, "-c", conf)
	errOut := &syncBuf{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}
	}()
	pmtr := 0
	for deadline := time.Now().Add(eventWait); pmtr == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pmtr = childOf(cmd.Process.Pid)
	}
	if pmtr == 0 {
		t.Skipf("pmtr did not start in the namespace (not permitted here?)\n%s", errOut.String())
	}
	before := waitPIDs(t, conf, names)
	if out, stderr, code := pmtrIn(t, conf, "upgrade", "--binary", newPmtr(t)); code != 0 || out != "upgraded from "+binVersion(t, pmtrBin)+" to "+newVersion+" (3 jobs kept)\n" {
		t.Fatalf("upgrade as PID 1: exit %d, %q\n%s\n%s", code, out, stderr, errOut.String())
	}
	after, _ := jobPIDs(t, conf)
	for _, n := range names {
		if after[n] != before[n] {
			t.Errorf("job %s: pid %d before, %d after", n, before[n], after[n])
		}
	}
	if now := childOf(cmd.Process.Pid); now != pmtr {
		t.Errorf("pmtr was %d, is %d", pmtr, now)
	}
	syscall.Kill(pmtr, syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pmtr as PID 1 exited with %v after the upgrade and SIGTERM\n%s", err, errOut.String())
		}
	case <-time.After(eventWait):
		t.Fatalf("pmtr as PID 1 did not exit on SIGTERM after the upgrade\n%s", errOut.String())
	}
}

// TestUpgradeRebuildsWhenTheStateIsUnreadable: when the new binary cannot
// read the state (a wrapper overwrites the memfd before it runs), it
// rebuilds from the jobs' cgroups, or their pid records without cgroups:
// every job keeps its pid, their output is still read, the control socket
// and metrics answer, and the upgrade's caller is told.
func TestUpgradeRebuildsWhenTheStateIsUnreadable(t *testing.T) {
	for _, c := range []struct{ name, env, from string }{{"cgroups", "", "cgroups"}, {"records", "PMTR_NO_CGROUPS=1", "pid records"}} {
		t.Run(c.name, func(t *testing.T) {
			port := freeTCPPort(t)
			text, names := upgradeConf(4, fmt.Sprintf("job {\nname ticks\ncmd /bin/sh -c \"while :; do echo tick; sleep 0.2; done\"\n}\nmetrics on http://127.0.0.1:%d\n", port))
			dir, conf := writeConf(t, text)
			var env []string
			if c.env != "" {
				env = append(env, c.env)
			}
			d := startForeground(t, dir, conf, env...)
			defer func() {
				if t.Failed() {
					t.Logf("pmtr's log:\n%s", d.log.String())
				}
			}()
			names = append(names, "ticks")
			before := waitPIDs(t, conf, names)
			scrape(t, port)
			wrapper := filepath.Join(dir, "pmtr-corrupt")
			script := fmt.Sprintf("#!/bin/sh\n[ -n \"$PMTR_HANDOVER_FD\" ] && echo garbage > /proc/self/fd/$PMTR_HANDOVER_FD\nexec %s \"$@\"\n", newPmtr(t))
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := pmtrIn(t, conf, "upgrade", "--binary", wrapper)
			if code != 0 || !strings.Contains(out, "could not be read") || !strings.Contains(out, "rebuilt from the jobs' "+c.from+"; 5 jobs kept") {
				t.Fatalf("upgrade: exit %d, %q\n%s", code, out, errOut)
			}
			after, _ := jobPIDs(t, conf)
			for _, n := range names {
				if after[n] != before[n] {
					t.Errorf("job %s: pid %d before, %d after", n, before[n], after[n])
				}
			}
			waitLogRe(t, d.log, `rebuilt from[^\n]*\n(?s:.*)ticks\[\d+\]: tick`, eventWait)
			if body := scrape(t, port); !strings.Contains(body, `version="`+newVersion+`"`) {
				t.Errorf("metrics after the rebuild:\n%s", body)
			}
			syscall.Kill(after["j02"], syscall.SIGKILL)
			waitNewPID(t, conf, "j02", after["j02"])
		})
	}
}

// TestUpgradeKeepsNotifySocketsAndPipes: a job that says READY=1 and then
// WATCHDOG=1 every 200 ms on its notify socket (watchdog 1s), and one
// that is ready by a newline on fd 3 written after the upgrade, are
// handed over with their socket and pipe: the first stays ready with its
// pid through several watchdog periods, the second becomes ready.
func TestUpgradeKeepsNotifySocketsAndPipes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	dir := t.TempDir()
	sender := filepath.Join(dir, "notify.py")
	os.WriteFile(sender, []byte("import os, socket, time\n"+
		"s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.connect(os.environ['NOTIFY_SOCKET'])\ns.send(b'READY=1')\n"+
		"while True:\n    time.sleep(0.2)\n    s.send(b'WATCHDOG=1')\n"), 0o644)
	gate := filepath.Join(dir, "go")
	conf := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("job {\nname told\ncmd %s %s\nready notify\nwatchdog 1s\n}\n"+
		"job {\nname piped\ncmd /bin/sh -c \"while [ ! -e %s ]; do sleep 0.05; done; echo >&3; exec /bin/sleep 1000\"\nready fd 3\n}\n", py, sender, gate)), 0o644)
	d := startForeground(t, dir, conf)
	defer func() {
		if t.Failed() {
			t.Logf("pmtr's log:\n%s", d.log.String())
		}
	}()
	waitLogRe(t, d.log, `job told is ready`, eventWait)
	before := waitPIDs(t, conf, []string{"told", "piped"})
	if out, errOut, code := pmtrIn(t, conf, "upgrade", "--binary", newPmtr(t)); code != 0 {
		t.Fatalf("upgrade: exit %d, %q\n%s", code, out, errOut)
	}
	os.WriteFile(gate, nil, 0o644) // piped says it is ready, to the new pmtr
	waitLogRe(t, d.log, `upgraded from (?s:.*)job piped is ready`, eventWait)
	n := strings.Count(d.log.String(), "\n")
	time.Sleep(3 * time.Second) // three watchdog periods: a missed WATCHDOG=1 would show
	after, states := jobPIDs(t, conf)
	if after["told"] != before["told"] || states["told"] != "ready" {
		t.Errorf("told: %s [%d] after the upgrade, was [%d]", states["told"], after["told"], before["told"])
	}
	if after["piped"] != before["piped"] || states["piped"] != "ready" {
		t.Errorf("piped: %s [%d] after the upgrade, was [%d]", states["piped"], after["piped"], before["piped"])
	}
	if late := strings.Join(strings.Split(d.log.String(), "\n")[n:], "\n"); strings.Contains(late, "watchdog") {
		t.Errorf("the watchdog fired after the upgrade:\n%s", late)
	}
}
