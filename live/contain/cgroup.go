package contain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/live/hostfacts"
)

// cgroups contains each job in a cgroup v2 of its own, under a subtree
// pmtr makes below its own cgroup (pmtr-HASH, per config file). A stop then
// reaches every process of the job, daemons that called setsid included,
// and what an earlier pmtr left there is found at start. Without a
// writable cgroup v2, base is "" and jobs are contained by process group
// only.
type cgroups struct {
	base   string
	mnt    string // where the cgroup v2 hierarchy is mounted
	log    Logger
	mu     sync.Mutex
	made   map[string]bool // job cgroup directories made by this pmtr
	memory bool            // the memory controller is on for the job cgroups
	ooms   map[string]int  // OOM kills seen, by job name
	// busy has a lock of its own: the driver goroutine takes it to count a
	// signalling, and must not wait behind the mkdir and open that fd does
	// under mu.
	busyMu sync.Mutex
	busy   map[string]int // signallings in flight, by job name
	calm   *sync.Cond     // on busyMu: a job's signallings are all done
	// base and its cgroup.events, opened at the first start (baseFDs),
	// under mu.
	baseOpened          bool
	baseDir, baseEvents int
}

func newCgroups(log Logger) *cgroups {
	c := &cgroups{log: log, made: map[string]bool{}, ooms: map[string]int{}, busy: map[string]int{}}
	c.calm = sync.NewCond(&c.busyMu)
	return c
}

// setupCgroups finds pmtr's cgroup and makes its subtree, or says in the
// log why containment is by process group only.
func setupCgroups(configPath string, log Logger, adopt bool) *cgroups {
	c := newCgroups(log)
	if os.Getenv("PMTR_NO_CGROUPS") != "" {
		if !adopt { // the pmtr before an upgrade said it already
			log.Logf(core.Info, "containment is by process group only: PMTR_NO_CGROUPS is set")
		}
		return c
	}
	mnt, base, err := cgroupBase(configPath)
	if err == nil {
		err = os.Mkdir(base, 0o755)
		if errors.Is(err, os.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		log.Logf(core.Info, "containment is by process group only: %v", err)
		return c
	}
	c.base, c.mnt = base, mnt
	if !adopt {
		c.reapLeftovers()
	}
	c.leaveOwnCgroup()
	c.memory = c.enableMemory(!adopt) // the pmtr before an upgrade said it already
	return c
}

// leaveOwnCgroup moves pmtr into a leaf of its subtree (base/supervisor)
// when it is alone in its cgroup (a systemd service with Delegate=yes, a
// container): cgroup v2 hands controllers down only from cgroups without
// processes. In the root cgroup, or beside other processes (a login
// shell's), pmtr stays where it is.
func (c *cgroups) leaveOwnCgroup() {
	own := filepath.Dir(c.base)
	if mnt, _ := cgroup2Mount(); own == mnt {
		return
	}
	if pids := cgroupPIDs(own); len(pids) != 1 || pids[0] != os.Getpid() {
		return
	}
	leaf := filepath.Join(c.base, "supervisor")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		c.log.Logf(core.Info, "can't move pmtr into %s (%v): the memory controller stays off for its jobs", leaf, err)
	}
}

// enableMemory turns on the memory controller for the job cgroups, so an
// OOM kill can be told from a plain SIGKILL; false where it is not
// available to pmtr (pmtr's own cgroup must hand it down).
func (c *cgroups) enableMemory(say bool) bool {
	ctl := filepath.Join(c.base, "cgroup.subtree_control")
	if os.WriteFile(ctl, []byte("+memory"), 0) == nil {
		return true
	}
	os.WriteFile(filepath.Join(filepath.Dir(c.base), "cgroup.subtree_control"), []byte("+memory"), 0)
	if os.WriteFile(ctl, []byte("+memory"), 0) == nil {
		return true
	}
	if say {
		c.log.Logf(core.Info, "the memory controller is not available to pmtr's cgroup: a job the OOM killer ends shows as signal 9")
	}
	return false
}

