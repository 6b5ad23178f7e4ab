package spawn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/live/hostfacts"
)

// Launcher readies each job's fork: a direct exec, or through the re-exec
// helper. Its fields are set before the first start and only read after.
type Launcher struct {
	self   string // path of the pmtr binary (the helper)
	nrOpen uint64
	log    Logger
	split  bool     // the log keeps priorities: a job's stderr gets a pipe of its own
	env    []string // pmtr's environment, read once: jobs share it unless they set variables
	null   nullFiles
}

// NewLauncher finds pmtr's own binary (the exec helper) and the kernel's
// limit on open files. Call it first: a pmtr that cannot start jobs fails
// before it changes anything.
func NewLauncher() (*Launcher, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("live: find own binary for the exec helper: %w", err)
	}
	s := &Launcher{self: self, nrOpen: 1 << 20, env: os.Environ(), null: openNull()}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s.nrOpen = n
		}
	}
	return s, nil
}

// launch is a job ready to fork: what to run, the child's files (closed
// in pmtr after the fork) and pmtr's ends of its pipes.
type launch struct {
	path   string
	argv   []string
	attr   *os.ProcAttr
	child  []*os.File
	out    *os.File // read end of the output pipe, or nil: output goes to files
	errOut *os.File // read end of a separate stderr pipe (the log keeps priorities), or nil
	status *os.File // read end of the helper's status pipe, or nil: direct exec
	errf   func(error) error
}

// start forks; the caller counts it in procTable.forking. A fork into a cgroup that
// fails (a kernel without clone3) is tried again without.
func (l *launch) start() (int, error) {
	pid, err := l.fork()
	if err != nil && l.attr.Sys.UseCgroupFD && (errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL)) {
		l.attr.Sys.UseCgroupFD = false
		pid, err = l.fork()
	}
	closeAll(l.child)
	if err != nil {
		closeAll([]*os.File{l.out, l.errOut, l.status})
		return 0, l.errf(err)
	}
	return pid, nil
}

// fork is os.StartProcess without the process handle: pmtr's reaper owns
// every wait and signals go to the group by number, so the pidfd that
// os.StartProcess asks the clone for (and its copy of the attributes, and
// the Process) would only be made and closed again on every start. Where
// it can, the fork is pmtr's own (cloneStart), else Go's.
func (l *launch) fork() (int, error) {
	fds := l.fds()
	pid, ok, err := l.cloneStart(fds)
	if !ok {
		pid, _, err = syscall.StartProcess(l.path, l.argv, &syscall.ProcAttr{Dir: l.attr.Dir, Env: l.attr.Env, Files: fds, Sys: l.attr.Sys})
	}
	runtime.KeepAlive(l.attr) // its files stay open until the fork is done
	if err != nil {
		return 0, &os.PathError{Op: "fork/exec", Path: l.path, Err: err} // worded as os.StartProcess does
	}
	return pid, nil
}

// fds is the child's descriptors by number, as the fork takes them: ^0
// for a nil file, closed in the child.
func (l *launch) fds() []uintptr {
	fds := make([]uintptr, len(l.attr.Files))
	for i, f := range l.attr.Files {
		fds[i] = f.Fd()
	}
	return fds
}

// needsHelper: the job asks for settings that must be made between fork
// and exec (Go has no hook there), or files opened as another user.
func needsHelper(j *confgrammar.Job) bool {
	return j.User != "" || j.Nice != 0 || len(j.CPUs) > 0 || len(j.Ulimits) > 0
}

// prepare readies job j's start: a direct exec when it needs no pre-exec
// setup (the common, fast case), else through the helper. A FIFO as in,
// out or err also goes through the helper, so that the open that waits for
// the other end happens in the job's process, never in pmtr.
func (s *Launcher) prepare(j *confgrammar.Job, n StartNotice) (*launch, error) {
	fifos := s.fifoFiles(j)
	for _, f := range fifos {
		s.log.Log(core.Log{Level: core.Info, Text: fmt.Sprintf("job %s: %s; the job waits until its other end is opened", j.Name, f)})
	}
	if needsHelper(j) || len(fifos) > 0 || s.onNetworkFS(j) {
		return s.prepareHelper(j, n)
	}
	return s.prepareDirect(j, n)
}

