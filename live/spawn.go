package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"pmtr/confgrammar"
)

// spawner starts jobs through the re-exec helper.
type spawner struct {
	self   string // path of the pmtr binary (the helper)
	nrOpen uint64
	log    *Logger
}

func newSpawner(log *Logger) (*spawner, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("live: find own binary for the exec helper: %w", err)
	}
	s := &spawner{self: self, nrOpen: 1 << 20, log: log}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s.nrOpen = n
		}
	}
	return s, nil
}

// started is a process that is running; status delivers "" once the job's
// program runs (exec succeeded) or the reason it could not be started.
// Its output is logged only once logged is closed, so that "started job"
// comes before the job's first line.
type started struct {
	pid    int
	status <-chan string
	logged chan struct{}
}

// needsHelper: the job asks for settings that must be made between fork
// and exec (Go has no hook there), or files opened as another user.
func needsHelper(j *confgrammar.Job) bool {
	return j.User != "" || j.Nice != 0 || len(j.CPUs) > 0 || len(j.Ulimits) > 0
}

// start launches job j in its own process group: directly when it needs no
// pre-exec setup (the common, fast case), else through the helper. Its
// stdout and stderr, unless redirected to files, go to pmtr's log.
func (s *spawner) start(j *confgrammar.Job) (started, error) {
	if !needsHelper(j) {
		return s.startDirect(j)
	}
	return s.startHelper(j)
}

// startDirect execs the job's program itself; exec errors come back from
// StartProcess with the C wording. (The daemon's umask is 022 already.)
func (s *spawner) startDirect(j *confgrammar.Job) (started, error) {
	if j.Dir != "" { // StartProcess would word a bad dir as an exec error
		if st, err := os.Stat(j.Dir); err != nil || !st.IsDir() {
			if err == nil {
				err = syscall.ENOTDIR
			}
			return started{}, fmt.Errorf("can't chdir %s: %s", j.Dir, strerror(err))
		}
	}
	files, outR, err := s.directFiles(j)
	if err != nil {
		return started{}, err
	}
	defer closeAll(files)
	env := os.Environ()
	for _, kv := range j.Env {
		env = setVar(env, kv)
	}
	attr := &os.ProcAttr{Dir: j.Dir, Env: env, Files: files, Sys: &syscall.SysProcAttr{Setpgid: true}}
	p, err := os.StartProcess(j.Cmd[0], j.Cmd, attr)
	if err != nil {
		outR.Close()
		return started{}, execError(j, err)
	}
	pid := p.Pid
	p.Release()
	logged := make(chan struct{})
	go copyOutput(s.log, j.Name, pid, outR, logged)
	done := make(chan string, 1)
	done <- ""
	return started{pid: pid, status: done, logged: logged}, nil
}

// directFiles opens stdin, stdout and stderr for a direct start: files
// relative to the job's dir, appended and created 0644; the log pipe else.
func (s *spawner) directFiles(j *confgrammar.Job) ([]*os.File, *os.File, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("live: output pipe: %w", err)
	}
	files := []*os.File{nil, outW, outW}
	specs := []struct {
		path  string
		flags int
	}{{j.In, os.O_RDONLY}, {logTarget(j.Out), os.O_WRONLY | os.O_CREATE | os.O_APPEND}, {logTarget(j.Err), os.O_WRONLY | os.O_CREATE | os.O_APPEND}}
	if specs[0].path == "" {
		specs[0].path = os.DevNull
	}
	for i, sp := range specs {
		if sp.path == "" {
			continue
		}
		f, err := os.OpenFile(inDir(j.Dir, sp.path), sp.flags, 0o644)
		if err != nil {
			closeAll(files)
			outR.Close()
			return nil, nil, fmt.Errorf("can't open/dup %s: %s", sp.path, strerror(err))
		}
		files[i] = f
	}
	return files, outR, nil
}

func closeAll(files []*os.File) {
	seen := map[*os.File]bool{}
	for _, f := range files {
		if f != nil && !seen[f] {
			seen[f] = true
			f.Close()
		}
	}
}

// inDir resolves a relative path as the job would see it after chdir.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// setVar sets VAR=VALUE in env, replacing an earlier value.
func setVar(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// execError words a failed direct start as C pmtr does.
func execError(j *confgrammar.Job, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("can't exec %s: %s", j.Cmd[0], strerror(err))
}

// startHelper launches the re-exec helper, which sets the job up in the C
// order and then execs it, reporting any failure on the status pipe.
func (s *spawner) startHelper(j *confgrammar.Job) (started, error) {
	env, err := s.helperEnv(j)
	if err != nil {
		return started{}, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return started{}, fmt.Errorf("live: status pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return started{}, fmt.Errorf("live: output pipe: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		closeAll([]*os.File{statusR, statusW, outR, outW})
		return started{}, fmt.Errorf("live: open %s: %w", os.DevNull, err)
	}
	attr := &os.ProcAttr{
		Env:   env,
		Files: []*os.File{devnull, outW, outW, statusW},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	p, err := os.StartProcess(s.self, []string{"pmtr", HelperArg}, attr)
	devnull.Close()
	outW.Close()
	statusW.Close()
	if err != nil {
		statusR.Close()
		outR.Close()
		return started{}, fmt.Errorf("live: start helper for job %s: %w", j.Name, err)
	}
	pid := p.Pid
	p.Release() // pmtr's reaper owns every wait; signals go to the group by number
	logged := make(chan struct{})
	go copyOutput(s.log, j.Name, pid, outR, logged)
	return started{pid: pid, status: readStatus(statusR), logged: logged}, nil
}

func readStatus(r *os.File) <-chan string {
	ch := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		r.Close()
		ch <- string(b)
	}()
	return ch
}

func (s *spawner) helperEnv(j *confgrammar.Job) ([]string, error) {
	spec := procSpec{
		Argv: j.Cmd, Dir: j.Dir, Env: j.Env, User: j.User, Nice: j.Nice, CPUs: j.CPUs,
		In: j.In, Out: logTarget(j.Out), Err: logTarget(j.Err), NrOpen: s.nrOpen, IsChild: true,
	}
	for _, u := range j.Ulimits {
		spec.Limits = append(spec.Limits, limit{Resource: u.Resource, Value: u.Value, Infinite: u.Infinite})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("live: encode spec of job %s: %w", j.Name, err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"="+string(b)), nil
}

// logTarget: "syslog" (or nothing) means pmtr's log, i.e. keep the pipe.
func logTarget(path string) string {
	if path == "syslog" {
		return ""
	}
	return path
}
