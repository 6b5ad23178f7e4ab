package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/driver"
	"pmtr/live/logsink"
	"pmtr/live/logsink/logtest"
)

func TestHeldForWritingSeesWriters(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x"), 0o644)
	held := func() bool {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return heldForWriting(f)
	}
	if held() {
		t.Fatal("a file nobody writes is said to be held")
	}
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	if !held() {
		t.Fatal("a file open for writing is not seen as held")
	}
	w.Close()
	rw, _ := os.OpenFile(p, os.O_RDWR, 0)
	if !held() {
		t.Fatal("a file open for reading and writing is not seen as held")
	}
	rw.Close()
	if held() {
		t.Fatal("a closed file is still said to be held")
	}
}

// TestHeldFileIsLoggedOnceAfterTenSeconds: a watched file held open for
// writing past heldLong is named once; one read whole is forgotten.
func TestHeldFileIsLoggedOnceAfterTenSeconds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pmtr.conf")
	os.WriteFile(p, nil, 0o644)
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	defer w.Close()
	out := &logtest.Buffer{}
	clk := clock.NewMock()
	lg := logsink.NewStderrLogger(out, 0)
	h := newHeldFiles(clk, lg, func() {})
	r := driver.ReadRequest{Config: p}
	h.saw(r, driver.FilesRead{Writing: []string{p}})
	clk.Add(heldLong - time.Second)
	h.saw(r, driver.FilesRead{Writing: []string{p}}) // another write of the same save
	if strings.Contains(out.String(), "held open") {
		t.Fatalf("logged before %v:\n%s", heldLong, out)
	}
	clk.Add(2 * time.Second)
	clk.Add(heldLong)
	lg.Flush()
	if n := strings.Count(out.String(), p+" has been held open for writing"); n != 1 {
		t.Fatalf("a file held for %v was logged %d times, want once:\n%s", 2*heldLong, n, out)
	}
	w.Close()
	h.saw(r, driver.FilesRead{})
	if len(h.on) != 0 {
		t.Fatalf("a file read whole is still followed: %v", h.on)
	}
}

// TestHeldFileClosedIsReadAgain: a read that found a file held open for
// writing looks again shortly; once the file is closed the driver reads
// it again (the close's own event may come before the kernel drops the
// writer's access). 20 ms on a quiet machine.
func TestHeldFileClosedIsReadAgain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pmtr.conf")
	os.WriteFile(p, nil, 0o644)
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	defer w.Close()
	if !stillHeld(p) {
		t.Skip("no read leases here: pmtr cannot tell a file held open for writing")
	}
	rereads := make(chan struct{}, len(rechecks))
	h := newHeldFiles(clock.New(), logsink.NewStderrLogger(&logtest.Buffer{}, 0), func() { rereads <- struct{}{} })
	defer h.close()
	h.saw(driver.ReadRequest{Config: p}, driver.FilesRead{Writing: []string{p}})
	w.Close()
	if stillHeld(p) {
		t.Fatal("a closed file is still held")
	}
	select {
	case <-rereads:
	case <-time.After(30 * time.Second):
		t.Fatal("a file closed after the read that found it held was not read again")
	}
}
