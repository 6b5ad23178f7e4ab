package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/logsafe"
)

const (
	maxMessage   = 4096 // longer datagrams are dropped (systemd reads no more either)
	maxFDs       = 16   // descriptors kept per datagram; the kernel closes the rest
	perTurn      = 64   // datagrams read from one socket before the others get a turn
	unixCredsLen = 12   // struct ucred
	dropLogEvery = 10 * time.Second
)

// Open makes job's socket in the directory given to New: mode 0600, owned
// by uid and gid (-1 leaves either as pmtr's), with SO_PASSCRED on so that
// every datagram carries its sender's pid. A message counts for the job
// only when belongs(pid) is true. It returns the path, for
// NOTIFY_SOCKET=path in the job's environment. A socket file left there
// by an earlier pmtr is replaced.
func (l *Listener) Open(job string, uid, gid int, belongs func(pid int) bool) (string, error) {
	if !filepath.IsAbs(l.dir) { // sd_notify takes only an absolute path (or an abstract name)
		return "", fmt.Errorf("notify: job %s: the socket directory %q is not an absolute path", job, l.dir)
	}
	path := filepath.Join(l.dir, socketName(job))
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return "", fmt.Errorf("notify: job %s: socket path %s is too long (%d bytes; at most %d): use a shorter runtime directory",
			job, path, len(path), len(unix.RawSockaddrUnix{}.Path)-1)
	}
	l.mu.Lock()
	_, taken := l.sockets[job]
	closed := l.closed
	l.mu.Unlock()
	switch {
	case closed:
		return "", fmt.Errorf("notify: job %s: the listener is closed", job)
	case taken:
		return "", fmt.Errorf("notify: job %s already has a socket", job)
	}
	fd, err := bindSocket(path, uid, gid)
	if err != nil {
		return "", fmt.Errorf("notify: job %s: %w", job, err)
	}
	e := &entry{fd: fd, job: job, path: path, belongs: belongs}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, taken := l.sockets[job]; taken || l.closed {
		unix.Close(fd)
		return "", fmt.Errorf("notify: job %s already has a socket", job)
	}
	if err := l.add(e); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return "", fmt.Errorf("notify: job %s: %w", job, err)
	}
	l.sockets[job] = e
	return path, nil
}

// bindSocket makes the socket file. Its mode is set on the socket before
// the bind (the file takes it, less the umask), so that it is never open
// to others, not even between bind and chmod.
func bindSocket(path string, uid, gid int) (int, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return -1, fmt.Errorf("%s exists and is not a socket (remove it)", path)
		}
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	if err == nil {
		err = unix.Fchmod(fd, 0o600)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	}
	if err == nil {
		if err = os.Lchown(path, uid, gid); err != nil {
			os.Remove(path)
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("socket %s: %w", path, err)
	}
	return fd, nil
}

// socketName is the file name of job's socket: the name itself when it is
// short and plain, else a plain prefix and a hash (so names with slashes,
// dots or spaces are safe, and distinct names stay distinct).
func socketName(job string) string {
	var b strings.Builder
	plain := len(job) <= 40 && job != ""
	for i := 0; i < len(job) && b.Len() < 24; i++ {
		c := job[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
			plain = false
		}
	}
	if plain && b.Len() == len(job) {
		return "notify." + job + ".sock"
	}
	sum := sha256.Sum256([]byte(job))
	return "notify." + b.String() + "." + hex.EncodeToString(sum[:6]) + ".sock"
}

// Remove closes job's socket and removes its file.
func (l *Listener) Remove(job string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.sockets[job]; e != nil {
		l.drop(e)
	}
	delete(l.drops, job)
}

// readSocket reads e's datagrams (up to perTurn); l.mu is held.
func (l *Listener) readSocket(e *entry, b *batch) {
	for range perTurn {
		n, oobn, flags, _, err := unix.Recvmsg(e.fd, l.buf, l.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil:
			b.logs = append(b.logs, fmt.Sprintf("job %s: can't read its notify socket: %v", e.job, err))
			return
		}
		pid, fds := credentials(l.oob[:oobn])
		b.fds = append(b.fds, fds...)
		switch {
		case flags&unix.MSG_TRUNC != 0 || n > maxMessage:
			l.refuse(e.job, DropTooLong, "longer than "+strconv.Itoa(maxMessage)+" bytes", b)
		case pid <= 0:
			l.refuse(e.job, DropUnknownSender, "its sender is unknown", b)
		case e.belongs == nil || !e.belongs(pid):
			l.refuse(e.job, DropNotJob, "from pid "+strconv.Itoa(pid)+", not a process of the job", b)
		default:
			if note, ok := parse(l.buf[:n]); ok {
				note.Job, note.PID, note.At = e.job, pid, l.clock.Now()
				b.notes = append(b.notes, note)
			}
		}
	}
}

// credentials finds the sender's pid and the descriptors in a datagram's
// control messages.
func credentials(oob []byte) (pid int, fds []int) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, nil
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_CREDENTIALS:
			if cred, err := unix.ParseUnixCredentials(m); err == nil {
				pid = int(cred.Pid)
			}
		case unix.SCM_RIGHTS:
			if rights, err := unix.ParseUnixRights(m); err == nil {
				fds = append(fds, rights...)
			}
		}
	}
	return pid, fds
}

// parse reads an sd_notify message: newline-separated KEY=VALUE lines.
// Only READY=1, WATCHDOG=1, STOPPING=1 and STATUS= mean something here;
// the rest (MAINPID=, BARRIER=1, RELOADING=1...) is ignored. ok is false
// when nothing meant something.
func parse(msg []byte) (n Notification, ok bool) {
	for line := range strings.SplitSeq(string(msg), "\n") {
		key, value, _ := strings.Cut(line, "=")
		switch {
		case key == "READY" && value == "1":
			n.Ready, ok = true, true
		case key == "WATCHDOG" && value == "1":
			n.Watchdog, ok = true, true
		case key == "STOPPING" && value == "1":
			n.Stopping, ok = true, true
		case key == "STATUS":
			n.Status, n.HasStatus, ok = logsafe.Text(value), true, true
		}
	}
	return n, ok
}

// dropLog limits the log lines about one job's dropped messages.
type dropLog struct {
	last  time.Time
	quiet int // dropped since last, not logged
}

// refuse counts a dropped message and logs it, at most once per job
// every dropLogEvery; l.mu is held.
func (l *Listener) refuse(job string, reason DropReason, why string, b *batch) {
	l.dropped[reason].Add(1)
	d := l.drops[job]
	if d == nil {
		d = &dropLog{}
		l.drops[job] = d
	}
	now := l.clock.Now()
	if !d.last.IsZero() && now.Sub(d.last) < dropLogEvery {
		d.quiet++
		return
	}
	more := ""
	if d.quiet > 0 {
		more = fmt.Sprintf(" (and %d more since %s)", d.quiet, d.last.Format("15:04:05"))
	}
	d.last, d.quiet = now, 0
	b.logs = append(b.logs, fmt.Sprintf("job %s: notify message dropped: %s%s", job, why, more))
}
