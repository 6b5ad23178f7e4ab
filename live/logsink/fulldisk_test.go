package logsink

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"pmtr/core"
)

// disk is a file on a disk with room for a number of bytes: a write past
// it writes what fits and fails with ENOSPC, as the kernel's does.
// Without truncate it stands for a writer whose bytes cannot be taken
// back.
type disk struct {
	mu   sync.Mutex
	data []byte
	room int
}

func (d *disk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(len(p), max(d.room-len(d.data), 0))
	d.data = append(d.data, p[:n]...)
	if n < len(p) {
		return n, &os.PathError{Op: "write", Path: "log", Err: syscall.ENOSPC}
	}
	return n, nil
}

func (d *disk) setRoom(n int) {
	d.mu.Lock()
	d.room = n
	d.mu.Unlock()
}

func (d *disk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.data)
}

type truncatable struct{ *disk }

func (t truncatable) Seek(off int64, whence int) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if off != 0 && whence != io.SeekStart {
		return 0, errors.New("unsupported seek")
	}
	if whence == io.SeekStart {
		return off, nil
	}
	return int64(len(t.data)), nil
}

func (t truncatable) Truncate(size int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.data = t.data[:size]
	return nil
}

// TestFullDiskLeavesWholeLines: lines written while the disk fills up are
// each whole or absent (on the code before issue 28 a line cut by ENOSPC
// was left, and the next line ran into it: "pmtr[6pmtr[6]: ..."); how
// many were left out is said when writing works again.
func TestFullDiskLeavesWholeLines(t *testing.T) {
	for _, takeBack := range []bool{true, false} {
		t.Run(fmt.Sprint("truncate ", takeBack), func(t *testing.T) {
			d := &disk{room: 1000}
			var w io.Writer = d
			if takeBack {
				w = truncatable{d}
			}
			l := NewStderrLogger(w, 0)
			for i := range 100 {
				l.Logf(core.Info, "line %d of the burst", i)
				l.Flush()
			}
			d.setRoom(1 << 20)
			l.Log(core.Info, "after the disk was freed")
			l.Flush()
			checkWholeLines(t, d.String(), 100)
		})
	}
}

// checkWholeLines checks that the log holds only whole lines of pmtr, the
// burst's lines in order from 0, then the count of the lines left out,
// then (once) the line after.
func checkWholeLines(t *testing.T, log string, burst int) {
	t.Helper()
	re := regexp.MustCompile(`^pmtr\[\d+\]: line (\d+) of the burst$`)
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	if !strings.HasSuffix(log, "\n") || len(lines) < 3 {
		t.Fatalf("log:\n%s", log)
	}
	kept := len(lines) - 2
	for i, line := range lines[:kept] {
		m := re.FindStringSubmatch(line)
		if m == nil || m[1] != fmt.Sprint(i) {
			t.Fatalf("line %d is %q, want line %d of the burst, whole\n%s", i+1, line, i, log)
		}
	}
	want := fmt.Sprintf("... %d log lines left out: writing the log failed (No space left on device)", burst-kept)
	if !strings.HasSuffix(lines[kept], want) || !strings.HasSuffix(lines[kept+1], "]: after the disk was freed") {
		t.Fatalf("the log ends %q, %q; want the count of the left-out lines (%q), then the line after\n%s", lines[kept], lines[kept+1], want, log)
	}
}

// TestFullTmpfsLeavesWholeLines: the same on a real file system, a small
// tmpfs mounted in a mount namespace of the test's own (root only): the
// log file's last page fills up mid-line.
func TestFullTmpfsLeavesWholeLines(t *testing.T) {
	if os.Getenv("PMTR_TEST_MOUNTNS") == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to mount a tmpfs in a mount namespace of its own")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("no unshare(1)")
		}
		cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0], "-test.run=^TestFullTmpfsLeavesWholeLines$", "-test.v")
		cmd.Env = append(os.Environ(), "PMTR_TEST_MOUNTNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFullTmpfsLeavesWholeLines") {
			t.Fatalf("in a mount namespace: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := NewStderrLogger(f, 0)
	l.Logf(core.Info, "line %d of the burst", 0)
	l.Flush()
	fill(t, filepath.Join(dir, "filler")) // the log's first page is all the room left
	const burst = 400                     // about 12 kB: past the page
	for i := 1; i < burst; i++ {
		l.Logf(core.Info, "line %d of the burst", i)
	}
	l.Flush()
	os.Remove(filepath.Join(dir, "filler"))
	l.Log(core.Info, "after the disk was freed")
	l.Flush()
	log, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	checkWholeLines(t, string(log), burst)
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 512)
	for range 1 << 16 {
		if _, err := f.Write(block); errors.Is(err, syscall.ENOSPC) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the tmpfs never filled up")
}
