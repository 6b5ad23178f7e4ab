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
// the runtime directory until release (or the process's death, so a pmtr
// that was killed leaves nothing that blocks the next one).
func LockConfig(configPath string) (release func(), err error) {
	dir := RuntimeDir()
	if err := SecureDir(dir, true); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "lock-"+ConfigHash(configPath))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("live: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if pid := strings.TrimSpace(string(b[:n])); pid != "" {
			return nil, fmt.Errorf("another pmtr (pid %s) is running %s", pid, configPath)
		}
		return nil, fmt.Errorf("another pmtr is running %s", configPath)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
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
