package live

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/live/ctlsock"
	"pmtr/live/files"
	"pmtr/live/hostfacts"
	"pmtr/live/logsink"
	"pmtr/live/logsink/logtest"
)

func TestLiveStartAndArgvIsExact(t *testing.T) {
	r := startDaemon(t, "job {\nname s\ncmd /bin/sleep 61\n}\n")
	pid := pidOf(t, r.waitLog(`started job s \[(\d+)\]`, eventWait)[1])
	// The fork has happened; the exec may not have yet.
	var got string
	for deadline := time.Now().Add(eventWait); got != "/bin/sleep\x0061\x00" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strings.TrimSpace(itoa(pid)) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		got = string(b)
	}
	if got != "/bin/sleep\x0061\x00" {
		t.Fatalf("cmdline %q, want the configured argv", got)
	}
	if pg, _ := syscall.Getpgid(pid); pg != pid {
		t.Fatalf("job pgid %d, want its own group %d", pg, pid)
	}
}

func TestLiveExit33AndOnceAreNotRestarted(t *testing.T) {
	r := startDaemonStatus(t, `job {
name x
cmd /bin/sh -c "exit 33"
}
job {
name o
cmd /bin/sh -c "exit 0"
once
}
`)
	r.waitLog(`job x \[\d+\] exited after 0 sec: exit status 33`, eventWait)
	r.waitLog(`job o \[\d+\] exited after 0 sec: exit status 0`, eventWait)
	// Neither is due to start again (a restart would be due in 10 s): the
	// daemon says so once it has handled both exits.
	text, err := ctlsock.QueryStatus(r.conf)
	for _, want := range []string{`(?m)^x\s+done\s+-\s+\S+\s+1\s+exit 33\s`, `(?m)^o\s+done\s+-\s+\S+\s+1\s+once\s`} {
		if err != nil || !regexp.MustCompile(want).MatchString(text) {
			t.Fatalf("status lacks %s:\n%s (%v)", want, text, err)
		}
	}
	if n := r.count(`started job [xo] `); n != 2 {
		t.Fatalf("%d starts, want 2\n%s", n, r.out)
	}
}

func TestLiveWaitHoldsLaterJobs(t *testing.T) {
	r := startDaemon(t, `job {
name setup
cmd /bin/sh -c "sleep 0.3; echo done > {{dir}}/setup"
wait
once
}
job {
name main
cmd /bin/sh -c "cat {{dir}}/setup > {{dir}}/seen; sleep 60"
}
`)
	r.waitLog(`pausing for job setup to finish`, eventWait)
	r.waitLog(`job setup finished`, eventWait)
	r.waitFile("seen", "done", eventWait)
}