// withNotice gives the child the readiness descriptor at n.FD (the slots
// between stay closed in the child), keeping the others where they are.
func withNotice(files []*os.File, n StartNotice) []*os.File {
	if n.File == nil {
		return files
	}
	for len(files) <= n.FD {
		files = append(files, nil)
	}
	files[n.FD] = n.File
	return files
}

// onNetworkFS: the job's program, dir or files are on a network (or FUSE)
// file system. Such a job is started through the helper: Go's fork waits
// for the child's exec while holding one of the runtime's processors, so
// an exec that hangs on a server that does not answer would stop pmtr; the
// helper, a local program, returns at once, then opens the job's files and
// execs its program in the job's own process, where a hang stops only it.
func (s *Launcher) onNetworkFS(j *confgrammar.Job) bool {
	paths := []string{hostfacts.InDir(j.Dir, j.Cmd[0])}
	if j.Dir != "" {
		paths = append(paths, j.Dir)
	}
	for _, f := range []string{j.In, j.OutFile(), j.ErrFile()} {
		if f != "" && !s.null.is(hostfacts.InDir(j.Dir, f)) {
			paths = append(paths, filepath.Dir(hostfacts.InDir(j.Dir, f))) // out and err may not exist yet
		}
	}
	for _, p := range paths {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && networkFS[uint32(st.Type)] {
			return true
		}
	}
	return false
}

var networkFS = map[uint32]bool{unix.NFS_SUPER_MAGIC: true, unix.SMB_SUPER_MAGIC: true, unix.SMB2_SUPER_MAGIC: true,
	unix.CIFS_SUPER_MAGIC: true, unix.FUSE_SUPER_MAGIC: true, unix.CEPH_SUPER_MAGIC: true, unix.AFS_SUPER_MAGIC: true,
	unix.AFS_FS_MAGIC: true, unix.V9FS_MAGIC: true, unix.CODA_SUPER_MAGIC: true, unix.NCP_SUPER_MAGIC: true,
	unix.OCFS2_SUPER_MAGIC: true}

// fifoFiles names the job's in, out and err files that are FIFOs.
func (s *Launcher) fifoFiles(j *confgrammar.Job) []string {
	var out []string
	for _, f := range []struct{ what, path string }{{"in", j.In}, {"out", j.OutFile()}, {"err", j.ErrFile()}} {
		if f.path == "" || s.null.is(hostfacts.InDir(j.Dir, f.path)) {
			continue
		}
		var st unix.Stat_t // not os.Stat: no garbage per start in a burst of thousands
		if unix.Stat(hostfacts.InDir(j.Dir, f.path), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			out = append(out, fmt.Sprintf("%s %s is a FIFO", f.what, f.path))
		}
	}
	return out
}

// needsPipe: some of the job's output goes to pmtr's log.
func needsPipe(j *confgrammar.Job) bool { return j.OutFile() == "" || j.ErrFile() == "" }

