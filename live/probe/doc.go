// Package probe runs readiness and health probes, one attempt at a time,
// and reports how each went, worded for the log and for pmtr why: tcp (a
// connect), http (a GET), exec (a program that exits 0) and file (a path
// that exists). It decides nothing: when to probe, how many failures count
// and what a failure does belong to the core.
//
// A Runner owns the attempts that run and those waiting for their turn.
// Start never blocks: it queues the attempt and returns; it refuses one for
// a job whose previous attempt has not reported yet, so that one job's
// probes never overlap. Attempts run on goroutines the runner starts when
// work is queued and that end when none is left (nothing runs while idle),
// at most Config.Net tcp and http attempts at once, Config.Exec exec and
// Config.File file attempts; the others wait in order. tcp attempts to an
// IP address are not bound by Config.Net: one goroutine connects them all
// with non-blocking sockets in one epoll set (connect.go). tcp attempts
// to a host name and http wait in Go's poller, not in a thread. Results go to Config.Deliver, called on
// those goroutines: it must not block. Close cancels what runs, drops what
// waits and returns once nothing runs; Deliver is not called after it.
//
// A timeout counts from the attempt's start, not from its queueing. tcp
// only connects, and resets the connection (no TIME_WAIT left behind).
// http sends one GET on a new connection (Connection: close) with pmtr's
// own small HTTP/1.1 client, not net/http's: it follows no redirect,
// ignores proxy variables, reads at most 16 kB of headers and 4 kB of the
// body and checks no certificate on https (as the kubelet's probes); an
// answer that is not HTTP/1.x fails, quoting its start. exec runs as the user, with the environment, dir and
// cgroup it is given (the job's), in a process group of its own that is
// killed at the timeout, and keeps 200 bytes of output; once its process
// has exited, the output is read for at most 100 ms more (only a process
// that left the group can hold the pipe that long). file only stats.
//
// Exec probes fork. A process that reaps every child with wait4(-1) (pmtr's
// live backend) would take the probe's exit from the default spawner,
// ForkAndWait: such a process gives New a Spawner that starts through its
// own reaper.
package probe
