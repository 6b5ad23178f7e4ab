package hostfacts

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
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
	for i := range cfg.Jobs {
		j := &cfg.Jobs[i]
		for _, msg := range jobWarnings(j, cwd) {
			out = append(out, confgrammar.Warning{File: OrFile(j.File, file), Pos: j.Pos, Msg: "job " + j.Name + ": " + msg})
		}
	}
	return out
}

// OrFile is the file a line of the config is in: its own, or, for a line
// made without one, the config file.
func OrFile(own, file string) string {
	if own != "" {
		return own
	}
	return file
}

func jobWarnings(j *confgrammar.Job, cwd string) []string {
	var out []string
	dir := cwd
	if j.Dir != "" {
		dir = InDir(cwd, j.Dir)
		if msg := kindProblem(dir, true); msg != "" {
			out = append(out, fmt.Sprintf("dir %s %s", j.Dir, msg))
		}
	}
	if len(j.Cmd) > 0 {
		out = append(out, programWarnings(j.Cmd[0], dir)...)
	}
	if j.User != "" {
		if _, err := user.Lookup(j.User); err != nil {
			out = append(out, fmt.Sprintf("user %s does not exist on this host", j.User))
		}
	}
	for _, f := range []struct{ what, path string }{{"out", j.OutFile()}, {"err", j.ErrFile()}} {
		if f.path != "" {
			if msg := kindProblem(filepath.Dir(InDir(dir, f.path)), true); msg != "" {
				out = append(out, fmt.Sprintf("%s %s: its directory %s", f.what, f.path, msg))
			}
		}
	}
	for _, d := range j.DependPaths(cwd) {
		if _, err := os.Stat(d); err != nil {
			out = append(out, fmt.Sprintf("depends %s does not exist: the job is held until it does", d))
		}
	}
	return out
}

// programWarnings: pmtr execs the program as written, relative to the
// job's dir, and never searches PATH.
func programWarnings(prog, dir string) []string {
	if !strings.Contains(prog, "/") {
		hint := "write its full path"
		if p, err := exec.LookPath(prog); err == nil {
			hint = "write " + p
		}
		return []string{fmt.Sprintf("cmd %s is not a path: pmtr does not search PATH (%s)", prog, hint)}
	}
	path := InDir(dir, prog)
	if msg := kindProblem(path, false); msg != "" {
		return []string{fmt.Sprintf("cmd %s %s", prog, msg)}
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o111 == 0 {
		return []string{fmt.Sprintf("cmd %s is not executable (chmod +x %s)", prog, prog)}
	}
	return nil
}

// kindProblem says what is wrong with path as a directory (dir) or a
// regular file, or "" when nothing is.
func kindProblem(path string, dir bool) string {
	st, err := os.Stat(path)
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
