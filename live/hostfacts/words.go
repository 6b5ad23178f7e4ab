package hostfacts

import (
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"
)

// Strerror spells an error as C's strerror does ("No such file or directory").
func Strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Worded is err spelled as Strerror spells it, still matching errors.Is
// and errors.As as err does: a start that failed for want of descriptors
// must remain recognisable as EMFILE after it is worded for the log.
func Worded(err error) error { return worded{err} }

type worded struct{ err error }

func (w worded) Error() string { return Strerror(w.err) }
func (w worded) Unwrap() error { return w.err }

// FileKind words a file that is not a regular one ("a FIFO").
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// InDir resolves a relative path as the job would see it after chdir.
func InDir(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// OpenToOthers: a socket bound to ip can be reached from other machines
// (any address but loopback; 0.0.0.0 and :: mean every address).
func OpenToOthers(ip net.IP) bool { return ip == nil || !ip.IsLoopback() }
