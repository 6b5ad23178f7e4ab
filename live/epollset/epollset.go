// Package epollset is one epoll set that a goroutine waits on in Go's
// poller, with a wake-up another goroutine can send. It is the mechanism
// of the rooms that read many descriptors on one goroutine (job output,
// notify sockets and readiness pipes) instead of a goroutine each.
//
// Waiting in Go's poller, for the set to have events, rather than in
// epoll_wait holds no thread while idle (a thread blocked there for good
// costs its memory and makes the runtime start another). Wait blocks;
// the other calls are quick system calls that never wait. A Set runs no
// goroutine of its own.
package epollset

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Set is an epoll set of descriptors read for input, and an eventfd that
// wakes its waiter.
type Set struct {
	f      *os.File // the epoll descriptor, as a file for Go's poller
	rc     syscall.RawConn
	ep     int
	wake   int
	events []unix.EpollEvent // Wait's: there is one waiter
}

// New makes an empty set; name says whose it is in errors.
func New(name string) (*Set, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%s: epoll: %w", name, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		if err = add(ep, wake); err != nil {
			unix.Close(wake)
		}
	}
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("%s: eventfd: %w", name, err)
	}
	unix.SetNonblock(ep, true)
	s := &Set{f: os.NewFile(uintptr(ep), name+" epoll"), ep: ep, wake: wake, events: make([]unix.EpollEvent, 64)}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: epoll: %w", name, err)
	}
	return s, nil
}

func add(ep, fd int) error {
	return unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
}

// Add has Wait report fd when it has input (or its writers are gone).
func (s *Set) Add(fd int) error { return add(s.ep, fd) }

// AddWritable has Wait report fd when it can be written to, or has an
// error or hang-up: a non-blocking connect that has completed or failed.
func (s *Set) AddWritable(fd int) error {
	return unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(fd)})
}

// Remove takes fd out of the set; call it before closing fd.
func (s *Set) Remove(fd int) { unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, fd, nil) }

// Wake makes the waiter's Wait return with woken set, now or at its next
// call.
func (s *Set) Wake() { unix.Write(s.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0}) }

// Wait waits until some descriptor has input or Wake was called; it
// appends the ready descriptors (up to 64) to ready[:0] and says whether
// it was woken (each Wake is reported once). One goroutine waits.
func (s *Set) Wait(ready []int32) (fds []int32, woken bool, err error) {
	events := s.events
	var n int
	var werr error
	err = s.rc.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		return n > 0 || werr != nil && !errors.Is(werr, unix.EINTR)
	})
	if err = errors.Join(err, werr); err != nil {
		return ready[:0], false, err
	}
	fds = ready[:0]
	for _, ev := range events[:n] {
		if int(ev.Fd) == s.wake {
			var b [8]byte
			unix.Read(s.wake, b[:]) // resets its count
			woken = true
			continue
		}
		fds = append(fds, ev.Fd)
	}
	return fds, woken, nil
}

// Close closes the set (not the descriptors in it). No Wait may be under
// way or come after.
func (s *Set) Close() {
	s.f.Close()
	unix.Close(s.wake)
}