// prepareDirect: the job's program is exec'd by the fork itself; exec
// errors come back from StartProcess, worded as C pmtr's child did.
func (s *Launcher) prepareDirect(j *confgrammar.Job, n StartNotice) (*launch, error) {
	if j.Dir != "" { // StartProcess would word a bad dir as an exec error
		var st unix.Stat_t
		if err := unix.Stat(j.Dir, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err == nil {
				err = syscall.ENOTDIR
			}
			return nil, fmt.Errorf("can't chdir %s: %w", j.Dir, hostfacts.Worded(err))
		}
	}
	files, outR, err := s.directFiles(j)
	if err != nil {
		return nil, err
	}
	errR, err := s.splitStderr(j, files)
	if err != nil {
		closeAll(s.null.owned(append(files, outR)))
		return nil, err
	}
	env := s.env // StartProcess only reads it
	if len(j.Env) > 0 || len(n.Env) > 0 {
		env = slices.Clone(env)
		for _, kv := range append(slices.Clone(j.Env), n.Env...) {
			env = setVar(env, kv)
		}
	}
	files = withNotice(files, n)
	attr := &os.ProcAttr{Dir: j.Dir, Env: env, Files: files, Sys: &syscall.SysProcAttr{Setpgid: true}}
	return &launch{path: j.Cmd[0], argv: j.Cmd, attr: attr, child: s.null.owned(files), out: outR, errOut: errR,
		errf: func(err error) error { return execError(j, err) }}, nil
}

// directFiles opens stdin, stdout and stderr for a direct start: files
// relative to the job's dir, appended and created 0644; the log pipe else.
// Opens never wait (O_NONBLOCK), whatever the file turned out to be. The
// null device is the one pmtr holds (nullFiles), not opened again.
func (s *Launcher) directFiles(j *confgrammar.Job) ([]*os.File, *os.File, error) {
	files := []*os.File{nil, nil, nil}
	var outR *os.File
	if needsPipe(j) {
		r, w, err := outputPipe()
		if err != nil {
			return nil, nil, fmt.Errorf("live: output pipe: %w", err)
		}
		outR, files[1], files[2] = r, w, w
	}
	specs := []struct {
		path  string
		flags int
	}{{j.In, os.O_RDONLY}, {j.OutFile(), os.O_WRONLY | os.O_CREATE | os.O_APPEND}, {j.ErrFile(), os.O_WRONLY | os.O_CREATE | os.O_APPEND}}
	if specs[0].path == "" {
		specs[0].path = os.DevNull
	}
	for i, sp := range specs {
		if sp.path == "" {
			continue
		}
		path := hostfacts.InDir(j.Dir, sp.path)
		if f := s.null.file(path, i > 0); f != nil {
			files[i] = f
			continue
		}
		f, err := openNoWait(path, sp.flags)
		if err != nil {
			closeAll(s.null.owned(append(files, outR)))
			return nil, nil, fmt.Errorf("can't open/dup %s: %w", sp.path, hostfacts.Worded(err))
		}
		files[i] = f
	}
	return files, outR, nil
}

// splitStderr gives the job's stderr a pipe of its own when both its
// streams go to a log that keeps priorities (journal, syslog): files[2] is
// replaced and the read end returned; else nil.
func (s *Launcher) splitStderr(j *confgrammar.Job, files []*os.File) (*os.File, error) {
	if !s.split || j.OutFile() != "" || j.ErrFile() != "" {
		return nil, nil
	}
	r, w, err := outputPipe()
	if err != nil {
		return nil, fmt.Errorf("live: stderr pipe: %w", err)
	}
	files[2] = w
	return r, nil
}

// outputPipe makes a pipe for a job's output. Unlike os.Pipe, its ends
// stay out of Go's poller (about 0.3 kB per job): the output reader polls
// the read end itself, and the job gets the write end.
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

// nullFiles is the null device, opened once by pmtr for reading and once
// for appending, and given to every direct start that has it as stdin
// (pmtr's default), out or err: opening it for each start cost up to seven
// system calls a file (a stat for a FIFO, a statfs for a network file
// system, the open, two fcntl, the poller's try and the close). The jobs
// share its open file description, which changes nothing they can see of
// the null device: it has no offset or data, and its flags change nothing.
// Both are nil when /dev/null is not the null device: each start opens it.
type nullFiles struct{ r, w *os.File }

func openNull() nullFiles {
	r, errR := os.OpenFile(os.DevNull, os.O_RDONLY, 0)
	w, errW := os.OpenFile(os.DevNull, os.O_WRONLY|os.O_APPEND, 0)
	var st unix.Stat_t
	if errR != nil || errW != nil || unix.Fstat(int(w.Fd()), &st) != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		closeAll([]*os.File{r, w})
		return nullFiles{}
	}
	return nullFiles{r: r, w: w}
}

