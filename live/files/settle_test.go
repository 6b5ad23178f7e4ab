package files

import (
	"os"
	"path/filepath"
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
	if !stillHeldForWriting(r) {
		t.Fatal("a file a writer keeps open is not held")
	}
	saved := closeSettles
	closeSettles = 30 * time.Second // the close below comes well within it, even on a busy machine
	defer func() { closeSettles = saved }()
	done := make(chan bool)
	go func() { done <- stillHeldForWriting(r) }()
	w.Close()
	if <-done {
		t.Fatal("a file whose writer closed within closeSettles is said to be held")
	}
}
