// Package files reads the files a config names, for the driver and for
// pmtr's command line: the config itself and every file its include lines
// match (ReadConfig, created empty when missing; LoadConfig; a snapshot for
// the driver, confgrammar.Files), its dependencies (hashed: only equality
// matters) and its key files (CheckKeys; owner-only, not empty). A file
// another program holds open for writing is not read (it may be a save in
// progress), and one held for long is named in the log once. Run as root,
// it refuses an included file or drop-in directory that another user can
// write (hostfacts.WritableByOthers).
//
// A Reader answers each driver.ReadRequest on a goroutine of its own, since
// a read may wait on a hung file system; a file that gives no answer in
// 5 s is reported as unreadable, and the read that waits is left behind.
// Read returns at once. ReadConfig and CheckKeys read on the caller's
// goroutine: pmtr calls them before the driver runs.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/hostfacts"
)

// ReadConfig reads and parses the config file and the files it includes,
// creating the config file empty (mode 0600) when it does not exist, as C
// pmtr does; note receives that news. It returns the files it read, which
// the daemon's driver starts from.
func ReadConfig(path string, note func(string)) (*confgrammar.Config, *confgrammar.Files, error) {
	src, err := readLimited(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		if cerr := createEmpty(path); cerr != nil {
			return nil, nil, cerr
		}
		note(fmt.Sprintf("creating empty %s", path))
		src, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("can't open %s: %w", path, err)
	}
	return load(path, src)
}

// LoadConfig reads and parses the config file and the files it includes,
// as ReadConfig does, but creates nothing: a missing file is an error.
func LoadConfig(path string) (*confgrammar.Config, *confgrammar.Files, error) {
	src, err := readLimited(path, false)
	if err != nil {
		return nil, nil, fmt.Errorf("can't open %s: %s", path, hostfacts.Strerror(unwrapPath(err)))
	}
	return load(path, src)
}

// load gathers the files src, the main file's content, includes, and
// parses them; run by root, it refuses included files others can write.
func load(path string, src []byte) (*confgrammar.Config, *confgrammar.Files, error) {
	snap := confgrammar.Gather(path, &disk{main: path, data: src, read: true, rootSafe: hostfacts.RunsAsRoot()})
	cfg, err := confgrammar.Load(path, snap)
	return cfg, snap, err
}

func createEmpty(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("can't create %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil { // exactly 0600, whatever the umask
		return fmt.Errorf("can't create %s: %w", path, err)
	}
	return nil
}

// errWriting: the file is held open for writing by another program, so
// what it holds may be a save in progress; it is not read.
var errWriting = errors.New("is held open for writing by another program")

// readLimited reads a whole regular file of at most confgrammar.MaxSize
// bytes. The open never waits: a FIFO or a device is refused, not read.
// settled: a file that another program holds open for writing is not read
// (errWriting).
func readLimited(path string, settled bool) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is %s, not a regular file", hostfacts.FileKind(st.Mode()))
	}
	if settled && !readLease(f) { // the lease goes with f's close
		return nil, errWriting
	}
	b, err := io.ReadAll(io.LimitReader(f, confgrammar.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > confgrammar.MaxSize {
		return nil, fmt.Errorf("is larger than %d MB", confgrammar.MaxSize>>20)
	}
	return b, nil
}

// heldForWriting reports whether any process has f's file open for
// writing: the kernel refuses a read lease on such a file (EAGAIN). The
// lease, when granted, is dropped at once. Where leases cannot be had (a
// file system without them, a file pmtr does not own and no CAP_LEASE) it
// cannot tell, and says no: the file is read as before.
func heldForWriting(f *os.File) bool {
	err := setLease(f, unix.F_RDLCK)
	if err == nil {
		setLease(f, unix.F_UNLCK)
	}
	return errors.Is(err, unix.EAGAIN)
}

// readLease takes a read lease on f, to hold while pmtr reads it; false:
// the file is held open for writing. While pmtr holds the lease a
// writer's open waits for it (the kernel breaks the lease; pmtr gives it
// back when it closes f, once read): a save begun just after the check is
// never read half done. (Checked and let go at once, as heldForWriting
// does, an in-place save right after another was read empty, and every
// job stopped, in a run of two make tests at once.) The kernel tells a
// writer's close (IN_CLOSE_WRITE) a moment before it stops counting the
// writer, so the read that close brings could find the file still held
// and the save was never applied: a file is held only if it still is
// after closeSettles. Where leases cannot be had it cannot tell, and says
// true: the file is read as before.
func readLease(f *os.File) bool {
	deadline := time.Now().Add(closeSettles)
	for {
		err := setLease(f, unix.F_RDLCK)
		if !errors.Is(err, unix.EAGAIN) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func setLease(f *os.File, kind int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, kind) }); err != nil {
		return err
	}
	return lerr
}

