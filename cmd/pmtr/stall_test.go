package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/proctest"
)

// daemonProc is a foreground pmtr started by a test.
type daemonProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *syncBuf
	conf string
	done chan error
}

func startForeground(t *testing.T, dir, conf string, env ...string) *daemonProc {
	t.Helper()
	proctest.Heavy(t)
	d := &daemonProc{t: t, cmd: pmtrCmd(t, "-F", "-c", conf), log: &syncBuf{}, conf: conf, done: make(chan error, 1)}
	d.cmd.Env = append(d.cmd.Env, env...)
	d.cmd.Dir, d.cmd.Stderr = dir, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { // an orderly stop; then proctest kills what is left of the test
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(eventWait):
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// terminate sends SIGTERM and fails unless pmtr exits within the time.
func (d *daemonProc) terminate(within time.Duration) {
	d.t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			d.t.Fatalf("pmtr exit: %v\n%s", err, d.log.String())
		}
	case <-time.After(within):
		d.t.Fatalf("pmtr did not exit within %v of SIGTERM\n%s", within, d.log.String())
	}
	d.t.Logf("pmtr exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// status runs pmtr status and fails unless it answers within the time
// (exit 0, or 3 when some job is down). It answers in about 10 ms on a
// quiet machine (the client's own start included).
func (d *daemonProc) status(within time.Duration) string {
	d.t.Helper()
	start := time.Now()
	out, errOut, code := runPmtr(d.t, "status", "-c", d.conf)
	if code != 0 && code != 3 || time.Since(start) > within {
		d.t.Fatalf("pmtr status: exit %d after %v\n%s%s\nlog:\n%s", code, time.Since(start), out, errOut, d.log.String())
	}
	return out
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

const steadyJob = "job {\nname steady\ncmd /bin/sh -c \"echo $$ > steady.pid; exec /bin/sleep 300\"\ndir DIR\n}\n"

// TestFIFOsNeverStallTheDaemon: a FIFO with nobody at the other end as a
// job's in or out, as a dependency, or renamed over the config, stalls
// nothing: a killed job is restarted on time, status answers, SIGTERM is
// handled at once.
func TestFIFOsNeverStallTheDaemon(t *testing.T) {
	cases := []struct {
		name, job string
		log       string // a line that names the file and its problem
		renameOn  bool   // the FIFO is renamed over the config after the start
	}{
		{"in", "job {\nname f\ncmd /bin/cat\nin FIFO\n}\n", `job f: in .*fifo is a FIFO; the job waits`, false},
		{"out", "job {\nname f\ncmd /bin/echo hi\nout FIFO\n}\n", `job f: out .*fifo is a FIFO; the job waits`, false},
		{"depends", "job {\nname f\ncmd /bin/sleep 300\ndepends { FIFO }\n}\n", `job f: can't read dependency .*fifo: is a FIFO, not a regular file; holding`, false},
		{"config", "", `can't open .*pmtr.conf: Is a FIFO, not a regular file`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			fifo := filepath.Join(dir, "fifo")
			mkfifo(t, fifo)
			conf := filepath.Join(dir, "pmtr.conf")
			text := strings.ReplaceAll(steadyJob, "DIR", dir) + strings.ReplaceAll(c.job, "FIFO", fifo)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			d := startForeground(t, dir, conf)
			pid := readPid(t, filepath.Join(dir, "steady.pid"), eventWait)
			if c.renameOn {
				if err := os.Rename(fifo, conf); err != nil {
					t.Fatal(err)
				}
			}
			waitLogRe(t, d.log, c.log, eventWait)
			d.status(eventWait)
			os.Remove(filepath.Join(dir, "steady.pid"))
			killed := time.Now()
			syscall.Kill(pid, syscall.SIGKILL)
			readPid(t, filepath.Join(dir, "steady.pid"), 10*time.Second+eventWait)
			// On time: not before the 10 s (a rule), and late by 50 ms on a
			// quiet machine; a stalled daemon would never restart it.
			if late := time.Since(killed); late < 9900*time.Millisecond || late > 10*time.Second+restartSlack {
				t.Fatalf("steady job restarted %v after its quick exit, want 10 s\n%s", late, d.log.String())
			}
			d.status(eventWait)
			d.terminate(eventWait)
		})
	}
}

// restartSlack is how late a restart due 10 s after an exit may be: 50 ms
// on a quiet machine.
const restartSlack = 5 * time.Second

func waitLogRe(t *testing.T, b *syncBuf, re string, within time.Duration) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if rx.MatchString(b.String()) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%q not seen within %v:\n%s", re, within, b.String())
}

// TestReloadOfManyJobsStallsNothing: while a reload starts 10 000 jobs,
// a status query, the exit of another job and SIGTERM are each handled
// before the burst is over (a few hundred of the jobs have started by
// SIGTERM on a quiet machine), and no zombie is left. On a quiet machine
// each takes under 100 ms; the figures are BenchmarkReloadBurst's, a test
// on a busy machine only asks that none waits for the burst.
func TestReloadOfManyJobsStallsNothing(t *testing.T) {
	const n = 10000
	dir := t.TempDir()
	steady := strings.ReplaceAll(steadyJob, "DIR", dir)
	conf := filepath.Join(dir, "pmtr.conf")
	if err := os.WriteFile(conf, []byte(steady), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startForeground(t, dir, conf)
	pid := readPid(t, filepath.Join(dir, "steady.pid"), eventWait)
	var b strings.Builder
	b.WriteString(steady)
	for i := range n {
		b.WriteString("job {\nname t" + strconv.Itoa(i) + "\ncmd /bin/true\n}\n")
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLogRe(t, d.log, `started job t1\d\d \[`, eventWait) // the burst is under way
	start := time.Now()
	d.status(eventWait)
	t.Logf("status answered in %v during the burst", time.Since(start).Round(time.Millisecond))
	d.duringBurst(n, "pmtr status answered")
	syscall.Kill(pid, syscall.SIGKILL)
	killed := time.Now()
	waitLogRe(t, d.log, `job steady \[`+strconv.Itoa(pid)+`\] exited after`, eventWait)
	t.Logf("exit of steady logged within %v", time.Since(killed).Round(time.Millisecond))
	d.duringBurst(n, "the exit of steady was logged")
	started := strings.Count(d.log.String(), "started job t")
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitLogRe(t, d.log, `pmtr: exiting on signal 15`, eventWait)
	t.Logf("%d of %d jobs had started when SIGTERM came", started, n)
	d.duringBurst(n, "SIGTERM was handled")
	d.terminate(eventWait)
	if z := zombiesUnder(d.cmd.Process.Pid); len(z) > 0 {
		t.Fatalf("zombies left: %v", z)
	}
}

// duringBurst fails unless fewer than n jobs t* have started: what
// happened came while the burst was still under way.
func (d *daemonProc) duringBurst(n int, what string) {
	d.t.Helper()
	if started := strings.Count(d.log.String(), "started job t"); started >= n {
		d.t.Fatalf("%s only once all %d jobs had started: the burst held it up", what, started)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlanAgainstARunningDaemon: pmtr plan tells what a save would do to
// the jobs the daemon runs, and changes nothing.
func TestPlanAgainstARunningDaemon(t *testing.T) {
	dir, conf := writeConf(t, "job {\nname keep\ncmd /bin/sleep 301\n}\njob {\nname api\ncmd /bin/sleep 302\n}\njob {\nname gone\ncmd /bin/sleep 303\n}\n")
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job gone \[`, eventWait)
	out, errOut, code := runPmtr(t, "plan", "-c", conf)
	if code != 0 || out != "untouched: 3 jobs\n" {
		t.Fatalf("unchanged: exit %d\n%s%s", code, out, errOut)
	}
	next := filepath.Join(dir, "next.conf")
	os.WriteFile(next, []byte("job {\nname keep\ncmd /bin/sleep 301\n}\njob {\nname api\ncmd /bin/sleep 302\nenv DEBUG=1\nnice 3\n}\njob {\nname new\ncmd /bin/sleep 304\n}\n"), 0o644)
	out, errOut, code = runPmtr(t, "plan", "-c", conf, next)
	want := "restart api (env, nice changed)\nstart new\nstop gone (removed from the config)\nuntouched: 1 job\n"
	if code != 0 || out != want {
		t.Fatalf("plan: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	os.WriteFile(next, []byte("job {\nname keep\n"), 0o644)
	out, errOut, code = runPmtr(t, "plan", "-c", conf, next)
	if code != 1 || !strings.Contains(out, "rejected") || !strings.Contains(errOut, "next.conf:1:5: job block is not closed") {
		t.Fatalf("invalid: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(d.log.String(), "SIGTERM") || strings.Contains(d.log.String(), "rescanning") {
		t.Fatalf("planning changed the daemon:\n%s", d.log.String())
	}
	os.WriteFile(next, []byte("job {\nname keep\ncmd /bin/sleep 301\n}\n"), 0o644)
	if _, errOut, code := runPmtr(t, "plan", "-c", filepath.Join(dir, "nobody-runs.conf"), next); code != 1 || !strings.Contains(errOut, "--against OLDFILE") {
		t.Fatalf("no daemon: exit %d %s", code, errOut)
	}
}
