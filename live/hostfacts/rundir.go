package hostfacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RootRunDir is root's runtime directory (a variable so tests can move it).
var RootRunDir = "/run/pmtr"

// RuntimeDir is where pmtr keeps its sockets and state: /run/pmtr for root
// (whatever the login session says, so that root's shell finds the
// service); else $XDG_RUNTIME_DIR/pmtr, else $TMPDIR/pmtr-UID.
func RuntimeDir() string {
	if os.Geteuid() == 0 {
		return RootRunDir
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "pmtr")
	}
	return filepath.Join(os.TempDir(), "pmtr-"+strconv.Itoa(os.Geteuid()))
}

// SecureDir makes sure dir is a directory of pmtr's own user that nobody
// else can enter or write (mode 0700, no symlink), creating it when create
// is set. A directory that exists but fails the check is refused, never
// chmod-ed or reused: someone else may have made it to catch pmtr's socket.
func SecureDir(dir string, create bool) error {
	if create {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("live: runtime directory: %w", err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
			return fmt.Errorf("live: runtime directory: %w", err)
		}
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("live: runtime directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("live: runtime directory %s is not a directory (remove it)", dir)
	case !ok || int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("live: runtime directory %s belongs to uid %d, not to pmtr's uid %d (remove it)", dir, sys.Uid, os.Geteuid())
	case st.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("live: runtime directory %s has mode %#o: others may use it (remove it; pmtr makes it 0700)", dir, st.Mode().Perm())
	}
	return nil
}

// LockConfig makes sure only one pmtr runs configPath: it holds a lock in
// the runtime directory until release, which removes the lock file (or
// until the process's death, so a pmtr that was killed leaves nothing that
// blocks the next one; the next start of any pmtr removes what it left,
// SweepStale).
func LockConfig(configPath string) (release func(), err error) {
	l, err := TakeLock(configPath)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// Lock is a held config lock (LockConfig).
type Lock struct {
	f    *os.File
	path string
}

// TakeLock is LockConfig, for the daemon: its lock can be handed to the
// binary that takes over at pmtr upgrade.
func TakeLock(configPath string) (*Lock, error) {
	dir := RuntimeDir()
	if err := SecureDir(dir, true); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockPrefix+ConfigHash(configPath))
	for try := 0; ; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("live: lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if try < lockTries { // a sweep holds it for a moment; a pmtr holds it for good
				f.Close()
				time.Sleep(lockWait)
				continue
			}
			defer f.Close()
			return nil, heldBy(f, configPath)
		}
		if !sameFile(f, path) { // swept away meanwhile: lock the file at path now
			f.Close()
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &Lock{f: f, path: path}, nil
	}
}

// LockPath is the lock file of configPath's pmtr.
func LockPath(configPath string) string {
	return filepath.Join(RuntimeDir(), lockPrefix+ConfigHash(configPath))
}

// InheritLock is the lock that the pmtr before an upgrade held, at fd:
// it was never let go, so no other pmtr (nor a sweep) could take it.
func InheritLock(configPath string, fd int) *Lock {
	return &Lock{f: os.NewFile(uintptr(fd), "lock"), path: filepath.Join(RuntimeDir(), lockPrefix+ConfigHash(configPath))}
}

// Release lets the lock go and removes its file (still ours: nobody
// removes a held lock).
func (l *Lock) Release() {
	os.Remove(l.path)
	l.f.Close()
}

// FD is the lock's descriptor, for pmtr upgrade to hand over.
func (l *Lock) FD() int { return int(l.f.Fd()) }

const (
	lockPrefix = "lock-"
	lockTries  = 5
	lockWait   = 20 * time.Millisecond
)

// heldBy words the lock of configPath held by another pmtr.
func heldBy(f *os.File, configPath string) error {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return fmt.Errorf("another pmtr (pid %s) is running %s", pid, configPath)
	}
	return fmt.Errorf("another pmtr is running %s", configPath)
}

// sameFile: f is the file at path now.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// SweepStale removes from the runtime directory what pmtrs that are gone
// left: the lock of each config whose lock nobody holds, its directory of
// notify sockets (NotifyDir), and the files also(hash) names for that
// config (its control socket). It leaves what
// the next pmtr on that config needs (its jobs' pid records, its log) and
// the replay records of keys. It holds each lock while it removes, so a
// pmtr starting on that config meanwhile waits for it (LockConfig). It
// returns how many configs it swept.
func SweepStale(also func(hash string) []string) int {
	dir := RuntimeDir()
	if SecureDir(dir, false) != nil {
		return 0
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		hash, ok := strings.CutPrefix(e.Name(), lockPrefix)
		if ok && e.Type().IsRegular() && sweep(dir, hash, also) {
			n++
		}
	}
	return n
}

// sweep removes the files of config hash when its lock is free.
func sweep(dir, hash string, also func(string) []string) bool {
	path := filepath.Join(dir, lockPrefix+hash)
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || !sameFile(f, path) {
		return false // a pmtr runs that config, or another sweep got there first
	}
	for _, name := range also(hash) {
		os.Remove(filepath.Join(dir, name))
	}
	if sub := notifyDirOf(hash); sub != "" {
		os.RemoveAll(sub) // its sockets, then itself
	}
	os.Remove(path) // last: while it is there and held, no pmtr can take the config
	return true
}

// ConfigHash names the files of one config file's pmtr (its socket, lock,
// log, records and cgroup): 12 hex digits of the SHA-256 of its absolute
// path.
func ConfigHash(configPath string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// NotifyDir is where the sd_notify sockets of one config file's jobs go
// (issue 23). Jobs that run as other users must reach their socket, and
// the runtime directory is 0700: as root it is /run/pmtr-notify/HASH,
// both mode 0711 (anyone may pass, nobody else may list or write; each
// socket is 0600 and its job's own); otherwise, where every job runs as
// pmtr's user, notify-HASH in the runtime directory (0700). A directory
// that exists with another owner, or that others may write, is refused.
func NotifyDir(configPath string) (string, error) {
	sub := notifyDirOf(ConfigHash(configPath))
	if os.Geteuid() != 0 {
		if err := SecureDir(RuntimeDir(), true); err != nil {
			return "", err
		}
		return sub, passableDir(sub, 0o700)
	}
	if err := passableDir(filepath.Dir(sub), 0o711); err != nil {
		return "", err
	}
	return sub, passableDir(sub, 0o711)
}

// notifyDirOf is NotifyDir's path for the config whose hash is hash. A
// clean exit removes it (empty by then), SweepStale the one a pmtr that
// died left.
func notifyDirOf(hash string) string {
	if os.Geteuid() != 0 {
		return filepath.Join(RuntimeDir(), "notify-"+hash)
	}
	return filepath.Join(RootRunDir+"-notify", hash)
}

// passableDir makes dir (mode perm) or checks the one there: a directory,
// not a link, pmtr's own, writable by nobody else; its mode is set to perm.
func passableDir(dir string, perm os.FileMode) error {
	if err := os.Mkdir(dir, perm); err != nil && !os.IsExist(err) {
		return fmt.Errorf("live: notify directory: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("live: notify directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("live: notify directory %s is not a directory (remove it)", dir)
	case !ok || int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("live: notify directory %s belongs to uid %d, not to pmtr's uid %d (remove it)", dir, sys.Uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("live: notify directory %s has mode %#o: others may write there (remove it; pmtr makes it %#o)", dir, st.Mode().Perm(), perm)
	}
	if st.Mode().Perm() != perm {
		return os.Chmod(dir, perm)
	}
	return nil
}
