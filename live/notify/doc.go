// Package notify hears jobs say they are ready or alive, in the two ways
// daemons already speak: systemd's sd_notify protocol on a unix datagram
// socket per job (NOTIFY_SOCKET: READY=1, STATUS=, WATCHDOG=1,
// STOPPING=1), and s6's readiness pipe (a newline written to a file
// descriptor the job inherits). It decides nothing: what readiness or a
// missed watchdog means belongs to the core.
//
// A Listener owns the sockets and pipes. One goroutine reads all of them
// through one epoll set, waiting in Go's poller: no thread and no
// goroutine per job, which at 1000 jobs would cost megabytes. Deliver and
// Logf (given to New) and each job's belongs function are called on that
// goroutine: they must not block, nor call back into the Listener. Open,
// Remove and Pipe make or remove files in the socket directory, so they
// may block on the file system: not on the driver's goroutine. Close
// removes every socket and returns once the reader has stopped (up to a
// second); Deliver is not called after that.
//
// Who may speak for a job. The kernel stamps each datagram with its
// sender's pid (SCM_CREDENTIALS, asked for with SO_PASSCRED), and a message
// counts only if belongs(pid) says that process is the job's (the caller
// checks the job's cgroup or process group). MAINPID= in the message is
// ignored: it is the sender's claim, not the kernel's. The systemd-notify
// command sends its message as its parent when it may (as root: the
// kernel lets it put its parent's pid in the credentials), else as
// itself, and then waits for the receiver to close the file descriptor of
// its BARRIER=1 message; the Listener closes it only after handling what
// came before, so the sender is alive when belongs asks about it. A
// sender that does not wait (sd_notify from a short-lived helper,
// systemd-notify --no-block) may be gone by the time its message is read,
// and its message then counts only if belongs still places its pid (the
// job's main process, whose pid is known, is safe). Other messages are
// dropped, counted (Dropped) and logged, at most once per job every 10 s.
//
// A readiness pipe reports once: the first newline is readiness, and the
// read end is closed then (a later write gets EPIPE, as under s6). A pipe
// whose writers all close it without a newline reports PipeClosed: the job
// will never be ready through it.
package notify
