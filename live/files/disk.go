package files

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"time"

	"pmtr/live/hostfacts"
)

// disk is the file system as confgrammar reads a config from it: each
// file read whole (as readLimited does), each include pattern matched
// against its directory, both within readTimeout. Its errors are the
// reason alone (the caller names the file).
//
// Run by root (rootSafe), it refuses an included file, or a pattern's
// directory, that a user other than root could change: that user could
// run programs as root. The main file is read all the same (a C config
// may rely on it; hostfacts.HostWarnings warns).
type disk struct {
	settled  bool // a file held open for writing is not read (errWriting)
	rootSafe bool // refuse included files others can write
	safe     hostfacts.RootOnly
	writing  []string // the files found held
	main     string   // the main file
	read     bool     // data is main's content, read already
	data     []byte
}

func (d *disk) ReadFile(name string) ([]byte, error) {
	if name == d.main && d.read {
		return d.data, nil
	}
	if d.rootSafe && name != d.main {
		if err := d.safe.Check(name); err != nil {
			return nil, err
		}
	}
	b, err := within(func() ([]byte, error) { return readLimited(name, d.settled) })
	if errors.Is(err, errWriting) {
		d.writing = append(d.writing, name)
	}
	if err != nil {
		return nil, hostfacts.Worded(unwrapPath(err))
	}
	return b, nil
}

// Glob lists the files of the pattern's directory that its last element
// matches, in name order; directories are left out, and a directory that
// does not exist matches nothing.
func (d *disk) Glob(pattern string) ([]string, error) {
	dir, base := path.Split(pattern)
	entries, err := within(func() ([]os.DirEntry, error) { return os.ReadDir(orDot(dir)) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, hostfacts.Worded(unwrapPath(err))
	}
	if d.rootSafe {
		if err := d.safe.Check(orDot(dir)); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, e := range entries {
		if ok, _ := path.Match(base, e.Name()); !ok || isDir(dir, e) {
			continue
		}
		out = append(out, dir+e.Name())
	}
	return out, nil
}

func orDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// isDir: the entry is a directory, or a symbolic link to one.
func isDir(dir string, e os.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.IsDir()
	}
	st, err := os.Stat(orDot(dir) + "/" + e.Name())
	return err == nil && st.IsDir()
}

// unwrapPath drops the path an os error repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// within runs f, giving up after readTimeout (f goes on, on its own
// goroutine, and its result is dropped).
func within[T any](f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	t := time.NewTimer(readTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		var zero T
		return zero, errNoAnswer
	}
}
