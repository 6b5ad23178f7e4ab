package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// job is one supervised program: argv, exec'd without a shell.
type job struct {
	name string
	argv []string
}

// supervisor adapts one process supervisor to the harness.
type supervisor interface {
	name() string
	start(dir string, jobs []job) error
	add(j job) error // make a new job run, the way its users do it
	main() int       // the pid everything else descends from
	stop()
}

func launch(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// stopGroup ends a supervisor and everything in its process group.
func stopGroup(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	syscall.Kill(-pid, syscall.SIGKILL) // leftovers of the group, if any
}

// --- pmtr ---

type pmtrSup struct {
	label     string // "pmtr", or "pmtr (C)" for the C original
	bin, conf string
	text      strings.Builder
	cmd       *exec.Cmd
}

func (p *pmtrSup) name() string { return p.label }

func (p *pmtrSup) start(dir string, jobs []job) error {
	p.conf = filepath.Join(dir, "pmtr.conf")
	p.text.Reset()
	for _, j := range jobs {
		p.text.WriteString(pmtrJob(j))
	}
	if err := os.WriteFile(p.conf, []byte(p.text.String()), 0o644); err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, "-F", "-c", p.conf)
	return launch(p.cmd)
}

func pmtrJob(j job) string {
	return fmt.Sprintf("job {\nname %s\ncmd %s\n}\n", j.name, quoteArgs(j.argv, " \t#{}"))
}

// quoteArgs joins argv, double-quoting the words that contain special bytes.
func quoteArgs(argv []string, special string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = a
		if strings.ContainsAny(a, special) {
			out[i] = `"` + a + `"`
		}
	}
	return strings.Join(out, " ")
}

// add saves the config with one more job, atomically, as editors do.
func (p *pmtrSup) add(j job) error {
	p.text.WriteString(pmtrJob(j))
	tmp := p.conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(p.text.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p.conf)
}

func (p *pmtrSup) main() int { return p.cmd.Process.Pid }
func (p *pmtrSup) stop()     { stopGroup(p.cmd, 15*time.Second) }

// --- supervisord ---

type supervisordSup struct {
	dir, conf string
	text      strings.Builder
	cmd       *exec.Cmd
}

func (s *supervisordSup) name() string { return "supervisord" }

func (s *supervisordSup) start(dir string, jobs []job) error {
	s.dir, s.conf = dir, filepath.Join(dir, "supervisord.conf")
	s.text.Reset()
	fmt.Fprintf(&s.text, "[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nminfds=4096\n"+
		"[unix_http_server]\nfile=%s/supervisor.sock\n[rpcinterface:supervisor]\n"+
		"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"+
		"[supervisorctl]\nserverurl=unix://%s/supervisor.sock\n", dir, dir, dir, dir)
	for _, j := range jobs {
		s.text.WriteString(supervisordJob(j))
	}
	if err := os.WriteFile(s.conf, []byte(s.text.String()), 0o644); err != nil {
		return err
	}
	s.cmd = exec.Command("supervisord", "-n", "-c", s.conf)
	return launch(s.cmd)
}

func supervisordJob(j job) string {
	return fmt.Sprintf("[program:%s]\ncommand=%s\nautorestart=true\nstartsecs=0\nstdout_logfile=NONE\nstderr_logfile=NONE\n",
		j.name, quoteArgs(j.argv, " \t;"))
}

// add edits the config and asks supervisord to apply it (it does not watch).
func (s *supervisordSup) add(j job) error {
	s.text.WriteString(supervisordJob(j))
	if err := os.WriteFile(s.conf, []byte(s.text.String()), 0o644); err != nil {
		return err
	}
	return exec.Command("supervisorctl", "-c", s.conf, "update").Run()
}

func (s *supervisordSup) main() int { return s.cmd.Process.Pid }
func (s *supervisordSup) stop()     { stopGroup(s.cmd, 30*time.Second) }

// --- runit and s6: a scan directory of service directories ---

type scanSup struct {
	kind string // "runit" or "s6"
	dir  string
	cmd  *exec.Cmd
}

func (s *scanSup) name() string { return s.kind }

func (s *scanSup) start(dir string, jobs []job) error {
	s.dir = filepath.Join(dir, "services")
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := s.service(j); err != nil {
			return err
		}
	}
	if s.kind == "runit" {
		s.cmd = exec.Command("runsvdir", s.dir)
	} else {
		s.cmd = exec.Command("s6-svscan", "-c", "2000", s.dir) // the default caps at 500 services
	}
	return launch(s.cmd)
}

// service writes a service directory whose run script execs the job.
func (s *scanSup) service(j job) error {
	d := filepath.Join(s.dir, j.name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	quoted := make([]string, len(j.argv))
	for i, a := range j.argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	run := "#!/bin/sh\nexec " + strings.Join(quoted, " ") + "\n"
	tmp := filepath.Join(d, "run.tmp")
	if err := os.WriteFile(tmp, []byte(run), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d, "run"))
}

// add creates the service directory; runsvdir finds it within 5 s by
// itself, s6-svscan is told to rescan, as their documentation says.
func (s *scanSup) add(j job) error {
	if err := s.service(j); err != nil {
		return err
	}
	if s.kind == "s6" {
		return exec.Command("s6-svscanctl", "-a", s.dir).Run()
	}
	return nil
}

func (s *scanSup) main() int { return s.cmd.Process.Pid }

func (s *scanSup) stop() {
	if s.kind == "s6" && s.cmd != nil {
		exec.Command("s6-svscanctl", "-t", s.dir).Run()
	}
	stopGroup(s.cmd, 15*time.Second)
}