func TestLiveDirEnvInOutErr(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/input", []byte("from-stdin\n"), 0o644)
	r := startDaemon(t, `job {
name io
dir `+dir+`
env GREETING=hello
env EMPTY=
cmd /bin/sh -c "pwd; echo $GREETING; read line; echo $line; echo oops >&2; umask; sleep 60"
in input
out out.txt
err {{dir}}/err.txt
}
`)
	r.waitLog(`started job io`, eventWait)
	deadline := time.Now().Add(eventWait)
	want := dir + "\nhello\nfrom-stdin\n0022\n"
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(dir + "/out.txt"); string(b) == want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := os.ReadFile(dir + "/out.txt"); string(b) != want {
		t.Fatalf("out.txt = %q, want %q", b, want)
	}
	r.waitFile("err.txt", "oops", eventWait)
	if st, err := os.Stat(dir + "/out.txt"); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("out.txt mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
}

func TestLiveOutputGoesToLogSanitised(t *testing.T) {
	r := startDaemon(t, `job {
name talk
cmd /bin/sh -c "printf 'a\tb\001c\n\nd\n'; echo to-stderr >&2; sleep 60"
}
`)
	pid := r.waitLog(`started job talk \[(\d+)\]`, eventWait)[1]
	r.waitLog(`talk\[`+pid+`\]: a\tb\?c\n`, eventWait)
	r.waitLog(`talk\[`+pid+`\]: d\n`, eventWait)
	r.waitLog(`talk\[`+pid+`\]: to-stderr\n`, eventWait)
	if strings.Contains(r.out.String(), "talk["+pid+"]: \n") {
		t.Fatalf("empty line logged:\n%s", r.out)
	}
}

func TestLiveExecFailureWording(t *testing.T) {
	r := startDaemon(t, `job {
name bad
cmd /nonexistent/bin
}
job {
name nodir
dir /nonexistent/dir
cmd /bin/true
}
job {
name helped
cmd /nonexistent/bin2
nice 1
}
job {
name noout
cmd /bin/true
out /proc/no/such/dir/out.txt
}
job {
name fine
cmd /bin/sleep 79
}
`)
	// Started directly: the reason, and a retry 10 s later (no process existed).
	r.waitLog(`job bad: can't exec /nonexistent/bin: No such file or directory\n`, eventWait)
	r.waitLog(`job nodir: can't chdir /nonexistent/dir: No such file or directory\n`, eventWait)
	// Through the helper (nice): as in C, a process existed and exits 255.
	r.waitLog(`(?s)started job helped \[(\d+)\].*job helped: can't exec /nonexistent/bin2: No such file or directory\n.*job helped \[\d+\] exited after 0 sec: exit status 255`, eventWait)
	r.waitLog(`job noout: can't open/dup /proc/no/such/dir/out.txt: No such file or directory\n`, eventWait)
	r.waitLog(`started job fine \[`, eventWait) // the others go on
	if r.count(`started job (bad|nodir|noout) `) != 0 {
		t.Fatalf("a job that could not start was logged as started\n%s", r.out)
	}
}

func TestLiveStopLeavesNoSurvivorInTheGroup(t *testing.T) {
	t.Run("cgroups where possible", stopLeavesNoSurvivor)
	t.Run("process groups only", func(t *testing.T) {
		t.Setenv("PMTR_NO_CGROUPS", "1")
		stopLeavesNoSurvivor(t)
	})
}

func stopLeavesNoSurvivor(t *testing.T) {
	r := startDaemon(t, "job {\nname fam\ncmd /bin/sh -c \"sleep 100 & sleep 100\"\n}\n")
	pid := pidOf(t, r.waitLog(`started job fam \[(\d+)\]`, eventWait)[1])
	deadline := time.Now().Add(eventWait)
	for len(groupMembers(pid)) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	members := groupMembers(pid)
	if len(members) < 3 {
		t.Fatalf("group %d has %v, want sh and two sleeps", pid, members)
	}
	r.stop()
	deadline = time.Now().Add(eventWait) // SIGKILL is sent; give the kernel a moment
	for _, p := range members {
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(p) {
			t.Errorf("process %d of the stopped job survived", p)
		}
	}
}

func TestLiveReloadAddRemoveChangeKeep(t *testing.T) {
	conf := "job {\nname keep\ncmd /bin/sleep 62\n}\njob {\nname change\ncmd /bin/sleep 63\n}\njob {\nname gone\ncmd /bin/sleep 64\n}\n"
	r := startDaemon(t, conf)
	keep := r.waitLog(`started job keep \[(\d+)\]`, eventWait)[1]
	r.waitLog(`started job gone \[(\d+)\]`, eventWait)
	r.reload("job {\nname keep\ncmd /bin/sleep 62\n}\njob {\nname change\ncmd /bin/sleep 65\n}\njob {\nname new\ncmd /bin/sleep 66\n}\n")
	r.waitLog(`rescanning job configuration`, eventWait)
	r.waitLog(`job gone\(deleted\) \[\d+\] exited after \d+ sec: signal 15`, eventWait)
	r.waitLog(`started job new \[`, eventWait)
	r.waitLog(`job change \[\d+\] exited[^\n]*\n(.*\n)*.*started job change \[`, eventWait)
	if n := r.count(`started job keep `); n != 1 {
		t.Fatalf("unchanged job restarted (%d starts)\n%s", n, r.out)
	}
	if !alive(pidOf(t, keep)) {
		t.Fatalf("unchanged job's pid %s is gone", keep)
	}
	r.reload("job {\nname broken\n")
	r.waitLog(`NOTE: using PREVIOUS job config`, eventWait)
	if !alive(pidOf(t, keep)) {
		t.Fatalf("an invalid config stopped a job")
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestLiveLongLinesSplitAndFloodDoesNotBlock(t *testing.T) {
	const long = "job {\nname long\ncmd /bin/sh -c \"printf '%2500s' '' | tr ' ' x; echo; sleep 60\"\n}\n"
	const flood = "job {\nname flood\ncmd /bin/sh -c \"yes flooding | head -n 300000; sleep 60\"\n}\n"
	r := startDaemon(t, long+flood)
	pid := r.waitLog(`started job long \[(\d+)\]`, eventWait)[1]
	r.waitLog(`started job flood \[`, eventWait)
	// While one job floods the log, pmtr still applies an edit at once.
	// (11 ms on a quiet machine; a reader that blocked the driver would
	// hold the edit until the flood of 300 000 lines is over)
	saved := time.Now()
	r.reload(long + flood + "job {\nname added\ncmd /bin/sleep 77\n}\n")
	r.waitLog(`started job added \[`, eventWait)
	t.Logf("the edit applied %v after the save", time.Since(saved).Round(time.Millisecond))
	if d := time.Since(saved); d > 10*time.Second {
		t.Fatalf("an edit took %v to apply while a job flooded its output", d)
	}
	r.waitLog(`long\[`+pid+`\]: x{1000}\n(.*\n)*.*long\[`+pid+`\]: x{1000}\n(.*\n)*.*long\[`+pid+`\]: x{500}\n`, eventWait)
}

func TestLiveStatusSocket(t *testing.T) {
	markJobs(t)
	dir := t.TempDir()
	conf := dir + "/pmtr.conf"
	os.WriteFile(conf, []byte("job {\nname up\ncmd /bin/sleep 75\n}\njob {\nname quick\ncmd /bin/sh -c \"exit 4\"\n}\njob {\nname off\ncmd /bin/true\ndisable\n}\n"), 0o644)
	cfg, src, err := files.ReadConfig(conf, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	out := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{ConfigPath: conf, Config: cfg, Files: src, Log: logsink.NewStderrLogger(out, 0), StatusSocket: ctlsock.Path(conf)})
		done <- err
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(eventWait)
	var text string
	for time.Now().Before(deadline) {
		if text, err = ctlsock.QueryStatus(conf); err == nil && strings.Contains(text, "exit status 4") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^up\s+running\s+\d+\s+\S+\s+1\s+-\s+-$`),
		regexp.MustCompile(`(?m)^quick\s+waiting\s+-\s+\S+\s+1\s+ran < 10 s\s+exit status 4; starts again in \d+s$`),
		regexp.MustCompile(`(?m)^off\s+disabled\s+-\s+\S+\s+0\s+in the config\s+-$`),
	} {
		if !want.MatchString(text) {
			t.Fatalf("status lacks %v:\n%s (err %v)", want, text, err)
		}
	}
	if st, err := os.Stat(ctlsock.Path(conf)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("status socket: %v, mode %v (want 0600)", err, st.Mode().Perm())
	}
	cancel()
	<-done
	done <- nil
	if _, err := ctlsock.QueryStatus(conf); err == nil {
		t.Fatal("the status socket answers after pmtr stopped")
	}
}

// TestRuntimeDirectoryOfOthersIsRefused: a runtime directory that others
// can use (mode 0777) or that belongs to another user is never used, by
// the daemon or by pmtr status.
func TestRuntimeDirectoryOfOthersIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	saved := hostfacts.RootRunDir
	defer func() { hostfacts.RootRunDir = saved }()
	for name, prepare := range map[string]func(dir string) error{
		"mode 0777":     func(dir string) error { return os.Chmod(dir, 0o777) },
		"foreign owner": func(dir string) error { return os.Chown(dir, 65534, 65534) },
	} {
		t.Run(name, func(t *testing.T) {
			hostfacts.RootRunDir = filepath.Join(t.TempDir(), "pmtr")
			if err := os.Mkdir(hostfacts.RootRunDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := prepare(hostfacts.RootRunDir); err != nil {
				t.Fatal(err)
			}
			r := startDaemonStatus(t, "job {\nname up\ncmd /bin/sleep 74\n}\n")
			r.waitLog(`no status socket: live: runtime directory .* (has mode 0777|belongs to uid 65534)`, eventWait)
			if _, err := ctlsock.QueryStatus(r.conf); err == nil || !strings.Contains(err.Error(), "not asking") {
				t.Fatalf("pmtr status used the directory: %v", err)
			}
			if entries, _ := os.ReadDir(hostfacts.RootRunDir); len(entries) != 0 {
				t.Fatalf("the daemon put %v in it", entries)
			}
		})
	}
}
