package core_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are the packages that do I/O, read real time or keep global
// randomness: the core must stay a pure function of the events and times
// passed in, so it may reach none of them.
var forbidden = map[string]bool{"os": true, "os/exec": true, "os/signal": true, "syscall": true,
	"net": true, "io/ioutil": true, "io/fs": true, "log": true, "log/slog": true,
	"math/rand": true, "math/rand/v2": true, "crypto/rand": true, "time/tzdata": true,
	"golang.org/x/sys/unix": true, "github.com/benbjohnson/clock": true,
	"github.com/fsnotify/fsnotify": true}

// goList runs go list with args and returns its output split in lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestCoreIsPure fails if core, or any pmtr package it builds on, imports
// directly something that does I/O, reads real time or keeps global
// randomness, or any module from outside pmtr.
func TestCoreIsPure(t *testing.T) {
	for _, line := range goList(t, "-deps", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "pmtr/core") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if !strings.HasPrefix(pkg, "pmtr/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if forbidden[imp] || !strings.HasPrefix(imp, "pmtr/") && strings.Contains(imp, ".") {
				t.Errorf("%s imports %s; keep I/O, clocks, randomness and outside modules out of the core", pkg, imp)
			}
		}
	}
}

// TestCoreReachesNoIOButThroughFmt: fmt imports os (for Fprintf and the
// like), which core does not call; no other path from core to an I/O,
// clock or randomness package may exist, not even through the standard
// library.
func TestCoreReachesNoIOButThroughFmt(t *testing.T) {
	viaFmt := map[string]bool{}
	for _, pkg := range goList(t, "-deps", "fmt") {
		viaFmt[pkg] = true
	}
	for _, pkg := range goList(t, "-deps", "pmtr/core") {
		if forbidden[pkg] && !viaFmt[pkg] {
			t.Errorf("go list -deps pmtr/core lists %s, which fmt does not bring; find the import that does and drop it", pkg)
		}
	}
}

// TestCoreReadsNoClock: core may use time.Duration, never the wall clock.
func TestCoreReadsNoClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Until(", "time.After", "time.Sleep(", "time.Tick", "time.NewTimer(", "time.NewTicker("} {
			if strings.Contains(string(src), call) {
				t.Errorf("%s calls %s: time comes in as an argument", f, call)
			}
		}
	}
}
