package notify

import (
	"slices"

	"pmtr/handover"
)

// pmtr upgrade: the reader holds still between two reads (what it read is
// delivered), and the jobs' sockets and readiness pipes go to the new
// binary: a job's NOTIFY_SOCKET stays bound all along, so nothing it
// sends is refused.

// Pause stops the reading once the read under way is delivered.
func (l *Listener) Pause() { l.hold.Lock() }

// Resume reads again.
func (l *Listener) Resume() { l.hold.Unlock() }

// Files are the sockets and pipes for the new binary (their own
// descriptors, close-on-exec: the upgrade clears that for its exec). Call
// it while paused.
func (l *Listener) Files() ([]handover.NotifySocket, []handover.ReadyPipe) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var socks []handover.NotifySocket
	for _, e := range l.sockets {
		socks = append(socks, handover.NotifySocket{Job: e.job, Path: e.path, FD: e.fd})
	}
	var pipes []handover.ReadyPipe
	for _, e := range l.pipes {
		pipes = append(pipes, handover.ReadyPipe{Job: e.job, Attempt: e.attempt, FD: e.fd})
	}
	slices.SortFunc(socks, func(a, b handover.NotifySocket) int { return a.FD - b.FD })
	slices.SortFunc(pipes, func(a, b handover.ReadyPipe) int { return a.FD - b.FD })
	return socks, pipes
}

// Inherit reads the sockets and pipes the pmtr before an upgrade read;
// belongs gives each job's credit check.
func (l *Listener) Inherit(socks []handover.NotifySocket, pipes []handover.ReadyPipe, belongs func(job string) func(pid int) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range socks {
		e := &entry{fd: s.FD, job: s.Job, path: s.Path, belongs: belongs(s.Job)}
		if err := l.add(e); err != nil {
			return err
		}
		l.sockets[s.Job] = e
	}
	for _, p := range pipes {
		e := &entry{fd: p.FD, job: p.Job, attempt: p.Attempt}
		if err := l.add(e); err != nil {
			return err
		}
		l.pipes[p.Job] = e
	}
	return nil
}
