package live

import (
	"errors"

	"golang.org/x/sys/unix"

	"pmtr/core"
)

// reap is the only place pmtr waits for children. Each kick (a SIGCHLD, or
// the first pass at start) drains every exited child, because SIGCHLDs
// coalesce: one signal may stand for many exits. Orphans adopted as
// subreaper or PID 1 are reaped here too and reported like any exit.
func reap(kick <-chan struct{}, out chan<- any, stop <-chan struct{}) {
	for {
		drain(out, stop)
		select {
		case <-kick:
		case <-stop:
			return
		}
	}
}

func drain(out chan<- any, stop <-chan struct{}) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		ev := core.Exited{PID: pid, Status: ws.ExitStatus()}
		if ws.Signaled() {
			ev = core.Exited{PID: pid, Signal: int(ws.Signal())}
		}
		select {
		case out <- ev:
		case <-stop:
			return
		}
	}
}
