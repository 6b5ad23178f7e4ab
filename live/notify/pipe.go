package notify

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pipe makes a readiness pipe for run attempt of job (s6's
// notification-fd) and returns its write end, for the job to inherit as
// the descriptor its config names. The caller closes its copy right after
// the fork: the pipe ends when the job's processes have all closed it. Both
// ends are close-on-exec in pmtr, so no other job inherits the write end
// (and keeps the pipe from ending). A pipe the job still had from an
// earlier run is closed.
func (l *Listener) Pipe(job string, attempt int) (*os.File, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("notify: job %s: readiness pipe: %w", job, err)
	}
	// Only pmtr's end is non-blocking: the job's stays as a daemon expects.
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("notify: job %s: readiness pipe: %w", job, err)
	}
	e := &entry{fd: p[0], job: job, attempt: attempt}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := errors.New("the listener is closed")
	if !l.closed {
		if old := l.pipes[job]; old != nil {
			l.drop(old)
		}
		err = l.add(e)
	}
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("notify: job %s: readiness pipe: %w", job, err)
	}
	l.pipes[job] = e
	return os.NewFile(uintptr(p[1]), "readiness-"+job), nil
}

// ClosePipe closes job's readiness pipe, if it has one.
func (l *Listener) ClosePipe(job string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.pipes[job]; e != nil {
		l.drop(e)
	}
}

// readPipe reads e until a newline (ready), its end (never ready) or
// nothing more for now; l.mu is held. Bytes before the newline mean
// nothing. A job that writes without end gets perTurn reads a turn.
func (l *Listener) readPipe(e *entry, b *batch) {
	var buf [512]byte
	for range perTurn {
		n, err := unix.Read(e.fd, buf[:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case n > 0 && bytes.IndexByte(buf[:n], '\n') >= 0:
			b.notes = append(b.notes, Notification{Job: e.job, Attempt: e.attempt, At: l.clock.Now(), Ready: true})
			l.drop(e)
			return
		case n <= 0:
			if err != nil {
				b.logs = append(b.logs, fmt.Sprintf("job %s: can't read its readiness pipe: %v", e.job, err))
			}
			b.notes = append(b.notes, Notification{Job: e.job, Attempt: e.attempt, At: l.clock.Now(), PipeClosed: true})
			l.drop(e)
			return
		}
	}
}
