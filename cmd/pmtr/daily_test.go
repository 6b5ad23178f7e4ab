package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/live/hostfacts"
	"pmtr/procfs"
	"pmtr/proctest"
)

// Day-to-day operations as a supervisorctl or systemctl user does them
// (issue 27).

const stopConf = `job {
name web
cmd /bin/sleep 421
}
job {
name other
cmd /bin/sleep 422
}
`

// TestStopOutlastsEdits: a job stopped with pmtr stop stays stopped when
// another job is edited and when its own definition is edited; status, why
// and the JSON say who stopped it and when; pmtr start starts it with the
// definition now in force.
func TestStopOutlastsEdits(t *testing.T) {
	dir, conf := writeConf(t, stopConf)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	waitLogRe(t, d.log, `started job other \[`, eventWait)
	if out, errOut, code := pmtrIn(t, conf, "stop", "web"); code != 0 || out != "web: stopped\n" {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}

	// an edit of another job: it restarts, web stays stopped
	edited := strings.Replace(stopConf, "sleep 422", "sleep 423", 1)
	if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `(?s)started job other \[.*started job other \[`, eventWait)
	uid := strconv.Itoa(os.Geteuid())
	reason := `stopped by uid ` + uid + ` at \d\d:\d\d:\d\d; stays stopped until pmtr start`
	out, errOut, code := pmtrIn(t, conf, "status", "web")
	if code != 3 || !regexp.MustCompile(`(?m)^web\s+stopped\s+-\s+\S+\s+1\s+`+reason+`\s`).MatchString(out) {
		t.Fatalf("status after an edit of another job: exit %d\n%s%s", code, out, errOut)
	}

	// an edit of web itself: it stays stopped, and the log says so
	edited = strings.Replace(edited, "sleep 421", "sleep 424", 1)
	if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `job web changed; it stays stopped \(stopped by uid `+uid+`\) until pmtr start`, eventWait)
	if out, errOut, code := pmtrIn(t, conf, "why", "web"); code != 0 || !regexp.MustCompile(`^web: `+reason+`\n`).MatchString(out) {
		t.Fatalf("why: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = pmtrIn(t, conf, "status", "--json", "web")
	var st struct {
		Jobs []struct {
			State, Reason string
			StoppedBy     *struct{ By, Time string } `json:"stopped_by"`
		}
	}
	if code != 3 || json.Unmarshal([]byte(out), &st) != nil || len(st.Jobs) != 1 {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, errOut)
	}
	if j := st.Jobs[0]; j.State != "stopped" || !regexp.MustCompile(`^`+reason+`$`).MatchString(j.Reason) || j.StoppedBy == nil || j.StoppedBy.By != "uid "+uid || j.StoppedBy.Time == "" {
		t.Fatalf("web in JSON: %+v\n%s", j, out)
	}
	if n := strings.Count(d.log.String(), "started job web ["); n != 1 {
		t.Fatalf("web started %d times; a stop must hold across edits\n%s", n, d.log.String())
	}

	// pmtr start: the definition in force runs
	out, errOut, code = pmtrIn(t, conf, "start", "web")
	m := pidRx.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	pid, _ := strconv.Atoi(m[1])
	if cmdline := procfs.Cmdline(pid); !strings.Contains(cmdline, "424") {
		t.Fatalf("web runs %q, want the edited sleep 424", cmdline)
	}
	d.terminate(eventWait)
}

const goodConf = "job {\nname web\ncmd /bin/sleep 425\n}\n"
const badConf = "job {\nname web\ncmd /bin/sleep 425\norder 5abc\n}\njob {\nname web\ncmd /bin/true\n}\n" // 2 errors

// TestRefusedSaveUndone: after a refused save, the metric says so; the
// save that brings back the content in force is logged and sets the
// metric back, and the job runs on untouched.
func TestRefusedSaveUndone(t *testing.T) {
	dir, conf := writeConf(t, goodConf)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	metric := func() string {
		out, errOut, code := pmtrIn(t, conf, "metrics")
		m := regexp.MustCompile(`(?m)^pmtr_config_last_reload_successful (\d)$`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("metrics: exit %d\n%s%s", code, out, errOut)
		}
		return m[1]
	}
	if err := os.WriteFile(conf, []byte(badConf), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `NOTE: using PREVIOUS job config`, eventWait)
	if m := metric(); m != "0" {
		t.Fatalf("pmtr_config_last_reload_successful %s after a refused save", m)
	}
	if err := os.WriteFile(conf, []byte(goodConf), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `config `+regexp.QuoteMeta(conf)+` is valid again \(same as in force\)`, eventWait)
	if m := metric(); m != "1" {
		t.Fatalf("pmtr_config_last_reload_successful %s after the save was undone", m)
	}
	if n := strings.Count(d.log.String(), "started job web ["); n != 1 {
		t.Fatalf("web started %d times\n%s", n, d.log.String())
	}
	d.terminate(eventWait)
}

