//go:build cgo && linux && amd64

package spawn

// A job's fork without Go's syscall.forkExec. Go's fork holds one of the
// runtime's Ps until the child's exec (a vfork), and then reads an exec
// status pipe whose write end every child forked meanwhile by another
// spawner has a copy of: on 2 cores a burst of starts left the cores idle
// 5 to 9% of the time, waiting on those (docs/BENCHMARKS.md). This path
// is a cgo call, during which the goroutine is in a system call's state
// (its P goes to other goroutines when the call lasts), and the child
// tells an exec failure through the memory it shares with its parent
// until its exec. It does what Go's child does for pmtr's direct and
// helper starts: signal handlers back to default (ignored signals stay
// ignored), process group, descriptors, directory, the soft limit on
// open files the Go runtime raised put back, the thread's signal mask,
// exec. Starts that ask for more fall back to Go's fork.

/*
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

struct pmtr_start {
	const char *path;
	char **argv;
	char **envp;
	const char *dir;
	int *fds;
	int nfds;
	int cgroup;          // the job's cgroup, or -1
	volatile int err;    // set by the child when it cannot exec
};

// The limit on open files pmtr was started with, taken before the Go
// runtime raises it (a constructor runs before Go's initialisation; a cgo
// package makes Go link externally, which runs it). Go raises a soft limit
// below hard-1 to hard-1, and its fork gives a job the limit back unless
// the limit is no longer the one it set (someone used prlimit on pmtr):
// pmtr_restore_nofile does the same. (Go also skips it once the program
// calls syscall.Setrlimit on it; pmtr's daemon never does.)
static struct rlimit pmtr_nofile;
static int pmtr_nofile_raised;

__attribute__((constructor)) static void pmtr_take_nofile(void) {
	pmtr_nofile_raised = getrlimit(RLIMIT_NOFILE, &pmtr_nofile) == 0 && pmtr_nofile.rlim_max > 0 &&
		pmtr_nofile.rlim_cur < pmtr_nofile.rlim_max - 1;
}

// Raw system calls only: the child runs on its own stack but shares the
// parent's memory and thread storage, so no libc call (errno) may run.
static inline long pmtr_sys(long n, long a, long b, long c, long d) {
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

struct pmtr_ksigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };

struct pmtr_child { struct pmtr_start *s; uint64_t mask; };

static int pmtr_child_main(void *arg) {
	struct pmtr_child *c = arg;
	struct pmtr_start *s = c->s;
	struct pmtr_ksigaction dfl = {0}, old;
	long e;
	for (long sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP) continue;
		if (pmtr_sys(SYS_rt_sigaction, sig, (long)&dfl, (long)&old, 8) == 0 && old.handler == SIG_IGN)
			pmtr_sys(SYS_rt_sigaction, sig, (long)&old, 0, 8);
	}
	if ((e = pmtr_sys(SYS_setpgid, 0, 0, 0, 0)) < 0) goto fail;
	for (int i = 0; i < s->nfds; i++) { // out of the way of the slots first
		if (s->fds[i] >= 0 && s->fds[i] < s->nfds) {
			if ((e = pmtr_sys(SYS_fcntl, s->fds[i], 1030, s->nfds, 0)) < 0) goto fail; // F_DUPFD_CLOEXEC
			s->fds[i] = (int)e;
		}
	}
	for (int i = 0; i < s->nfds; i++) {
		if (s->fds[i] < 0) pmtr_sys(SYS_close, i, 0, 0, 0);
		else if ((e = pmtr_sys(SYS_dup3, s->fds[i], i, 0, 0)) < 0) goto fail;
	}
	if (s->dir && (e = pmtr_sys(SYS_chdir, (long)s->dir, 0, 0, 0)) < 0) goto fail;
	if (pmtr_nofile_raised) {
		struct rlimit now;
		if (pmtr_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&now) < 0 ||
		    (now.rlim_cur == pmtr_nofile.rlim_max - 1 && now.rlim_max == pmtr_nofile.rlim_max))
			pmtr_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&pmtr_nofile, 0);
	}
	pmtr_sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&c->mask, 0, 8);
	e = pmtr_sys(SYS_execve, (long)s->path, (long)s->argv, (long)s->envp, 0);
fail:
	s->err = (int)-e;
	pmtr_sys(SYS_exit, 253, 0, 0, 0); // as Go's child
	return 0;
}

struct pmtr_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// clone3 that runs fn(arg) on the new stack in the child (which never
// returns here); the parent gets the pid or -errno.
static long pmtr_clone3(struct pmtr_clone_args *a, int (*fn)(void *), void *arg) {
	long ret;
	register void *r8 __asm__("r8") = (void *)fn;
	register void *r9 __asm__("r9") = arg;
	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"
		"mov %%r9, %%rdi\n\t"
		"call *%%r8\n\t"
		"mov $253, %%edi\n\t"
		"mov $60, %%eax\n\t"
		"syscall\n\t"
		"1:\n\t"
		: "=a"(ret)
		: "a"((long)SYS_clone3), "D"(a), "S"(sizeof(*a)), "r"(r8), "r"(r9)
		: "rcx", "r11", "memory");
	return ret;
}

#define PMTR_STACK (32 * 1024)

// pmtr_start_job forks and execs s: the pid, or -errno of the fork. The
// child's own failure is in s->err once this returns (CLONE_VFORK: the
// parent goes on only after the child's exec or exit).
static long pmtr_start_job(struct pmtr_start *s) {
	static __thread char *stack; // one per thread that starts jobs, kept
	if (!stack) {
		void *m = mmap(NULL, PMTR_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (m == MAP_FAILED) return -12; // ENOMEM
		stack = m;
	}
	uint64_t all = ~(uint64_t)0, mask;
	pmtr_sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&mask, 8); // no handler runs in the child
	struct pmtr_child c = { s, mask };
	struct pmtr_clone_args a = {0};
	a.flags = 0x100 | 0x4000; // CLONE_VM | CLONE_VFORK
	if (s->cgroup >= 0) {
		a.flags |= 0x200000000ULL; // CLONE_INTO_CGROUP
		a.cgroup = (uint64_t)s->cgroup;
	}
	a.exit_signal = SIGCHLD;
	a.stack = (uint64_t)(uintptr_t)stack;
	a.stack_size = PMTR_STACK;
	s->err = 0;
	long pid = pmtr_clone3(&a, pmtr_child_main, &c);
	pmtr_sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&mask, 0, 8);
	return pid;
}
*/
import "C"

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneOff: clone3 failed with ENOSYS or EPERM, as on kernels before 5.3
// and under seccomp profiles that refuse it (containers): Go's fork, which
// uses clone there, then starts every job.
var cloneOff atomic.Bool

