package notify

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"
)

// Notification is what a job said.
type Notification struct {
	Job        string
	At         time.Time // when it was read
	PID        int       // the sender, as the kernel says; 0 for a pipe
	Attempt    int       // a pipe's run, as given to Pipe; 0 for the socket
	Ready      bool      // READY=1, or a pipe's newline
	Watchdog   bool      // WATCHDOG=1
	Stopping   bool      // STOPPING=1
	HasStatus  bool      // STATUS= was sent (possibly empty: the status is cleared)
	Status     string    // its text, escaped and capped (logsafe)
	PipeClosed bool      // the pipe ended without a newline: never ready through it
}

// Config is what New needs.
type Config struct {
	Dir     string                           // where the sockets go (pmtr's runtime directory); each job's user must be able to reach it
	Deliver func(Notification)               // on the reader goroutine: must not block
	Logf    func(format string, args ...any) // dropped messages and read errors; nil: not logged
	Clock   clock.Clock                      // stamps and the log's rate limit; nil: the real clock
}

// Listener reads the jobs' sockets and pipes; see the package doc.
type Listener struct {
	dir     string
	deliver func(Notification)
	logf    func(string, ...any)
	clock   clock.Clock
	epf     *os.File // the epoll set, as a file for Go's poller
	ep      int
	wake    int // eventfd: Close asks the reader to stop
	done    chan struct{}
	dropped atomic.Int64

	// mu guards the entries and their descriptors: the reader reads one
	// only while holding it, so Remove never closes a descriptor under it.
	mu      sync.Mutex
	byFD    map[int32]*entry
	sockets map[string]*entry
	pipes   map[string]*entry
	drops   map[string]*dropLog
	closed  bool
	buf     []byte // the reader's, as is oob
	oob     []byte
	hold    sync.Mutex // held by the reader for each read and its delivery, and by Pause
}

// entry is one job's socket or one run's pipe.
type entry struct {
	fd      int
	job     string
	path    string             // the socket's file; "" for a pipe
	belongs func(pid int) bool // the socket's credit check
	attempt int                // the pipe's run
}

// New starts the reader goroutine.
func New(cfg Config) (*Listener, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("notify: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
		if err != nil {
			unix.Close(wake)
		}
	}
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("notify: eventfd: %w", err)
	}
	// As live's output reader: wait in Go's poller for the set to have
	// events, not in epoll_wait, where a thread would be held for good.
	unix.SetNonblock(ep, true)
	l := &Listener{dir: cfg.Dir, deliver: cfg.Deliver, logf: cfg.Logf, clock: cfg.Clock,
		epf: os.NewFile(uintptr(ep), "notify-epoll"), ep: ep, wake: wake, done: make(chan struct{}),
		byFD: map[int32]*entry{}, sockets: map[string]*entry{}, pipes: map[string]*entry{},
		drops: map[string]*dropLog{}, buf: make([]byte, maxMessage+1), oob: make([]byte, unix.CmsgSpace(unixCredsLen)+unix.CmsgSpace(4*maxFDs))}
	if l.clock == nil {
		l.clock = clock.New()
	}
	if l.deliver == nil {
		l.deliver = func(Notification) {}
	}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	rc, err := l.epf.SyscallConn()
	if err != nil {
		l.epf.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("notify: epoll: %w", err)
	}
	go l.run(rc)
	return l, nil
}

// add puts e in the epoll set; l.mu is held.
func (l *Listener) add(e *entry) error {
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, e.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e.fd)}); err != nil {
		return err
	}
	l.byFD[int32(e.fd)] = e
	return nil
}

// drop takes e out of the set and closes it (and removes its socket
// file); l.mu is held.
func (l *Listener) drop(e *entry) {
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, e.fd, nil)
	delete(l.byFD, int32(e.fd))
	unix.Close(e.fd)
	if e.path != "" {
		delete(l.sockets, e.job)
		os.Remove(e.path)
	} else if l.pipes[e.job] == e {
		delete(l.pipes, e.job)
	}
}

// Dropped counts the messages not credited to any job.
func (l *Listener) Dropped() int64 { return l.dropped.Load() }

// Close removes every socket and pipe, and stops the reader (waiting for
// it up to a second: a Deliver that blocks must not keep pmtr from
// stopping).
func (l *Listener) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	for _, e := range l.byFD {
		l.drop(e)
	}
	l.mu.Unlock()
	unix.Write(l.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	select {
	case <-l.done:
		l.epf.Close()
		unix.Close(l.wake)
	case <-time.After(time.Second): // left open: the reader may still use them
	}
}

func (l *Listener) run(rc syscall.RawConn) {
	defer close(l.done)
	events := make([]unix.EpollEvent, 64)
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || werr != nil && !errors.Is(werr, unix.EINTR)
		})
		if err = errors.Join(err, werr); err != nil {
			l.logf("notify: can't wait for messages any more: %v", err)
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == l.wake {
				return
			}
			l.handle(ev.Fd)
		}
	}
}

// batch is what one read of an entry yields, handed out once l.mu is
// released: notifications, log lines, and received descriptors to close
// after the notifications (closing a BARRIER=1 descriptor tells its
// sender that what it sent before has been handled).
type batch struct {
	notes []Notification
	logs  []string
	fds   []int
}

func (l *Listener) handle(fd int32) {
	l.hold.Lock()
	defer l.hold.Unlock()
	var b batch
	l.mu.Lock()
	if e := l.byFD[fd]; e != nil {
		if e.path != "" {
			l.readSocket(e, &b)
		} else {
			l.readPipe(e, &b)
		}
	}
	l.mu.Unlock()
	for _, s := range b.logs {
		l.logf("%s", s)
	}
	for _, n := range b.notes {
		l.deliver(n)
	}
	for _, fd := range b.fds {
		unix.Close(fd)
	}
}