// TestStatusShowsARefusedConfig: while the file on disk is a refused
// save, pmtr status says so on its first line and exits 3, and the JSON
// has the refusal with its errors.
func TestStatusShowsARefusedConfig(t *testing.T) {
	dir, conf := writeConf(t, goodConf)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	if out, errOut, code := pmtrIn(t, conf, "status"); code != 0 || strings.HasPrefix(out, "config ") {
		t.Fatalf("status of a good config: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(conf, []byte(badConf), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `NOTE: using PREVIOUS job config`, eventWait)
	line := `^config ` + regexp.QuoteMeta(conf) + `: refused at \d\d:\d\d:\d\d, 2 errors \(pmtr -t shows them\); the previous config stays in force\nJOB `
	out, errOut, code := pmtrIn(t, conf, "status")
	if code != 3 || !regexp.MustCompile(line).MatchString(out) {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := pmtrIn(t, conf, "status", "web"); code != 0 || !regexp.MustCompile(line).MatchString(out) {
		t.Fatalf("status web (running): exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = pmtrIn(t, conf, "status", "--json")
	var st struct {
		Config struct {
			Path, Hash string
			Since      string `json:"in_force_since"`
			Refused    *struct {
				Time   string
				Errors []string
			}
		}
	}
	if code != 3 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d\n%s%s", code, out, errOut)
	}
	if c := st.Config; c.Path != conf || len(c.Hash) != 64 || c.Since == "" || c.Refused == nil || len(c.Refused.Errors) != 2 || !strings.Contains(c.Refused.Errors[0], conf+":") {
		t.Fatalf("config in JSON: %+v\n%s", c, out)
	}
	d.terminate(eventWait)
}

// runPmtrEnv is runPmtr with more environment.
func runPmtrEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := pmtrCmd(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// TestFlagsAroundTheVerb: the commands take -c (and their other flags)
// before or after the verb, as supervisorctl does, and the config from
// PMTR_CONFIG without -c; every verb that takes a job names the nearest
// job for a name that is none.
func TestFlagsAroundTheVerb(t *testing.T) {
	dir, conf := writeConf(t, goodConf)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	row := regexp.MustCompile(`(?m)^web\s+running\s`)
	for _, args := range [][]string{
		{"-c", conf, "status"},
		{"status", "-c", conf},
		{"status", "web", "-c", conf},
		{"-c", conf, "status", "web"},
		{"--json", "-c", conf, "status"},
	} {
		if out, errOut, code := runPmtr(t, args...); code != 0 || !strings.Contains(out, "web") {
			t.Errorf("pmtr %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	env := []string{"PMTR_CONFIG=" + conf}
	if out, errOut, code := runPmtrEnv(t, env, "status"); code != 0 || !row.MatchString(out) {
		t.Fatalf("PMTR_CONFIG status: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runPmtrEnv(t, env, "restart", "web"); code != 0 || !pidRx.MatchString(out) {
		t.Fatalf("PMTR_CONFIG restart: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runPmtrEnv(t, env, "plan"); code != 0 || !strings.Contains(out, "untouched: 1") {
		t.Fatalf("PMTR_CONFIG plan: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runPmtr(t, "plan", conf, "-c", conf); code != 0 || !strings.Contains(out, "untouched: 1") {
		t.Fatalf("plan NEWFILE -c FILE: exit %d\n%s%s", code, out, errOut)
	}
	for _, verb := range []string{"status", "stop", "start", "restart", "why", "logs"} {
		_, errOut, code := runPmtr(t, "-c", conf, verb, "wbe")
		if code != 4 || !strings.Contains(errOut, `no job named "wbe" in `+conf+` (did you mean "web"?)`) {
			t.Errorf("pmtr %s wbe: exit %d %q", verb, code, errOut)
		}
	}
	// -c's value is never a verb: pmtr -t -c status checks a file named status
	if _, errOut, code := runPmtr(t, "-t", "-c", "status"); code != 1 || !strings.Contains(errOut, "can't open status") {
		t.Errorf("pmtr -t -c status: exit %d %q", code, errOut)
	}
	d.terminate(eventWait)
}

// TestStartOfAJobThatExitsAtOnce: pmtr start waits until the job has been
// up for a second; one that exits first makes it fail (exit 1) with how it
// ended; --no-wait answers at once, as before.
func TestStartOfAJobThatExitsAtOnce(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname crashy\ncmd /bin/sh -c \"exit 3\"\ndisable\n}\njob {\nname web\ncmd /bin/sleep 426\ndisable\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `pmtr: starting`, eventWait)
	out, errOut, code := pmtrIn(t, conf, "start", "crashy")
	// (its start and its exit may be stamped within the same 0.5 ms: "0s")
	if code != 1 || !regexp.MustCompile(`^crashy: exited after (\d+ms|0s) with exit status 3 \(it did not stay up 1s\)\n$`).MatchString(errOut) {
		t.Fatalf("start crashy: exit %d\n%s%s", code, out, errOut)
	}
	begun := time.Now()
	out, errOut, code = pmtrIn(t, conf, "start", "web")
	if code != 0 || !pidRx.MatchString(out) || time.Since(begun) < time.Second {
		t.Fatalf("start web: exit %d after %v\n%s%s", code, time.Since(begun), out, errOut)
	}
	if out, errOut, code := pmtrIn(t, conf, "restart", "--no-wait", "crashy"); code != 0 || out != "restart requested: crashy\n" {
		t.Fatalf("restart --no-wait: exit %d\n%s%s", code, out, errOut)
	}
	d.terminate(eventWait)
}

// TestMergedLogs: pmtr logs without a job shows pmtr's own lines and every
// job's, in the order they came, each with its job; -f follows; a job's
// stderr lines are marked in both views (pmtr reads stderr apart where its
// log keeps priorities: here the journal).
func TestMergedLogs(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname talker\ncmd /bin/sh -c \"echo said on stdout; echo said on stderr >&2; exec /bin/sleep 427\"\n}\n"+
		"job {\nname other\ncmd /bin/sh -c \"echo other speaks; exec /bin/sleep 428\"\n}\n")
	logFile, err := os.Create(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(logFile.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	proctest.Heavy(t)
	cmd := pmtrCmd(t, "-F", "-c", conf)
	cmd.Dir, cmd.Stderr = dir, logFile
	cmd.Env = append(cmd.Env, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	line := func(job, text string) string {
		return `(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} ` + job + `\s+` + text + `$`
	}
	var out string
	for deadline := time.Now().Add(eventWait); ; time.Sleep(20 * time.Millisecond) {
		var code int
		out, _, code = pmtrIn(t, conf, "logs")
		if code == 0 && strings.Contains(out, "said on stderr") && strings.Contains(out, "other speaks") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmtr logs: exit %d\n%s", code, out)
		}
	}
	for _, want := range []string{
		line("-", `pmtr: starting`),
		line("talker", `started job talker \[\d+\]`),
		line("talker", `talker\[\d+\]: said on stdout`),
		line("talker", `talker\[\d+\] stderr: said on stderr`),
		line("other", `other\[\d+\]: other speaks`),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("pmtr logs lacks %q:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "pmtr: starting"), strings.Index(out, "started job talker"); i < 0 || j < i {
		t.Errorf("pmtr logs is not in time order:\n%s", out)
	}
	if out, _, _ := pmtrIn(t, conf, "logs", "talker"); !regexp.MustCompile(`talker\[\d+\] stderr: said on stderr`).MatchString(out) {
		t.Errorf("pmtr logs talker does not mark stderr:\n%s", out)
	}
	f := pmtrCmd(t, "logs", "-f", "-n", "1", "-c", conf)
	follow := &syncBuf{}
	f.Stdout = follow
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { f.Process.Kill(); f.Wait() }()
	waitLogRe(t, follow, `\n`, eventWait) // the tail: the last line so far
	if _, _, code := pmtrIn(t, conf, "restart", "--no-wait", "other"); code != 0 {
		t.Fatalf("restart: exit %d", code)
	}
	waitLogRe(t, follow, line("-", `control: restart other by uid \d+ pid \d+`), eventWait)
	waitLogRe(t, follow, `(?s)started job other \[\d+\].*other\[\d+\]: other speaks`, eventWait)
}

// userRun runs pmtr daemons with a runtime directory of the test's own:
// as uid 65534 with XDG_RUNTIME_DIR when the test is root (root's is
// /run/pmtr, shared with every other pmtr), else as the test's user.
type userRun struct {
	t    *testing.T
	bin  string
	base string // configs and files, readable by that user
	dir  string // the runtime directory
	cred *syscall.Credential
	env  []string
}

func newUserRun(t *testing.T) *userRun {
	t.Helper()
	u := &userRun{t: t, bin: pmtrBin}
	base, err := os.MkdirTemp("/tmp", "pmtr-rundir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	xdg := filepath.Join(base, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u.bin, u.cred = worldBinary(t), &syscall.Credential{Uid: 65534, Gid: 65534}
		os.Chown(xdg, 65534, 65534)
	}
	u.base, u.dir = base, filepath.Join(xdg, "pmtr")
	u.env = []string{"XDG_RUNTIME_DIR=" + xdg, "TMPDIR=" + base}
	return u
}

func (u *userRun) command(args ...string) *exec.Cmd {
	cmd := proctest.Command(u.t, u.bin, args...)
	cmd.Env = append(cmd.Env, u.env...)
	cmd.Dir = u.base
	if u.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
	return cmd
}

// conf writes a config of one job, name.conf.
func (u *userRun) conf(name string) string {
	path := filepath.Join(u.base, name+".conf")
	if err := os.WriteFile(path, []byte("job {\nname j\ncmd /bin/sleep 429\n}\n"), 0o644); err != nil {
		u.t.Fatal(err)
	}
	return path
}

// start runs pmtr -F on conf until its job runs.
func (u *userRun) start(conf string) *daemonProc {
	u.t.Helper()
	d := &daemonProc{t: u.t, cmd: u.command("-F", "-c", conf), log: &syncBuf{}, conf: conf, done: make(chan error, 1)}
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	u.t.Cleanup(func() { d.cmd.Process.Kill() })
	waitLogRe(u.t, d.log, `started job j \[`, eventWait)
	return d
}

// left lists what is in the runtime directory.
func (u *userRun) left() []string {
	entries, _ := os.ReadDir(u.dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestRuntimeDirectoryStaysClean: 50 daemons in turn, each on its own
// config and stopped cleanly, leave nothing in the runtime directory; a
// daemon killed with SIGKILL leaves its lock and socket, which the next
// pmtr that starts removes (the pid records of its jobs stay for the next
// pmtr on its config, which stops them); a detached daemon without syslog
// removes its log file at a clean exit.
func TestRuntimeDirectoryStaysClean(t *testing.T) {
	proctest.Heavy(t)
	u := newUserRun(t)
	for i := range 50 {
		u.start(u.conf(fmt.Sprint("c", i))).terminate(eventWait)
	}
	if left := u.left(); len(left) != 0 {
		t.Fatalf("50 clean runs left %v", left)
	}
	a := u.conf("killed")
	da := u.start(a)
	da.cmd.Process.Kill()
	<-da.done
	ha := hostfacts.ConfigHash(a)
	if left := strings.Join(u.left(), " "); !strings.Contains(left, "lock-"+ha) {
		t.Fatalf("a killed pmtr left %q, no lock", left)
	}
	db := u.start(u.conf("next"))
	for _, f := range u.left() {
		if f == "lock-"+ha || f == "status-"+ha+".sock" {
			t.Errorf("the next pmtr left the killed one's %s", f)
		}
	}
	db.terminate(eventWait)
	again := u.start(a) // stops what the killed one left, then runs its job once
	again.terminate(eventWait)
	if left := u.left(); len(left) != 0 {
		t.Fatalf("after the killed config ran again and stopped: %v", left)
	}
	if _, err := os.Stat("/dev/log"); err == nil {
		return // the detached daemon logs to syslog: no file to remove
	}
	pids := filepath.Join(u.base, "pids") // where the daemon's user may write
	if err := os.Mkdir(pids, 0o755); err != nil {
		t.Fatal(err)
	}
	if u.cred != nil {
		os.Chown(pids, int(u.cred.Uid), int(u.cred.Gid))
	}
	pidfile := filepath.Join(pids, "pmtr.pid")
	launcher := u.command("-c", u.conf("detached"), "-p", pidfile)
	if out, err := launcher.CombinedOutput(); err != nil {
		t.Fatalf("detach: %v %s", err, out)
	}
	pid := readPid(t, pidfile, eventWait)
	if left := strings.Join(u.left(), " "); !strings.Contains(left, "log-") {
		t.Fatalf("the detached daemon has no log file: %q", left)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !gone(pid, eventWait) {
		t.Fatalf("the detached daemon %d did not exit", pid)
	}
	if left := u.left(); len(left) != 0 {
		t.Fatalf("the detached daemon's clean exit left %v", left)
	}
}

// TestSimConfigAlone: pmtr sim -c FILE without a scenario runs the config
// alone; its usage writes the flags as the docs do (--seed N).
func TestSimConfigAlone(t *testing.T) {
	_, conf := writeConf(t, "job {\nname setup\ncmd /bin/setup\nwait\nonce\n}\njob {\nname web\ncmd /bin/web\n}\n")
	out, errOut, code := runPmtr(t, "sim", "-q", "-c", conf)
	if code != 0 || !strings.Contains(out, conf+" alone for 1h") || !regexp.MustCompile(`(?m)^  setup\s+starts 1\s+running 1s\s+exits: exit 0 x1$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  web\s+starts 1\s+running 59m59s`).MatchString(out) {
		t.Fatalf("sim -c alone: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runPmtr(t, "sim"); code != 2 || !strings.Contains(errOut, "  --seed N ") || strings.Contains(errOut, "uint") {
		t.Fatalf("sim usage: exit %d\n%s", code, errOut)
	}
}