// cloneStart starts l as Go's fork would; ok is false when it did not (the
// start asks for more than this path does, or the fork itself failed), and
// the caller then uses Go's fork, whose errors are the ones pmtr reports.
// An exec failure is the job's: ok, with its errno, as syscall.StartProcess
// returns it.
func (l *launch) cloneStart(fds []uintptr) (pid int, ok bool, err error) {
	if cloneOff.Load() || !plainAttr(l.attr.Sys) {
		return 0, false, nil
	}
	a := newCArgs(l, fds)
	var pin runtime.Pinner
	defer pin.Unpin()
	s := a.pin(&pin)
	r := C.pmtr_start_job(s)
	runtime.KeepAlive(a)
	switch {
	case r < 0:
		if e := syscall.Errno(-r); e == unix.ENOSYS || e == unix.EPERM {
			cloneOff.Store(true)
		}
		return 0, false, nil
	case s.err != 0:
		var ws unix.WaitStatus // the child exited: reap it (the reaper may have)
		for {
			if _, err := unix.Wait4(int(r), &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		return 0, true, syscall.Errno(s.err) // fork words it, as it does Go's
	}
	return int(r), true, nil
}

// plainAttr: the start needs only what cloneStart does (a process group
// of its own, a cgroup).
func plainAttr(s *syscall.SysProcAttr) bool {
	return s != nil && s.Setpgid && s.Pgid == 0 && s.Chroot == "" && s.Credential == nil && !s.Ptrace &&
		!s.Setsid && !s.Setctty && !s.Noctty && !s.Foreground && s.Pdeathsig == 0 && s.Cloneflags == 0 &&
		s.Unshareflags == 0 && len(s.UidMappings) == 0 && len(s.GidMappings) == 0 && len(s.AmbientCaps) == 0 &&
		s.PidFD == nil
}

// cArgs is a start's strings in Go memory, NUL-terminated in one block,
// and the C view of them; pin keeps them where C sees them until the fork
// returns.
type cArgs struct {
	blob          []byte
	argvAt, envAt []int // offsets in blob
	argv, envp    []*C.char
	fds           []C.int
	path, dir     int // offsets in blob; dir -1: none
	cgroup        int
	start         *C.struct_pmtr_start
}

func newCArgs(l *launch, fds []uintptr) *cArgs {
	a := &cArgs{dir: -1, cgroup: -1}
	n := len(l.path) + len(l.attr.Dir) + 2
	for _, s := range l.argv {
		n += len(s) + 1
	}
	for _, s := range l.attr.Env {
		n += len(s) + 1
	}
	a.blob = make([]byte, 0, n)
	a.path = a.add(l.path)
	if l.attr.Dir != "" {
		a.dir = a.add(l.attr.Dir)
	}
	for _, s := range l.argv {
		a.argvAt = append(a.argvAt, a.add(s))
	}
	for _, s := range l.attr.Env {
		a.envAt = append(a.envAt, a.add(s))
	}
	for _, f := range fds {
		a.fds = append(a.fds, C.int(int32(f))) // ^0, a nil file, is -1: closed in the child
	}
	if l.attr.Sys.UseCgroupFD {
		a.cgroup = l.attr.Sys.CgroupFD
	}
	return a
}

func (a *cArgs) add(s string) int {
	at := len(a.blob)
	a.blob = append(append(a.blob, s...), 0)
	return at
}

// pin fills the C view: pointers into the pinned blob, argv and envp
// NULL-terminated.
func (a *cArgs) pin(p *runtime.Pinner) *C.struct_pmtr_start {
	p.Pin(&a.blob[0])
	s := new(C.struct_pmtr_start)
	a.start = s
	s.path = a.at(a.path)
	if a.dir >= 0 {
		s.dir = a.at(a.dir)
	}
	a.argv, s.argv = a.strings(p, a.argvAt)
	a.envp, s.envp = a.strings(p, a.envAt)
	if len(a.fds) > 0 {
		p.Pin(&a.fds[0])
		s.fds, s.nfds = &a.fds[0], C.int(len(a.fds))
	}
	s.cgroup = C.int(a.cgroup)
	p.Pin(s)
	return s
}

func (a *cArgs) at(off int) *C.char { return (*C.char)(unsafe.Pointer(&a.blob[off])) }

// strings is a NULL-terminated array of the strings at offs, pinned.
func (a *cArgs) strings(p *runtime.Pinner, offs []int) ([]*C.char, **C.char) {
	v := make([]*C.char, len(offs)+1)
	for i, off := range offs {
		v[i] = a.at(off)
	}
	p.Pin(&v[0])
	return v, &v[0]
}
