package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/ctlproto"
	"pmtr/procfs"
	"pmtr/proctest"
)

const localConf = `job {
name web
cmd /bin/sh -c "echo web says hello; exec /bin/sleep 401"
}
job {
name stubborn
cmd /bin/sh -c "trap '' TERM; echo ready; while :; do sleep 1; done"
}
job {
name quick
cmd /bin/sh -c "exit 3"
}
job {
name off
cmd /bin/sleep 402
disable
}
job {
name held
cmd /bin/sleep 403
depends { /nonexistent/pmtr-held.json }
}
`

func pmtrIn(t *testing.T, conf string, args ...string) (string, string, int) {
	t.Helper()
	return runPmtr(t, append([]string{args[0], "-c", conf}, args[1:]...)...)
}

var pidRx = regexp.MustCompile(`started \[(\d+)\]`)

// TestLocalControl: stop, start, restart, reload, why, logs and status
// against a running daemon, with their exit codes.
func TestLocalControl(t *testing.T) {
	dir, conf := writeConf(t, localConf)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `stubborn\[\d+\]: ready`, eventWait) // SIGTERM is ignored from now on
	waitLogRe(t, d.log, `job quick \[\d+\] exited`, eventWait)

	// restart: a new pid, at once (pmtr caused the exit: no 10 s wait;
	// 20 ms on a quiet machine)
	start := time.Now()
	out, errOut, code := pmtrIn(t, conf, "restart", "web")
	if code != 0 || !pidRx.MatchString(out) || time.Since(start) > 9*time.Second {
		t.Fatalf("restart: exit %d after %v\n%s%s", code, time.Since(start), out, errOut)
	}
	waitLogRe(t, d.log, `control: restart web by uid \d+ pid \d+`, eventWait)

	// stop, then start
	if out, errOut, code := pmtrIn(t, conf, "stop", "web"); code != 0 || out != "web: stopped\n" {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := pmtrIn(t, conf, "status", "web"); code != 3 || !strings.Contains(out, "stopped by uid") {
		t.Fatalf("status of a stopped job: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := pmtrIn(t, conf, "why", "web"); code != 0 || !regexp.MustCompile(`^web: stopped by uid \d+ at \d\d:\d\d:\d\d; stays stopped until pmtr start\n`).MatchString(out) || !strings.Contains(out, "disabling web") {
		t.Fatalf("why: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := pmtrIn(t, conf, "start", "web"); code != 0 || !pidRx.MatchString(out) {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}

	// unknown job, with the nearest name
	if _, errOut, code := pmtrIn(t, conf, "restart", "wbe"); code != 4 || !strings.Contains(errOut, `no job named "wbe"`) || !strings.Contains(errOut, `did you mean "web"?`) {
		t.Fatalf("unknown job: exit %d %q", code, errOut)
	}
	if _, _, code := pmtrIn(t, conf, "status", "nosuch"); code != 4 {
		t.Fatalf("status of an unknown job: exit %d", code)
	}

	// why in other states
	for job, want := range map[string]string{
		"quick": `^quick: waiting: exited after 0 s with exit status 3 at \d\d:\d\d:\d\d; starts again at \d\d:\d\d:\d\d \(it ran less than 10s\)`,
		"off":   `^off: disabled in the config`,
		"held":  `^held: held: dependency /nonexistent/pmtr-held.json is missing`,
	} {
		if out, errOut, code := pmtrIn(t, conf, "why", job); code != 0 || !regexp.MustCompile(want).MatchString(out) {
			t.Fatalf("why %s: exit %d\n%s%s", job, code, out, errOut)
		}
	}

	// logs: the job's output and pmtr's lines about it
	if out, errOut, code := pmtrIn(t, conf, "logs", "web"); code != 0 || !strings.Contains(out, "web[") || !strings.Contains(out, "web says hello") || !strings.Contains(out, "started job web [") {
		t.Fatalf("logs: exit %d\n%s%s", code, out, errOut)
	}

	// status: exit 3 (quick, held are down); JSON schema
	out, errOut, code = pmtrIn(t, conf, "status", "--json")
	var st struct {
		Jobs []struct {
			Name, State, Since, Reason string
			PID, Starts                int
			Enabled                    bool
			LastExit                   *struct {
				Code, Signal *int
				Time         string
			} `json:"last_exit"`
			NextStart *string `json:"next_start"`
		}
	}
	if code != 3 || json.Unmarshal([]byte(out), &st) != nil || len(st.Jobs) != 5 {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, errOut)
	}
	if q := st.Jobs[2]; q.Name != "quick" || q.State != "waiting" || q.LastExit == nil || q.LastExit.Code == nil || *q.LastExit.Code != 3 || q.NextStart == nil {
		t.Fatalf("quick in JSON: %+v", q)
	}
	if _, _, code := pmtrIn(t, conf, "status", "web", "stubborn"); code != 0 {
		t.Fatalf("status of running jobs: exit %d", code)
	}

	// stop of a job that ignores SIGTERM returns after the SIGKILL
	start = time.Now()
	if out, errOut, code := pmtrIn(t, conf, "stop", "stubborn"); code != 0 || out != "stubborn: stopped\n" || time.Since(start) < 9*time.Second {
		t.Fatalf("stop stubborn: exit %d after %v\n%s%s", code, time.Since(start), out, errOut)
	}

	// reload: the outcome and what changed
	edited := strings.Replace(localConf, "exec /bin/sleep 401", "exec /bin/sleep 404", 1)
	edited = regexp.MustCompile(`(?s)job \{\nname stubborn.*?\n\}\n`).ReplaceAllString(edited, "")
	os.WriteFile(conf, []byte(edited), 0o644)
	out, errOut, code = pmtrIn(t, conf, "reload")
	// (the save itself has applied already: pmtr watches the file)
	if code != 0 || !strings.HasPrefix(out, "ok (4 jobs)\n") || !strings.Contains(d.log.String(), "started job web") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(conf, []byte("job {\nname web\n"), 0o644)
	if _, errOut, code := pmtrIn(t, conf, "reload"); code != 1 || !strings.Contains(errOut, "parse failed") || !strings.Contains(errOut, "pmtr.conf:1:") {
		t.Fatalf("bad reload: exit %d %q", code, errOut)
	}
	d.terminate(eventWait)
}

// worldBinary is a copy of pmtr that any user may run.
func worldBinary(t *testing.T) string {
	dir, err := os.MkdirTemp("/tmp", "pmtr-world-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	b, err := os.ReadFile(pmtrBin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pmtr")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLocalControlRefusals: no daemon, another user, a second daemon.
func TestLocalControlRefusals(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname a\ncmd /bin/sleep 405\n}\n")
	if _, errOut, code := pmtrIn(t, conf, "stop", "a"); code != 1 || !strings.Contains(errOut, "no pmtr is running "+conf+" (tried the socket ") {
		t.Fatalf("no daemon: exit %d %q", code, errOut)
	}
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job a \[`, eventWait)
	second := pmtrCmd(t, "-F", "-c", conf)
	errb := &syncBuf{}
	second.Stderr = errb
	if err := second.Run(); err == nil || !strings.Contains(errb.String(), "another pmtr (pid "+strconv.Itoa(d.cmd.Process.Pid)+") is running") {
		t.Fatalf("a second daemon: %v %q", err, errb.String())
	}
	if os.Geteuid() == 0 {
		cmd := exec.Command(worldBinary(t), "stop", "-c", conf, "a")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = append(os.Environ(), "TMPDIR=/tmp", "XDG_RUNTIME_DIR=")
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "answers root only") {
			t.Fatalf("uid 65534: exit %d %q", cmd.ProcessState.ExitCode(), out)
		}
		if strings.Contains(d.log.String(), "disabling a") {
			t.Fatal("another user stopped a job")
		}
	}
	d.terminate(eventWait)
	d2 := startForeground(t, dir, conf) // killed or stopped, the old one blocks nothing
	waitLogRe(t, d2.log, `started job a \[`, eventWait)
	d2.terminate(eventWait)
}

// TestLogsRingIsBounded: a job that writes 50 MB keeps at most 200 lines
// or 64 kB in its ring, and pmtr's memory stays small.
func TestLogsRingIsBounded(t *testing.T) {
	proctest.Heavy(t)
	dir, conf := writeConf(t, "job {\nname flood\ncmd /bin/sh -c \"head -c 50000000 /dev/zero | tr '\\\\000' x | fold -w 999; echo; echo flood over; exec /bin/sleep 406\"\n}\n")
	d := pmtrCmd(t, "-F", "-c", conf)
	d.Dir = dir
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	var out, errOut string
	var code int
	// The flood is read once its last line is in the ring (1 s on a quiet machine).
	for deadline := time.Now().Add(120 * time.Second); !strings.Contains(out, "flood over"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the flood's last line is not in the log within 120 s:\n%.2000s", out)
		}
		out, errOut, code = pmtrIn(t, conf, "logs", "-n", "100000", "flood")
	}
	n := strings.Count(out, "\n")
	if code != 0 || n > 200 || len(out) > 70<<10 || !strings.Contains(out, "flood[") {
		t.Fatalf("logs: exit %d, %d lines, %d bytes %s", code, n, len(out), errOut)
	}
	if rss := procfs.RSSKB(d.Process.Pid); rss > 40<<10 {
		t.Fatalf("pmtr's RSS after a 50 MB flood: %d kB", rss)
	}
}

// TestStatusJSONGolden: the documented JSON schema of pmtr status --json
// (pids and times normalised), as in testdata/status.golden.json.
func TestStatusJSONGolden(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname run\ncmd /bin/sleep 407\n}\njob {\nname quick\ncmd /bin/sh -c \"exit 3\"\n}\njob {\nname off\ncmd /bin/sleep 408\ndisable\n}\n"+
		"job {\nname web\ncmd /bin/sleep 410\nready file /\ncheck file / every 1h\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `job quick \[\d+\] exited`, eventWait)
	waitLogRe(t, d.log, `job web is ready: / exists`, eventWait)
	out, errOut, code := pmtrIn(t, conf, "status", "--json")
	if code != 3 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	norm := regexp.MustCompile(`"pid": [1-9]\d*`).ReplaceAllString(out, `"pid": PID`)
	norm = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[^"]+"`).ReplaceAllString(norm, `"TIME"`)
	norm = regexp.MustCompile(`"contained": "(cgroup [^"]+|process group)"`).ReplaceAllString(norm, `"contained": "CGROUP OR GROUP"`)
	norm = strings.Replace(norm, `"path": "`+conf+`"`, `"path": "CONF"`, 1)
	norm = strings.ReplaceAll(norm, `"source": "`+conf+`:`, `"source": "CONF:`)
	norm = regexp.MustCompile(`"hash": "[0-9a-f]{64}"`).ReplaceAllString(norm, `"hash": "SHA256"`)
	want, err := os.ReadFile("testdata/status.golden.json")
	if err != nil || norm != string(want) {
		t.Fatalf("status --json:\n%s\nwant:\n%s (%v)", norm, want, err)
	}
	d.terminate(eventWait)
}

// TestLogsFollow: pmtr logs -f shows new lines as they come.
func TestLogsFollow(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname talk\ncmd /bin/sh -c \"echo hello from talk; exec /bin/sleep 409\"\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `talk\[\d+\]: hello from talk`, eventWait)
	f := pmtrCmd(t, "logs", "-f", "-c", conf, "talk")
	out := &syncBuf{}
	f.Stdout = out
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { f.Process.Kill(); f.Wait() }()
	waitFor(t, out, "hello from talk", eventWait)
	if _, _, code := pmtrIn(t, conf, "restart", "talk"); code != 0 {
		t.Fatalf("restart: %d", code)
	}
	waitFor(t, out, "restarting job talk", eventWait)
	waitLogRe(t, out, `(?s)restarting job talk.*started job talk \[\d+\].*hello from talk`, eventWait)
	d.terminate(eventWait)
}

// TestCtlFailsWhenItCannotSend: pmtr ctl says so and exits 1 when the
// address does not resolve.
func TestCtlFailsWhenItCannotSend(t *testing.T) {
	if _, errOut, code := runPmtr(t, "ctl", "-s", "no-such-host.invalid", "enable", "a"); code != 1 || !strings.Contains(errOut, "pmtr ctl:") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	if _, errOut, code := runPmtr(t, "ctl", "-h"); code != 0 || !strings.Contains(errOut, "UDP gets no answer") {
		t.Fatalf("ctl -h: exit %d %q", code, errOut)
	}
	if out, _, code := runPmtr(t, "--version"); code != 0 || !strings.HasPrefix(out, "pmtr ") {
		t.Fatalf("--version: exit %d %q", code, out)
	}
	for _, sub := range []string{"status", "stop", "why", "logs", "plan", "sim", "rptserver"} {
		if _, _, code := runPmtr(t, sub, "-h"); code != 0 {
			t.Errorf("pmtr %s -h: exit %d", sub, code)
		}
	}
	if _, _, code := runPmtr(t, "why", "--bogus"); code != 2 {
		t.Errorf("usage error: exit %d", code)
	}
}

// TestLocalUsage: pmtr VERB -h prints the verb's usage and flags from
// ctlproto's table, pmtr help lists every verb, and a request that cannot
// be right exits 2 before any daemon is asked.
func TestLocalUsage(t *testing.T) {
	out, _, code := runPmtr(t, "logs", "-h")
	if code != 0 || !strings.HasPrefix(out, "usage: pmtr logs [-c FILE] [-f] [-n N] [JOB]\n") || !strings.Contains(out, "how many lines (default 20)") {
		t.Errorf("logs -h: exit %d\n%s", code, out)
	}
	out, _, _ = runPmtr(t, "help")
	for _, v := range ctlproto.Verbs() {
		if !strings.Contains(out, "       "+v.Usage()+"\n") {
			t.Errorf("pmtr help lacks %q", v.Usage())
		}
	}
	for args, want := range map[string]string{
		"why":            "pmtr why: name one job\n",
		"stop --no-wait": "pmtr stop: name at least 1 job\n",
		"logs -n 0 web":  `pmtr logs: -n needs a whole number of at least 1, not "0"`,
		"reload x":       "pmtr reload: takes no operands\n",
		"status --bogus": "pmtr status: flag provided but not defined: -bogus\n",
	} {
		_, errOut, code := runPmtr(t, strings.Fields(args)...)
		if code != 2 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "usage: pmtr ") {
			t.Errorf("pmtr %s: exit %d %q", args, code, errOut)
		}
	}
}
