package exepages

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCleanFileAreasOnlyReadOnlyPrivateCleanMappingsOfTheFile(t *testing.T) {
	const smaps = `00400000-00629000 r-xp 00000000 fd:01 42                                 /usr/bin/pmtr
Rss:                 960 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00629000-00882000 r--p 00229000 fd:01 42                                 /usr/bin/pmtr
Anonymous:             0 kB
00882000-008a5000 rw-p 00482000 fd:01 42                                 /usr/bin/pmtr
Anonymous:           140 kB
008a5000-008a6000 r--p 00485000 fd:01 42                                 /usr/bin/pmtr
Anonymous:             4 kB
008a6000-008a7000 r--s 00486000 fd:01 42                                 /usr/bin/pmtr (deleted)
Anonymous:             0 kB
7f0000000000-7f0000001000 r-xp 00000000 fd:01 43                         /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000001000-7f0000002000 r-xp 00000000 fd:02 42                         /other/fs/pmtr
Anonymous:             0 kB
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
Anonymous:             4 kB
7f0000003000-7f0000004000 r--p 00000000 fd:01 42                         /usr/bin/pmtr
`
	got, err := cleanFileAreas(strings.NewReader(smaps), unix.Mkdev(0xfd, 1), 42)
	if err != nil {
		t.Fatal(err)
	}
	want := []memArea{{0x400000, 0x629000}, {0x629000, 0x882000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("areas %x, want %x (writable, shared, copied, other files and a mapping without its Anonymous line are kept)", got, want)
	}
}

// exeRSSKB sums the resident kB of the test binary's mappings.
func exeRSSKB(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kb, ours := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) >= 6 && strings.Contains(fs[0], "-"):
			ours = fs[5] == exe
		case ours && len(fs) >= 2 && fs[0] == "Rss:":
			n, _ := strconv.Atoi(fs[1])
			kb += n
		}
	}
	return kb
}

func TestDropUnmapsTheBinaryAndItStillRuns(t *testing.T) {
	before := exeRSSKB(t)
	n, err := Drop()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSSKB(t) // this code runs again: its pages fault back in
	if n == 0 || after >= before {
		t.Fatalf("dropped %d bytes of mappings; binary resident %d kB before, %d kB after", n, before, after)
	}
	t.Logf("binary resident %d kB, %d kB after dropping %d kB of mappings", before, after, n>>10)
}

func TestNoteGCsSignalsAfterACycle(t *testing.T) {
	ch := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	noteGCs(ch, stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-ch:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no note after GC cycles for 10 s")
		}
		runtime.Gosched() // the cleanup runs on its own goroutine
	}
}

// waitResult runs waitStartOver and gives its answer, failing after far
// longer than any wait asked for here.
func waitResult(t *testing.T, stop, settled chan struct{}, bound, quiet time.Duration) bool {
	t.Helper()
	res := make(chan bool, 1)
	go func() { res <- waitStartOver(stop, settled, bound, quiet) }()
	select {
	case ok := <-res:
		return ok
	case <-time.After(30 * time.Second):
		t.Fatal("waitStartOver still waits after 30 s")
	}
	return false
}

// The start is over soon after a burst's note, not at the bound of an
// hour.
func TestStartOverQuietAfterANote(t *testing.T) {
	settled := make(chan struct{}, 1)
	settled <- struct{}{}
	if !waitResult(t, nil, settled, time.Hour, 10*time.Millisecond) {
		t.Fatal("stopped")
	}
}

// Notes that keep coming do not put the drop off beyond the bound.
func TestStartOverAtTheBound(t *testing.T) {
	settled, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case settled <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	if !waitResult(t, nil, settled, 50*time.Millisecond, time.Hour) {
		t.Fatal("stopped")
	}
}

func TestStartOverStops(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	if waitResult(t, stop, make(chan struct{}), time.Hour, time.Hour) {
		t.Fatal("over, though stopped")
	}
}

// dropLog records keepDropping's drops.
type dropLog struct{ at chan time.Time }

func (d dropLog) drop() { d.at <- time.Now() }

func (d dropLog) next(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-d.at:
		return at
	case <-time.After(30 * time.Second):
		t.Fatal("no drop within 30 s")
	}
	return time.Time{}
}

// After the first drop, a burst of restarts is dropped once quiet, but
// not within the pace of the last drop; a GC cycle beyond its pace is
// dropped at once.
func TestKeepDroppingAfterBurstsAndGCs(t *testing.T) {
	stop, settled, gcs := make(chan struct{}), make(chan struct{}, 1), make(chan struct{}, 1)
	d := dropLog{at: make(chan time.Time, 8)}
	done := make(chan struct{})
	go func() {
		keepDropping(stop, settled, gcs, d.drop, pace{quiet: time.Millisecond, burst: 200 * time.Millisecond, gc: 0})
		close(done)
	}()
	first := d.next(t)
	settled <- struct{}{}
	if second := d.next(t); second.Sub(first) < 200*time.Millisecond {
		t.Fatalf("a burst's drop %v after the last, within the pace of 200ms", second.Sub(first))
	}
	gcs <- struct{}{}
	d.next(t)
	close(stop)
	<-done
}
