package probe

import (
	"errors"
	"net/netip"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/live/epollset"
)

// tcp attempts to an IP literal (most of them: a check of a job's own
// port) do not go through Go's dialer: one goroutine, the connector,
// makes each attempt's non-blocking socket, connects and waits for the
// connects of all attempts in one epoll set, each with its own deadline.
// 1000 jobs checked every second come in batches (the core's check slots);
// a goroutine and a poller registration per attempt cost about a third
// more CPU than the connects themselves, and this costs none. A slow or
// silent target holds up no other attempt. Host names still go through
// Go's dialer on a lane: they need resolving.

// connector is the state of the connecting goroutine. queue, running and
// sleeping are under Runner.mu; the rest is the goroutine's own.
type connector struct {
	set      *epollset.Set // made at the first attempt; nil before
	failed   bool          // the set could not be made: attempts use the lane
	running  bool          // the goroutine runs
	sleeping bool          // it waits in the set with nothing queued: Start wakes it
	queue    []connect

	spare   []connect
	pending map[int32]*connect // by socket
	ready   []int32
	done    []Result
}

// connect is one attempt to an address.
type connect struct {
	req     Request
	addr    netip.AddrPort
	started time.Time
	by      time.Time // its deadline
	fd      int
}

// ipTarget is target's address when it is IP:PORT (not a host name, not
// an IPv6 address with a zone).
func ipTarget(target string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(target)
	if err != nil || ap.Addr().Zone() != "" || ap.Port() == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// startConnect queues a tcp attempt for the connector, under r.mu; false
// when the connector cannot take it (no epoll set: the lane will).
func (r *Runner) startConnect(req Request, addr netip.AddrPort) bool {
	c := &r.conn
	if c.set == nil && !c.failed {
		set, err := epollset.New("probe")
		if c.failed = err != nil; c.failed {
			return false
		}
		c.set, c.pending = set, map[int32]*connect{}
	}
	if c.failed {
		return false
	}
	c.queue = append(c.queue, connect{req: req, addr: addr})
	switch {
	case !c.running:
		c.running = true
		r.workers.Add(1)
		go r.connectLoop()
	case c.sleeping:
		c.sleeping = false
		c.set.Wake()
	}
	return true
}

// connectLoop starts the queued attempts and finishes those whose connect
// has completed or whose time is up, until none is left or the runner is
// closed.
func (r *Runner) connectLoop() {
	defer r.workers.Done()
	c := &r.conn
	for {
		r.mu.Lock()
		if r.closed || len(c.queue) == 0 && len(c.pending) == 0 {
			c.dropPending() // under r.mu: the next goroutine starts after
			c.running, c.sleeping = false, false
			r.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.sleeping = len(batch) == 0
		r.mu.Unlock()
		c.done = c.done[:0]
		for i := range batch {
			r.begin(&batch[i])
			batch[i] = connect{}
		}
		c.spare = batch[:0]
		if len(batch) == 0 {
			r.await()
		}
		r.finish(c.done)
	}
}

// begin makes the attempt's socket and connects: the outcome now, or the
// attempt waits in the set.
func (r *Runner) begin(a *connect) {
	c := &r.conn
	a.started = r.clock.Now()
	timeout := a.req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	a.by = a.started.Add(timeout)
	fd, err := connectTo(a.addr)
	switch err {
	case nil:
		rawClose(fd)
		c.done = append(c.done, r.outcome(a, nil))
	case unix.EINPROGRESS:
		if err = c.set.AddWritable(fd); err != nil {
			rawClose(fd)
			c.done = append(c.done, r.outcome(a, err))
			return
		}
		a.fd = fd
		p := *a
		c.pending[int32(fd)] = &p
	default:
		c.done = append(c.done, r.outcome(a, err))
	}
}

// connectTo makes a non-blocking socket that resets its connection when
// closed (SO_LINGER 0, as Runner.tcp) and connects it to addr: nil when
// connected (a connect on loopback has mostly completed by the time the
// call returns: a second call says so, and spares the epoll set),
// EINPROGRESS while it goes on, or why it failed.
func connectTo(addr netip.AddrPort) (int, error) {
	family, sa := toSockaddr(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err = rawLingerZero(fd); err == nil {
		if err = rawConnect(fd, &sa); err == unix.EINPROGRESS {
			switch err = rawConnect(fd, &sa); err {
			case unix.EISCONN:
				err = nil
			case unix.EALREADY:
				err = unix.EINPROGRESS
			}
		}
	}
	if err != nil && err != unix.EINPROGRESS {
		rawClose(fd)
		return -1, err
	}
	return fd, err
}

// await waits in the set until a connect completes, the earliest deadline
// passes or Start has more, and finishes what it can.
func (r *Runner) await() {
	c := &r.conn
	first := time.Time{}
	for _, a := range c.pending {
		if first.IsZero() || a.by.Before(first) {
			first = a.by
		}
	}
	var timer *clock.Timer
	if !first.IsZero() {
		timer = r.clock.AfterFunc(first.Sub(r.clock.Now()), c.set.Wake)
	}
	fds, _, err := c.set.Wait(c.ready)
	if timer != nil {
		timer.Stop()
	}
	r.mu.Lock()
	c.sleeping = false
	r.mu.Unlock()
	if err != nil { // not expected of an epoll set; the deadlines still end every attempt
		time.Sleep(10 * time.Millisecond)
	}
	c.ready = fds
	for _, fd := range fds {
		if a := c.pending[fd]; a != nil {
			delete(c.pending, fd) // closing it takes it out of the set
			c.done = append(c.done, r.outcome(a, soError(a.fd)))
			rawClose(a.fd)
		}
	}
	now := r.clock.Now()
	for _, a := range c.pending {
		if !now.Before(a.by) {
			delete(c.pending, int32(a.fd))
			rawClose(a.fd)
			c.done = append(c.done, r.outcome(a, errNoAnswer))
		}
	}
}

// soError is how the socket's connect ended: nil, or its errno.
func soError(fd int) error {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if n != 0 {
		return unix.Errno(n)
	}
	return nil
}

// errNoAnswer marks an attempt whose time ran out.
var errNoAnswer = errors.New("probe: no answer in time")

// outcome is the attempt's result, worded as Runner.tcp words it.
func (r *Runner) outcome(a *connect, err error) Result {
	res := Result{ID: a.req.ID, Kind: TCP, Started: a.started, Ended: r.clock.Now(), OK: err == nil}
	switch {
	case err == nil:
		res.Outcome = a.req.Target + " accepted a connection"
	case err == errNoAnswer:
		res.Outcome = a.req.Target + ": no answer within " + a.by.Sub(a.started).String()
	default:
		res.Outcome = a.req.Target + ": " + err.Error()
	}
	return res
}

// finish frees the jobs of the finished attempts for their next one, then
// delivers their results, unless the runner was closed meanwhile.
func (r *Runner) finish(done []Result) {
	if len(done) == 0 {
		return
	}
	r.mu.Lock()
	for i := range done {
		delete(r.busy, done[i].ID.Job)
	}
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return
	}
	for i := range done {
		r.deliver(done[i])
	}
}

// dropPending closes the sockets of the attempts that still wait (the
// runner is closed, or none is left).
func (c *connector) dropPending() {
	for fd, a := range c.pending {
		rawClose(a.fd)
		delete(c.pending, fd)
	}
}
