package spawn

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/handover"
)

// pmtr upgrade: the spawners and the reaper hold still, so that every
// start begun and every exit reaped has reached the driver before it
// hands its state over; the spawns not begun go to the new binary, and
// exits from then on wait as zombies for its reaper.

// Pause holds the spawners (a start under way ends first) and the reaper,
// and waits for the exits being told (a stopped job's, once its cgroup is
// empty; a helper's, once its exec status is in). It returns the spawns
// not begun; false when the starts or exits under way did not end
// within (then it has resumed).
func (p *Processes) Pause(within time.Duration) ([]handover.Spawn, error) {
	deadline := time.Now().Add(within)
	if !p.pool.pause(within) {
		p.pool.resume()
		return nil, fmt.Errorf("a job's start has gone on for more than %v (its program or files on a file system that does not answer?)", within)
	}
	p.reaping.Lock()
	if !waitFor(&p.telling, time.Until(deadline)) {
		p.reaping.Unlock()
		p.pool.resume()
		return nil, fmt.Errorf("a stopped job's processes did not all end within %v", within)
	}
	return p.pool.notBegun(), nil
}

// NotBegun is the spawns queued and not begun, for the new binary; call
// it while paused, once the driver has stopped (a restart it decided
// after Pause is queued too, and must not be lost).
func (p *Processes) NotBegun() []handover.Spawn { return p.pool.notBegun() }

// Resume starts and reaps again (the new binary did not take over).
func (p *Processes) Resume() {
	p.reaping.Unlock()
	p.pool.resume()
	p.Reap() // exits that came meanwhile
}

// waitFor waits for wg, at most within.
func waitFor(wg interface{ Wait() }, within time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(within):
		return false
	}
}

// Leader is a job's running process as the new binary takes it over.
type Leader struct {
	PID      int
	Job      string
	Stopping bool // pmtr signalled it: the rest of its group is killed at its exit
}

// Inherit takes over the processes of the pmtr before an upgrade (this
// process, under another binary) and requeues the spawns it had not
// begun; the reaper then looks for the exits that waited meanwhile.
func (p *Processes) Inherit(leaders []Leader, spawns []handover.Spawn) {
	p.procs.mu.Lock()
	for _, l := range leaders {
		p.procs.jobs[l.PID] = l.Job
		if l.Stopping {
			p.procs.stopped[l.PID] = l.Job
		}
	}
	p.procs.mu.Unlock()
	for _, s := range spawns {
		p.pool.submit(s.Spawn)
		if s.Cancelled {
			p.pool.cancel(s.Spawn.Job, s.Spawn.Attempt)
		}
	}
	p.Reap()
}

// CheckBinary runs path with args (pmtr upgrade's --state-format) and
// returns what it printed; an error says why it cannot be used: it did
// not start, did not answer within, or exited otherwise than 0.
func (p *Processes) CheckBinary(path string, args []string, within time.Duration) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return "", err
	}
	defer null.Close()
	exited := make(chan unix.WaitStatus, 1)
	attr := &os.ProcAttr{Files: []*os.File{null, w, w}, Env: []string{"PATH=/usr/bin:/bin"},
		Sys: &syscall.SysProcAttr{Setpgid: true}}
	_, kill, err := p.StartWatched(path, append([]string{path}, args...), attr, func(ws unix.WaitStatus) { exited <- ws })
	w.Close()
	if err != nil {
		return "", fmt.Errorf("it cannot be run: %w", err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&out, io.LimitReader(r, 4<<10)); close(read) }()
	select {
	case ws := <-exited:
		select {
		case <-read:
		case <-time.After(time.Second): // a child of it holds the pipe
		}
		if ws.Signaled() || ws.ExitStatus() != 0 {
			return "", fmt.Errorf("%s %s ended with %s%s", path, strings.Join(args, " "), waitText(ws), said(out.String()))
		}
		return out.String(), nil
	case <-time.After(within):
		kill()
		return "", fmt.Errorf("%s %s did not answer within %v", path, strings.Join(args, " "), within)
	}
}

func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("signal %d", ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// said is the first line a refused binary printed, for the message.
func said(out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	if line == "" {
		return ""
	}
	if len(line) > 200 {
		line = line[:200]
	}
	return fmt.Sprintf(" (it said: %q)", line)
}