// is: path is the null device pmtr holds.
func (n nullFiles) is(path string) bool { return n.r != nil && path == os.DevNull }

// file is pmtr's null device for path (write: for out or err), or nil.
func (n nullFiles) file(path string, write bool) *os.File {
	switch {
	case !n.is(path):
		return nil
	case write:
		return n.w
	}
	return n.r
}

// owned drops the null device from a start's files: pmtr keeps it open.
func (n nullFiles) owned(files []*os.File) []*os.File {
	out := make([]*os.File, 0, len(files))
	for _, f := range files {
		if f != n.r && f != n.w || f == nil {
			out = append(out, f)
		}
	}
	return out
}

// openNoWait opens without waiting for a FIFO's other end or a device,
// then gives the job a blocking descriptor as usual.
func openNoWait(path string, flags int) (*os.File, error) {
	f, err := os.OpenFile(path, flags|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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
	return fmt.Errorf("can't exec %s: %w", j.Cmd[0], hostfacts.Worded(err))
}

// prepareHelper readies the re-exec helper, which sets the job up in the C
// order and then execs it, reporting any failure on the status pipe.
func (s *Launcher) prepareHelper(j *confgrammar.Job, n StartNotice) (*launch, error) {
	env, err := s.helperEnv(j, n)
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("live: status pipe: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		closeAll([]*os.File{statusR, statusW})
		return nil, fmt.Errorf("live: open %s: %w", os.DevNull, err)
	}
	outR, outW := (*os.File)(nil), devnull
	if needsPipe(j) {
		if outR, outW, err = outputPipe(); err != nil {
			closeAll([]*os.File{statusR, statusW, devnull})
			return nil, fmt.Errorf("live: output pipe: %w", err)
		}
	}
	files := []*os.File{devnull, outW, outW, statusW}
	errR, err := s.splitStderr(j, files)
	if err != nil {
		closeAll(append(files, statusR, outR))
		return nil, err
	}
	if n.File != nil && n.FD == statusFD { // the job's descriptor takes 3: the status pipe moves up
		files = append(files[:statusFD], n.File, statusW)
		env = append(env, helperStatusEnv+"="+strconv.Itoa(statusFD+1))
	} else {
		files = withNotice(files, n)
	}
	attr := &os.ProcAttr{Env: env, Files: files, Sys: &syscall.SysProcAttr{Setpgid: true}}
	return &launch{path: s.self, argv: []string{"pmtr", HelperArg}, attr: attr,
		child: files, out: outR, errOut: errR, status: statusR,
		errf: func(err error) error { return fmt.Errorf("live: start the exec helper: %w", err) }}, nil
}

// readStatus reads the helper's status: "" once the job's program runs
// (the pipe closes at exec), else the reason it could not be started.
func readStatus(r *os.File) string {
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	return string(b)
}

func (s *Launcher) helperEnv(j *confgrammar.Job, n StartNotice) ([]string, error) {
	spec := procSpec{
		Argv: j.Cmd, Dir: j.Dir, Env: append(slices.Clone(j.Env), n.Env...), User: j.User, Nice: j.Nice, CPUs: j.CPUs,
		In: j.In, Out: j.OutFile(), Err: j.ErrFile(), NrOpen: s.nrOpen, IsChild: true,
	}
	for _, u := range j.Ulimits {
		spec.Limits = append(spec.Limits, limit{Resource: u.Resource, Value: u.Value, Infinite: u.Infinite})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("live: encode the job's spec: %w", err)
	}
	env := []string{}
	for _, kv := range s.env {
		if !strings.HasPrefix(kv, helperEnv+"=") && !strings.HasPrefix(kv, helperStatusEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"="+string(b)), nil
}