// oomKills is the job's count of OOM kills so far (memory.events).
func (c *cgroups) oomKills(job string) int {
	if !c.memory {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(c.dir(job), "memory.events"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// oomKilled reports whether the job had an OOM kill since last asked.
func (c *cgroups) oomKilled(job string) bool {
	n := c.oomKills(job)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.ooms[job]
	c.ooms[job] = n
	return n > seen
}

// cgroupBase is pmtr's subtree for configPath: below pmtr's own cgroup in
// the cgroup v2 hierarchy (on hybrid hosts mounted at /sys/fs/cgroup/unified).
func cgroupBase(configPath string) (mnt, base string, err error) {
	if mnt, err = cgroup2Mount(); err != nil {
		return "", "", err
	}
	rel, err := cgroupOf("self")
	if err != nil {
		return "", "", err
	}
	name := "pmtr-" + hostfacts.ConfigHash(configPath)
	if filepath.Base(rel) == "supervisor" && filepath.Base(filepath.Dir(rel)) == name {
		rel = filepath.Dir(filepath.Dir(rel)) // this pmtr moved itself there (leaveOwnCgroup), then execed (pmtr upgrade)
	}
	return mnt, filepath.Join(mnt, rel, name), nil
}

// cgroupOf is the cgroup v2 path of a process ("self" or a pid), relative
// to the hierarchy's root.
func cgroupOf(proc string) (string, error) {
	b, err := os.ReadFile("/proc/" + proc + "/cgroup")
	if err != nil {
		return "", fmt.Errorf("can't read /proc/%s/cgroup: %w", proc, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(l, "0::"); ok {
			return rel, nil
		}
	}
	return "", fmt.Errorf("process %s is in no cgroup v2 (no 0:: line in /proc/%s/cgroup)", proc, proc)
}

// holds: pid is in the job's cgroup, or below it.
func (c *cgroups) holds(job string, pid int) bool {
	if c.base == "" || pid <= 0 {
		return false
	}
	rel, err := cgroupOf(strconv.Itoa(pid))
	if err != nil {
		return false
	}
	at, dir := filepath.Join(c.mnt, rel), c.dir(job)
	return at == dir || strings.HasPrefix(at, dir+"/")
}

func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if ok && strings.HasPrefix(post, "cgroup2 ") {
			if fields := strings.Fields(pre); len(fields) >= 5 {
				return fields[4], nil
			}
		}
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}

// dir is a job's cgroup: "job-" and its name, escaped to a safe file name.
func (c *cgroups) dir(job string) string {
	return filepath.Join(c.base, leaf(job))
}

// leaf is the name of a job's cgroup in base: "job-" and the job's name,
// escaped to a safe file name.
func leaf(job string) string {
	var b strings.Builder
	b.WriteString("job-")
	for i := 0; i < len(job); i++ {
		ch := job[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.' && i > 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02x", ch)
		}
	}
	name := b.String()
	if len(name) > 204 {
		name = name[:184] + "~" + hostfacts.ConfigHash(job)
	}
	return name
}

// baseFDs opens base, and its cgroup.events, once: a start makes and
// opens its job's cgroup relative to base (a shorter path walk than from
// /), and a freshly made cgroup is frozen exactly when base is, which one
// pread of base's cgroup.events tells (1 call instead of 3 to open, read
// and close the job's own). Both are closed by close. -1 where they
// cannot be opened; callers then use paths.
func (c *cgroups) baseFDs() (dir, events int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.baseOpened {
		c.baseOpened = true
		c.baseDir, c.baseEvents = -1, -1
		if fd, err := unix.Open(c.base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			c.baseDir = fd
			if ev, err := unix.Openat(fd, "cgroup.events", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				c.baseEvents = ev
			}
		}
	}
	return c.baseDir, c.baseEvents
}

// open opens (making it if needed) a job's cgroup, for the fork to start
// the job in it; -1 when there is none. made says this call made it. The
// caller closes it after the fork: a running job costs pmtr no descriptor
// (10 000 jobs must fit a limit of 4096 open files when their output goes
// to files).
func (c *cgroups) open(job string) (fd int, made bool) {
	if c.base == "" {
		return -1, false
	}
	c.busyMu.Lock()
	for c.busy[job] > 0 {
		c.calm.Wait()
	}
	c.busyMu.Unlock()
	at, _ := c.baseFDs()
	name := leaf(job)
	if at < 0 {
		at, name = unix.AT_FDCWD, c.dir(job)
	}
	c.mu.Lock()
	had := c.made[job]
	c.mu.Unlock()
	if !had {
		err := unix.Mkdirat(at, name, 0o755)
		if err != nil && err != unix.EEXIST {
			c.log.Logf(core.Error, "job %s: can't make its cgroup %s: %v; contained by process group only", job, c.dir(job), err)
			return -1, false
		}
		made = err == nil
		c.mu.Lock()
		c.made[job] = true
		c.mu.Unlock()
	}
	fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	return fd, made
}

// frozen returns the job's cgroup when it is frozen (by an administrator,
// or an ancestor's freeze), else "". A process forked into a frozen cgroup
// stops before its exec, and Go's fork waits for that exec while holding
// one of the runtime's processors: two such starts stop all of pmtr. fd is
// the job's cgroup as open returned it, made whether open made it: a new
// cgroup can only be frozen through base, so base's cgroup.events is read
// (one pread); else the job's own, relative to fd, with plain system calls
// (os.ReadFile would put the file in Go's poller and take 9 calls instead
// of 3 on every start of a burst). Either is a look just before the fork:
// a freeze that lands after it still stops that start (the stuck-start
// watch of the spawn pool then logs it).
func (c *cgroups) frozen(job string, fd int, made bool) string {
	var buf [256]byte // "populated N\nfrozen N\n": the file is read whole at once
	var n int
	var err error
	if _, events := c.baseFDs(); made && events >= 0 {
		n, err = unix.Pread(events, buf[:], 0)
	} else {
		ev, oerr := unix.Openat(fd, "cgroup.events", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if oerr != nil {
			return ""
		}
		n, err = unix.Read(ev, buf[:])
		unix.Close(ev)
	}
	if err != nil || n <= 0 {
		return ""
	}
	if hasLine(buf[:n], "frozen 1") {
		return c.dir(job)
	}
	return ""
}

// hasLine: b has line as one of its lines.
func hasLine(b []byte, line string) bool {
	for len(b) > 0 {
		l, rest, _ := bytes.Cut(b, []byte{'\n'})
		if string(l) == line {
			return true
		}
		b = rest
	}
	return false
}

// signalLater signals the job's cgroup on a goroutine of its own, since
// reading its process list is a file read. Until that is done, a start of
// the job waits in fd: the signal meant for the run being stopped must not
// reach the next run, which a quick exit may have started by then.
func (c *cgroups) signalLater(job string, sigs ...syscall.Signal) {
	if c.base == "" {
		return
	}
	c.busyMu.Lock()
	c.busy[job]++
	c.busyMu.Unlock()
	go func() {
		for _, sig := range sigs {
			c.signal(job, sig)
		}
		c.settle(job)
	}()
}

// settle marks one signalling of the job done.
func (c *cgroups) settle(job string) {
	c.busyMu.Lock()
	if c.busy[job]--; c.busy[job] <= 0 {
		delete(c.busy, job)
	}
	c.busyMu.Unlock()
	c.calm.Broadcast()
}

// signal sends sig to every process in the job's cgroup. (Not through
// cgroup.kill: a job started again at that moment would be killed too.)
func (c *cgroups) signal(job string, sig syscall.Signal) {
	if c.base == "" {
		return
	}
	for _, pid := range cgroupPIDs(c.dir(job)) {
		unix.Kill(pid, sig)
	}
}

func cgroupPIDs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// populated: some process is in the cgroup (cgroup.events).
func populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && strings.Contains(string(b), "populated 1")
}

// empty kills what is left in the job's cgroup and waits (up to within)
// until nothing is; it reports whether the cgroup is empty.
func (c *cgroups) empty(job string, within time.Duration) bool {
	if c.base == "" {
		return true
	}
	dir := c.dir(job)
	deadline := time.Now().Add(within)
	for populated(dir) {
		if time.Now().After(deadline) {
			return false
		}
		c.signal(job, syscall.SIGKILL)
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// reapLeftovers stops what an earlier pmtr on this config left in its job
// cgroups (it was killed, or crashed): the jobs then start once, here.
func (c *cgroups) reapLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(c.base, "job-*"))
	for _, dir := range dirs {
		if pids := cgroupPIDs(dir); len(pids) > 0 {
			c.log.Logf(core.Info, "found %d processes left in %s by an earlier pmtr; stopping them before starting the jobs", len(pids), dir)
			os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
			for deadline := time.Now().Add(5 * time.Second); populated(dir) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		os.Remove(dir)
	}
}

// close kills what is left of every job and removes the cgroups pmtr made.
func (c *cgroups) close() {
	if c.base == "" {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(c.base, "job-*"))
	for _, dir := range dirs {
		os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
		for deadline := time.Now().Add(2 * time.Second); populated(dir) && time.Now().Before(deadline); {
			reapZombies() // the reaper has stopped: a zombie keeps a cgroup populated
			time.Sleep(2 * time.Millisecond)
		}
		os.Remove(dir)
	}
	c.mu.Lock()
	for _, fd := range []int{c.baseEvents, c.baseDir} {
		if c.baseOpened && fd >= 0 {
			unix.Close(fd)
		}
	}
	c.baseOpened = false
	c.mu.Unlock()
	os.Remove(c.base)
}

// reapZombies waits for every child that has exited, without blocking.
func reapZombies() {
	for {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

// where tells how a job is contained, for status and why.
func (c *cgroups) where(job string) string {
	if c.base == "" {
		return "process group"
	}
	return "cgroup " + c.dir(job)
}
