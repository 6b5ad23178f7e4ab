package notify

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/live/epollset"
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
	set     *epollset.Set // the sockets and pipes; its wake-up asks the reader to stop
	done    chan struct{}
	dropped [numDropReasons]atomic.Int64

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
	set, err := epollset.New("notify")
	if err != nil {
		return nil, err
	}
	l := &Listener{dir: cfg.Dir, deliver: cfg.Deliver, logf: cfg.Logf, clock: cfg.Clock, set: set, done: make(chan struct{}),
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
	go l.run()
	return l, nil
}

// add puts e in the epoll set; l.mu is held.
func (l *Listener) add(e *entry) error {
	if err := l.set.Add(e.fd); err != nil {
		return err
	}
	l.byFD[int32(e.fd)] = e
	return nil
}

// drop takes e out of the set and closes it (and removes its socket
// file); l.mu is held.
func (l *Listener) drop(e *entry) {
	l.set.Remove(e.fd)
	delete(l.byFD, int32(e.fd))
	unix.Close(e.fd)
	if e.path != "" {
		delete(l.sockets, e.job)
		os.Remove(e.path)
	} else if l.pipes[e.job] == e {
		delete(l.pipes, e.job)
	}
}

// DropReason says why a message was not credited to any job.
type DropReason int

// The reasons a message is dropped.
const (
	DropTooLong       DropReason = iota // longer than 4096 bytes
	DropUnknownSender                   // no credentials: the kernel did not say who sent it
	DropNotJob                          // its sender is not a process of the job
	numDropReasons
)

// DropReasons are the reasons, in order, as a metric's label values.
var DropReasons = [numDropReasons]string{"too_long", "unknown_sender", "not_job"}

// Dropped counts the messages not credited to any job.
func (l *Listener) Dropped() int64 {
	var n int64
	for _, c := range l.DroppedBy() {
		n += c
	}
	return n
}

// DroppedBy counts them by reason (indexed by DropReason).
func (l *Listener) DroppedBy() [numDropReasons]int64 {
	var n [numDropReasons]int64
	for i := range n {
		n[i] = l.dropped[i].Load()
	}
	return n
}

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
	l.set.Wake()
	select {
	case <-l.done:
		l.set.Close()
	case <-time.After(time.Second): // left open: the reader may still use them
	}
}

func (l *Listener) run() {
	defer close(l.done)
	ready := make([]int32, 0, 64)
	for {
		fds, woken, err := l.set.Wait(ready)
		if err != nil {
			l.logf("notify: can't wait for messages any more: %v", err)
			return
		}
		if woken {
			return
		}
		for _, fd := range fds {
			l.handle(fd)
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
