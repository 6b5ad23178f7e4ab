package spawn

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"pmtr/live/hostfacts"
)

// HelperArg is argv[1] of the hidden re-exec helper. Go has no hook between
// fork and exec, so pmtr starts itself in this mode; the helper sets up the
// process the C way and then execs the job, keeping its pid.
const HelperArg = "__pmtr_exec_helper"

// helperEnv carries the job's spec (JSON) to the helper; removed before exec.
const helperEnv = "PMTR_HELPER_SPEC"

// statusFD is the helper's end of the status pipe: close-on-exec, so the
// daemon reads EOF on success and one error line on failure. A job that
// inherits a readiness descriptor 3 (ready fd 3) has it at 4 instead, as
// helperStatusEnv says.
const statusFD = 3

// helperStatusEnv names the status pipe's descriptor when it is not 3.
const helperStatusEnv = "PMTR_HELPER_STATUS_FD"

// procSpec is everything the helper needs, resolved by the daemon.
type procSpec struct {
	Argv    []string
	Dir     string
	Env     []string // VAR=VALUE from the config, applied in order
	User    string
	Nice    int
	CPUs    []int
	Limits  []limit
	In      string // "" = /dev/null
	Out     string // "" = keep fd 1 (pmtr's log pipe)
	Err     string // "" = keep fd 2
	NrOpen  uint64 // the kernel's NOFILE maximum, for "-n infinity"
	IsChild bool   // set by the daemon; guards against running the helper by hand
}

type limit struct {
	Resource int
	Value    uint64
	Infinite bool
}

// RunHelper is the helper's main. It returns only on failure, with the exit
// status 255, after writing the reason to the status pipe.
func RunHelper() int {
	fd := statusFD
	if n, err := strconv.Atoi(os.Getenv(helperStatusEnv)); err == nil && n > statusFD {
		fd = n
	}
	status := os.NewFile(uintptr(fd), "status")
	var spec procSpec
	fail := func(msg string) int {
		if status != nil {
			status.WriteString(msg)
		}
		if spec.Err != "" && strings.HasPrefix(msg, "can't exec") {
			// As in C pmtr, an exec failure also lands in the job's err file.
			fmt.Fprintf(os.Stderr, "pmtr[%d]: %s\n", os.Getpid(), msg)
		}
		return 255
	}
	if err := json.Unmarshal([]byte(os.Getenv(helperEnv)), &spec); err != nil || !spec.IsChild {
		return fail("pmtr: internal helper started without a job spec")
	}
	syscall.CloseOnExec(fd)
	os.Unsetenv(helperEnv)
	os.Unsetenv(helperStatusEnv)
	if msg := setup(&spec); msg != "" {
		return fail(msg)
	}
	err := syscall.Exec(spec.Argv[0], spec.Argv, os.Environ())
	return fail(fmt.Sprintf("can't exec %s: %s", spec.Argv[0], hostfacts.Strerror(err)))
}

// setup applies the job's settings in the order of C pmtr; it returns the
// log line of the first failure, or "".
func setup(s *procSpec) string {
	if s.Dir != "" {
		if err := os.Chdir(s.Dir); err != nil {
			return fmt.Sprintf("can't chdir %s: %s", s.Dir, hostfacts.Strerror(err))
		}
	}
	u, msg := lookupUser(s.User)
	if msg != "" {
		return msg
	}
	setEnv(s.Env, u)
	for _, step := range []func(*procSpec) string{setNice, setAffinity, setLimits} {
		if msg := step(s); msg != "" {
			return msg
		}
	}
	syscall.Umask(0o022)
	resetSignals()
	if u != nil {
		if msg := becomeUser(u); msg != "" {
			return msg
		}
	}
	return redirect(s)
}

func lookupUser(name string) (*user.User, string) {
	if name == "" {
		return nil, ""
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, "unknown user: " + name
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Sprintf("can't run as user %s: pmtr is not running as root (remove the user line or run pmtr as root)", name)
	}
	return u, ""
}

// setEnv applies the config's env lines over pmtr's environment; with a
// user, HOME, USER and LOGNAME are that user's unless env sets them.
func setEnv(env []string, u *user.User) {
	if u != nil {
		os.Setenv("HOME", u.HomeDir)
		os.Setenv("USER", u.Username)
		os.Setenv("LOGNAME", u.Username)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
}

// setNice only changes the priority when the config asks, so a pmtr that
// itself runs niced can still start jobs (C pmtr could not, B17).
func setNice(s *procSpec) string {
	if s.Nice == 0 {
		return ""
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, s.Nice); err != nil {
		return "can't setpriority: " + hostfacts.Strerror(err)
	}
	return ""
}

func setAffinity(s *procSpec) string {
	if len(s.CPUs) == 0 {
		return ""
	}
	var set unix.CPUSet
	for _, c := range s.CPUs {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return "can't set cpu affinity: " + hostfacts.Strerror(err)
	}
	return ""
}

// setLimits sets soft = hard for each ulimit, in order. syscall.Setrlimit
// (not unix.Setrlimit) tells the Go runtime not to restore its own NOFILE
// soft limit at exec.
func setLimits(s *procSpec) string {
	for _, l := range s.Limits {
		v := l.Value
		if l.Infinite {
			v = unix.RLIM_INFINITY
			if l.Resource == unix.RLIMIT_NOFILE {
				v = s.NrOpen
			}
		}
		lim := syscall.Rlimit{Cur: v, Max: v}
		if err := syscall.Setrlimit(l.Resource, &lim); err != nil {
			return "can't setrlimit: " + hostfacts.Strerror(err)
		}
	}
	return ""
}

// resetSignals unblocks every signal; the exec resets caught ones to default.
func resetSignals() {
	var none unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_SETMASK, &none, nil)
}

func becomeUser(u *user.User) string {
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				groups = append(groups, n)
			}
		}
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Sprintf("can't setgid %s: %s", u.Username, hostfacts.Strerror(err))
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Sprintf("can't initgroups %s: %s", u.Username, hostfacts.Strerror(err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Sprintf("can't setuid %s: %s", u.Username, hostfacts.Strerror(err))
	}
	return ""
}

// redirect opens in, out and err as the job's user (after the switch, so
// that user's permissions apply), appending and creating with mode 0644.
func redirect(s *procSpec) string {
	in := s.In
	if in == "" {
		in = os.DevNull
	}
	files := []struct {
		path  string
		fd    int
		flags int
	}{
		{in, 0, os.O_RDONLY},
		{s.Out, 1, os.O_WRONLY | os.O_CREATE | os.O_APPEND},
		{s.Err, 2, os.O_WRONLY | os.O_CREATE | os.O_APPEND},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fd, err := syscall.Open(f.path, f.flags|syscall.O_CLOEXEC, 0o644)
		if err == nil {
			err = syscall.Dup3(fd, f.fd, 0)
			syscall.Close(fd)
		}
		if err != nil {
			return fmt.Sprintf("can't open/dup %s: %s", f.path, hostfacts.Strerror(err))
		}
	}
	return ""
}
