package hostfacts

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	"pmtr/confgrammar"
)

// HostWarnings checks what depends on this host, for each job: its program,
// dir, user, out/err directories and dependencies, resolved as the job
// will see them (relative to its dir, else to cwd). They are warnings, not
// errors: the file may appear later. It reads the file system (and the user
// database), so the daemon runs it off its loop.
//
// pmtr running as root also warns when a user other than root could change
// the config file itself (an included file is refused: files.ReadConfig);
// a config of C pmtr may rely on it, so it is no error.
func HostWarnings(file string, cfg *confgrammar.Config, cwd string) []confgrammar.Warning {
	var out []confgrammar.Warning
	if RunsAsRoot() {
		if err := WritableByOthers(file); err != nil {
			out = append(out, confgrammar.Warning{File: file, Pos: confgrammar.Pos{Line: 1, Col: 1}, Msg: err.Error()})
		}
	}
	st := stats{}
	for i := range cfg.Jobs {
		out = append(out, jobWarnings(file, &cfg.Jobs[i], cwd, st)...)
	}
	return out
}

// stats remembers the answers of one check's stats: 1000 jobs of one
// program writing to one directory asked for the same two paths 4000
// times, before the first job could start.
type stats map[string]statAnswer

type statAnswer struct {
	fi  os.FileInfo
	err error
}

func (s stats) stat(path string) (os.FileInfo, error) {
	if a, ok := s[path]; ok {
		return a.fi, a.err
	}
	fi, err := os.Stat(path)
	s[path] = statAnswer{fi, err}
	return fi, err
}

// OrFile is the file a line of the config is in: its own, or, for a line
// made without one, the config file.
func OrFile(own, file string) string {
	if own != "" {
		return own
	}
	return file
}

// jobWarnings are j's host warnings, each at the option it is about.
func jobWarnings(file string, j *confgrammar.Job, cwd string, st stats) []confgrammar.Warning {
	var out []confgrammar.Warning
	at := func(key, format string, args ...any) {
		w := confgrammar.Warning{File: OrFile(j.File, file), Pos: j.Pos, Msg: "job " + j.Name + ": " + fmt.Sprintf(format, args...)}
		if o, ok := origin(j, key); ok {
			w.File, w.Pos = o.File, confgrammar.Pos{Line: o.Line, Col: max(o.Col, 1)}
		}
		out = append(out, w)
	}
	dir := cwd
	if j.Dir != "" {
		dir = InDir(cwd, j.Dir)
		if msg := kindProblem(st, dir, true); msg != "" {
			at("dir", "dir %s %s", j.Dir, msg)
		}
	}
	if len(j.Cmd) > 0 {
		if msg := programWarning(st, j.Cmd[0], dir); msg != "" {
			at("cmd", "%s", msg)
		}
	}
	if j.User != "" {
		if _, err := user.Lookup(j.User); err != nil {
			at("user", "user %s does not exist on this host", j.User)
		}
	}
	for _, f := range []struct{ what, path string }{{"out", j.OutFile()}, {"err", j.ErrFile()}} {
		if f.path != "" {
			if msg := kindProblem(st, filepath.Dir(InDir(dir, f.path)), true); msg != "" {
				at(f.what, "%s %s: its directory %s", f.what, f.path, msg)
			}
		}
	}
	for _, d := range j.DependPaths(cwd) {
		if _, err := st.stat(d); err != nil {
			at("depends", "depends %s does not exist: the job is held until it does", d)
		}
	}
	return out
}

// origin is where j's option key was written: its last line (the value in
// force: the last user wins, an override replaces), or, for depends, its
// first.
func origin(j *confgrammar.Job, key string) (confgrammar.Origin, bool) {
	var found confgrammar.Origin
	ok := false
	for _, o := range j.Origins {
		if o.Key == key && o.File != "" && (!ok || key != "depends") {
			found, ok = o, true
		}
	}
	return found, ok
}

// programWarning: pmtr execs the program as written, relative to the
// job's dir, and never searches PATH.
func programWarning(st stats, prog, dir string) string {
	if !strings.Contains(prog, "/") {
		return fmt.Sprintf("cmd %s is not a path: pmtr does not search PATH (%s)", prog, pathHint(prog, os.Getenv("PATH")))
	}
	path := InDir(dir, prog)
	if msg := kindProblem(st, path, false); msg != "" {
		return fmt.Sprintf("cmd %s %s", prog, msg)
	}
	if fi, err := st.stat(path); err == nil && fi.Mode().Perm()&0o111 == 0 {
		return fmt.Sprintf("cmd %s is not executable (chmod +x %s)", prog, prog)
	}
	return ""
}

// systemBins are searched first for a program named without a path, in
// this order: a service should run the system's program, not one a login
// shell's PATH put first (a pyenv or nvm shim, a user's ~/bin).
var systemBins = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// pathHint suggests the full path of prog: from the system's directories
// first, then from path (pmtr's own PATH); a match that is a version
// manager's shim is named as one, since a service cannot use it as is.
func pathHint(prog, path string) string {
	dirs := append(slices.Clone(systemBins), filepath.SplitList(path)...)
	var shim string
	for _, d := range dirs {
		p := filepath.Join(d, prog)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			continue
		}
		if !isShim(p) {
			return "write " + p
		}
		if shim == "" {
			shim = p
		}
	}
	if shim != "" {
		return fmt.Sprintf("the only %s found is %s, a shim of a version manager that picks the real program from the login's environment: write the real program's path", prog, shim)
	}
	return "write its full path"
}

// isShim: p lives in a version manager's shims directory (pyenv, rbenv,
// nodenv, asdf, volta...), directly or through a symlink.
func isShim(p string) bool {
	for _, q := range []string{p, resolved(p)} {
		if strings.Contains(q, "/shims/") || strings.Contains(q, "/.volta/bin/") {
			return true
		}
	}
	return false
}

func resolved(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return p
	}
	return r
}

// kindProblem says what is wrong with path as a directory (dir) or a
// regular file, or "" when nothing is.
func kindProblem(s stats, path string, dir bool) string {
	st, err := s.stat(path)
	switch {
	case err != nil && os.IsNotExist(err):
		return "does not exist"
	case err != nil:
		return "can't be checked: " + Strerror(err)
	case dir && !st.IsDir():
		return "is not a directory"
	case !dir && !st.Mode().IsRegular():
		return "is " + FileKind(st.Mode()) + ", not a regular file"
	}
	return ""
}
