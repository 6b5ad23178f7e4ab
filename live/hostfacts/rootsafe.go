package hostfacts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// RunsAsRoot: pmtr's effective user is root, so the programs its config
// names run as root (unless a job says user).
func RunsAsRoot() bool { return os.Geteuid() == 0 }

// WritableByOthers says, for a config file pmtr reads as root, which user
// other than root could change it, and how to stop that: the file (or the
// directory whose files an include pattern takes) must be owned by root
// and writable by nobody else, and so must each directory above it, but
// those may be sticky directories such as /tmp (others cannot rename what
// is root's there). A pattern's directory itself may not be open to others
// even so: they could add a file it takes. nil: only root can change it. A
// path that cannot be looked at is left to the read, which says why.
func WritableByOthers(path string) error { return new(RootOnly).Check(path) }

// RootOnly is WritableByOthers for many files, looking at each directory
// above them once.
type RootOnly struct {
	above map[string]error  // directories above a file, by path
	real  map[string]string // directories, by path: their path without symbolic links
}

// Check is WritableByOthers(path).
func (r *RootOnly) Check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	chains := [][]string{ancestry(abs)}
	if real := r.realPath(abs); real != "" && real != abs {
		chains = append(chains, ancestry(real)) // where a link leads, too
	}
	for _, chain := range chains {
		if err := rootOnly(chain[0], false); err != nil {
			return err
		}
		for _, p := range chain[1:] {
			if err := r.dirAbove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// realPath is abs without symbolic links ("" when it cannot be had); the
// directories' are looked up once.
func (r *RootOnly) realPath(abs string) string {
	if st, err := os.Lstat(abs); err != nil || st.Mode()&os.ModeSymlink != 0 {
		real, _ := filepath.EvalSymlinks(abs)
		return real
	}
	if r.real == nil {
		r.real = map[string]string{}
	}
	dir := filepath.Dir(abs)
	real, ok := r.real[dir]
	if !ok {
		real, _ = filepath.EvalSymlinks(dir)
		r.real[dir] = real
	}
	if real == "" {
		return ""
	}
	return filepath.Join(real, filepath.Base(abs))
}

func (r *RootOnly) dirAbove(p string) error {
	if r.above == nil {
		r.above = map[string]error{}
	}
	err, ok := r.above[p]
	if !ok {
		err = rootOnly(p, true)
		r.above[p] = err
	}
	return err
}

// ancestry is p and each directory above it, up to /.
func ancestry(p string) []string {
	out := []string{p}
	for d := filepath.Dir(p); d != out[len(out)-1]; d = filepath.Dir(d) {
		out = append(out, d)
	}
	return out
}

// rootOnly checks one path: owned by root, written by nobody else (above
// the file, a sticky directory may be open to all).
func rootOnly(p string, above bool) error {
	st, err := os.Stat(p)
	if err != nil {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := st.Mode()
	open := mode.Perm()&0o022 != 0 && !(above && mode&os.ModeSticky != 0)
	if sys.Uid == 0 && !open {
		return nil
	}
	var why, fix []string
	if sys.Uid != 0 {
		why = append(why, fmt.Sprintf("is owned by uid %d", sys.Uid))
		fix = append(fix, "chown root "+p)
	}
	if open {
		why = append(why, fmt.Sprintf("is writable by %s (mode %#o)", writers(mode.Perm()), mode.Perm()))
		fix = append(fix, "chmod go-w "+p)
	}
	what := p
	if st.IsDir() {
		what = "directory " + p
	}
	return fmt.Errorf("pmtr runs as root and %s %s: whoever can change it could run programs as root (fix: %s)",
		what, strings.Join(why, " and "), strings.Join(fix, "; "))
}

func writers(perm os.FileMode) string {
	switch {
	case perm&0o020 != 0 && perm&0o002 != 0:
		return "its group and everyone"
	case perm&0o020 != 0:
		return "its group"
	}
	return "everyone"
}