// closeSettles bounds the moment between a close's event and the drop of
// the kernel's count of the file's writers: microseconds, unless a busy
// machine holds the closing thread.
var closeSettles = 50 * time.Millisecond // a variable for the tests

// readTimeout: a file that gives no answer by then (a hung network file
// system) is reported as unreadable, so a later reload is not held up.
const readTimeout = 5 * time.Second

var errNoAnswer = fmt.Errorf("no answer within %v", readTimeout)

// readWithin is readLimited of a settled file, giving up after
// readTimeout.
func readWithin(path string) ([]byte, error) {
	return within(func() ([]byte, error) { return readLimited(path, true) })
}

// Reader answers the driver's read requests.
type Reader struct {
	held *heldFiles
	send func(driver.Input) bool
}

// Logger is pmtr's log.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// NewReader answers through send; held files are timed on clk.
func NewReader(clk clock.Clock, log Logger, send func(driver.Input) bool) *Reader {
	return &Reader{held: newHeldFiles(clk, log, func() { send(driver.Reload{}) }), send: send}
}

// Read reads the config and hashes dependencies on a goroutine of its own,
// and sends the driver what it found.
func (rd *Reader) Read(r driver.ReadRequest) {
	go func() {
		f := answer(r)
		rd.held.saw(r, f)
		rd.send(f)
	}()
}

// Close stops following held files.
func (rd *Reader) Close() { rd.held.close() }

// answer answers the driver's read request.
func answer(r driver.ReadRequest) driver.FilesRead {
	f := driver.FilesRead{Seq: r.Seq}
	if r.Config != "" {
		d := &disk{settled: true, main: r.Config, rootSafe: hostfacts.RunsAsRoot()}
		f.Config = confgrammar.Gather(r.Config, d)
		f.Writing = append(f.Writing, d.writing...)
	}
	f.Deps = make([]core.DepState, len(r.Deps))
	for i, p := range r.Deps {
		f.Deps[i] = depState(p)
		if f.Deps[i].Reason == errWriting.Error() {
			f.Writing = append(f.Writing, p)
		}
	}
	for _, p := range r.Keys {
		key, err := readKey(p)
		if errors.Is(err, errWriting) {
			f.Writing = append(f.Writing, p)
		}
		f.Keys = append(f.Keys, driver.KeyFile{Path: p, Key: key, Err: err})
	}
	if r.Check != nil { // here, not on the driver's loop: both ask the system
		cwd, _ := os.Getwd()
		f.Warnings = hostfacts.HostWarnings(r.CheckFile, r.Check, cwd)
		f.HostErr = hostfacts.CheckInterfaces(r.CheckFile, r.Check)
	}
	return f
}

// readKey reads a control key file: it must exist, hold a key, and be
// readable by nobody but its owner (mode & 077 == 0).
func readKey(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("is readable by others (mode %#o); chmod 600 %s", st.Mode().Perm(), path)
	}
	b, err := readWithin(path)
	if errors.Is(err, errWriting) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("can't read it: %s", hostfacts.Strerror(err))
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) == 0 {
		return nil, fmt.Errorf("is empty")
	}
	return key, nil
}

// depState hashes a dependency's content; only equality matters.
func depState(path string) core.DepState {
	b, err := readWithin(path)
	if errors.Is(err, fs.ErrNotExist) {
		return core.DepState{Path: path, Missing: true}
	}
	if errors.Is(err, errWriting) {
		return core.DepState{Path: path, Missing: true, Reason: errWriting.Error()}
	}
	if err != nil {
		return core.DepState{Path: path, Missing: true, Reason: strings.ToLower(hostfacts.Strerror(err)[:1]) + hostfacts.Strerror(err)[1:]}
	}
	sum := sha256.Sum256(b)
	return core.DepState{Path: path, Hash: hex.EncodeToString(sum[:8])}
}

// CheckKeys verifies that every "listen on ... key FILE" names a usable key
// file (it exists, holds a key, and only its owner may read it). It reads
// files, so the daemon runs it before it starts, never on its loop.
func CheckKeys(file string, cfg *confgrammar.Config) error {
	var errs confgrammar.ErrorList
	for _, l := range cfg.Listens {
		if l.KeyFile == "" {
			continue
		}
		if _, err := readKey(l.KeyFile); err != nil {
			errs = append(errs, &confgrammar.Error{File: hostfacts.OrFile(l.File, file), Pos: l.Pos, Msg: fmt.Sprintf("key file %s: %v", l.KeyFile, err)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
