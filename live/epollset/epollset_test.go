package epollset

import (
	"os"
	"slices"
	"testing"
)

// TestWaitReportsInputAndWake: a pipe with input is reported, a Wake is
// reported once, and a removed pipe is not reported again.
func TestWaitReportsInputAndWake(t *testing.T) {
	s, r, w := setAndPipe(t)
	fd := int32(r.Fd())
	if err := s.Add(int(fd)); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	ready := make([]int32, 0, 8)
	fds, woken, err := s.Wait(ready)
	if err != nil || woken || !slices.Equal(fds, []int32{fd}) {
		t.Fatalf("input: %v %v %v", fds, woken, err)
	}
	s.Remove(int(fd))
	s.Wake()
	s.Wake()
	fds, woken, err = s.Wait(ready)
	if err != nil || !woken || len(fds) != 0 {
		t.Fatalf("wake: %v %v %v", fds, woken, err)
	}
	w.Write([]byte("y")) // not in the set any more; a wake is needed to return
	s.Wake()
	fds, woken, err = s.Wait(ready)
	if err != nil || !woken || len(fds) != 0 {
		t.Fatalf("after remove: %v %v %v", fds, woken, err)
	}
}

// A descriptor added for writing is reported while it can be written to.
func TestWaitReportsWritable(t *testing.T) {
	s, _, w := setAndPipe(t)
	fd := int32(w.Fd())
	if err := s.AddWritable(int(fd)); err != nil {
		t.Fatal(err)
	}
	fds, woken, err := s.Wait(make([]int32, 0, 8))
	if err != nil || woken || !slices.Equal(fds, []int32{fd}) {
		t.Fatalf("writable: %v %v %v", fds, woken, err)
	}
}

// setAndPipe is an empty set and a pipe, closed when the test ends.
func setAndPipe(t *testing.T) (*Set, *os.File, *os.File) {
	t.Helper()
	s, err := New("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return s, r, w
}
