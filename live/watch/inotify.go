package watch

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inotify watches directories. It is used directly (not through a
// portable library) because pmtr needs IN_CLOSE_WRITE and IN_MOVED_TO: they
// say a save is complete, so pmtr can apply it at once instead of waiting
// for writes to settle.
type inotify struct {
	f    *os.File // non-blocking, so Close wakes a pending Read
	fd   int
	mu   sync.Mutex
	byWD map[int32]string
	wds  map[string]int32
}

// dirMask: everything that can change a file in the directory (its mode
// and owner too: pmtr as root refuses an included file others can write,
// and a chmod that fixes it applies at once), and the directory itself
// going away.
const dirMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// fsEvent is one change in a watched directory ("" name: the directory
// itself, or an overflow).
type fsEvent struct {
	dir, name string
	complete  bool // a write was closed, or a file was renamed into place
	overflow  bool // events were lost
	gone      bool // the directory's watch ended
}

func openInotify() (*inotify, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("live: inotify: %w", err)
	}
	return &inotify{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, byWD: map[int32]string{}, wds: map[string]int32{}}, nil
}

func (n *inotify) add(dir string) error {
	wd, err := unix.InotifyAddWatch(n.fd, dir, dirMask)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.byWD[int32(wd)], n.wds[dir] = dir, int32(wd)
	n.mu.Unlock()
	return nil
}

func (n *inotify) remove(dir string) {
	n.mu.Lock()
	wd, ok := n.wds[dir]
	delete(n.wds, dir)
	delete(n.byWD, wd)
	n.mu.Unlock()
	if ok {
		unix.InotifyRmWatch(n.fd, uint32(wd))
	}
}

// watching lists the watched directories.
func (n *inotify) watching() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.wds))
	for d := range n.wds {
		out = append(out, d)
	}
	return out
}

func (n *inotify) close() error { return n.f.Close() }

// read waits for events; it fails with os.ErrClosed once closed.
func (n *inotify) read(buf []byte) ([]fsEvent, error) {
	k, err := n.f.Read(buf)
	if err != nil {
		return nil, err
	}
	var out []fsEvent
	for off := 0; off+unix.SizeofInotifyEvent <= k; {
		raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		end := off + unix.SizeofInotifyEvent + int(raw.Len)
		if end > k {
			return out, errors.New("live: inotify: short event")
		}
		name := string(buf[off+unix.SizeofInotifyEvent : end])
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		out = append(out, n.event(raw.Wd, raw.Mask, name))
		off = end
	}
	return out, nil
}

func (n *inotify) event(wd int32, mask uint32, name string) fsEvent {
	n.mu.Lock()
	dir := n.byWD[wd]
	if mask&unix.IN_IGNORED != 0 {
		delete(n.byWD, wd)
		if n.wds[dir] == wd {
			delete(n.wds, dir)
		}
	}
	n.mu.Unlock()
	return fsEvent{dir: dir, name: name,
		complete: mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0,
		overflow: mask&unix.IN_Q_OVERFLOW != 0,
		gone:     mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0}
}
