package spawn

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pmtr/confgrammar"
)

// A direct start gets pmtr's null device as stdin (the default) and as an
// out or err of /dev/null, without opening it, and never closes it after
// the fork; other files are its own, closed after the fork.
func TestDirectStartSharesTheNullDevice(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	if l.null.r == nil {
		t.Skip("/dev/null is not the null device here")
	}
	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		job            confgrammar.Job
		in, outF, errF *os.File // nil: a file of the start's own
	}{
		{confgrammar.Job{Out: os.DevNull, Err: os.DevNull}, l.null.r, l.null.w, l.null.w},
		{confgrammar.Job{Out: out, Err: os.DevNull}, l.null.r, nil, l.null.w},
		{confgrammar.Job{In: os.DevNull, Out: out, Err: out}, l.null.r, nil, nil},
		{confgrammar.Job{Dir: "/dev", In: "null", Out: "null", Err: "/dev/null"}, l.null.r, l.null.w, l.null.w}, // relative to dir
	} {
		j := tc.job
		j.Name, j.Cmd = "n", []string{"/bin/true"}
		ln, err := l.prepare(&j, StartNotice{})
		if err != nil {
			t.Fatalf("%+v: %v", j, err)
		}
		files := ln.attr.Files
		for i, want := range []*os.File{tc.in, tc.outF, tc.errF} {
			switch {
			case want != nil && files[i] != want:
				t.Errorf("%+v: file %d is not pmtr's null device", j, i)
			case want == nil && (files[i] == l.null.r || files[i] == l.null.w):
				t.Errorf("%+v: file %d is pmtr's null device, want a file of its own", j, i)
			}
		}
		if slices.Contains(ln.child, l.null.r) || slices.Contains(ln.child, l.null.w) {
			t.Errorf("%+v: the null device is among the files closed after the fork", j)
		}
		closeAll(ln.child)
	}
	if _, err := l.null.w.Write([]byte("x")); err != nil {
		t.Fatalf("pmtr's null device was closed: %v", err)
	}
}
