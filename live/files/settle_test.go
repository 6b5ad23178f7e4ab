package files

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCloseThatSettlesIsNotHeld: a writer that closes while the check
// waits for closes to settle leaves the file not held; one that stays
// keeps it held.
func TestCloseThatSettlesIsNotHeld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x"), 0o644)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	if readLease(r) {
		t.Fatal("a file a writer keeps open is not held")
	}
	saved := closeSettles
	closeSettles = 30 * time.Second // the close below comes well within it, even on a busy machine
	defer func() { closeSettles = saved }()
	done := make(chan bool)
	go func() { done <- readLease(r) }()
	w.Close()
	if !<-done {
		t.Fatal("a file whose writer closed within closeSettles is said to be held")
	}
}

// TestSaveBegunDuringTheReadWaits: while pmtr reads under its lease, a
// save that truncates the file waits until pmtr has closed it, so the
// read has the whole earlier content.
func TestSaveBegunDuringTheReadWaits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("whole"), 0o644)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !readLease(r) {
		t.Fatal("no lease on a file nobody writes")
	}
	saved := make(chan error)
	go func() { saved <- os.WriteFile(p, []byte("new"), 0o644) }()
	// The save's open waits for the lease: the kernel shows it breaking.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if locks, _ := os.ReadFile("/proc/locks"); strings.Contains(string(locks), "BREAK") {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("the kernel shows no lease breaking in /proc/locks")
		}
	}
	if b, _ := io.ReadAll(r); string(b) != "whole" {
		t.Fatalf("read %q while a save waited, want the whole earlier content", b)
	}
	r.Close()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
}
