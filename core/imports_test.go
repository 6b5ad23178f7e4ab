package core_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreIsPure fails if core, or any pmtr package it builds on, imports
// something that does I/O, reads real time or keeps global randomness: the
// core must stay a pure function of the events and times passed in. (The
// standard library's own internals, such as fmt using os, do not count.)
func TestCoreIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "pmtr/core").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string]bool{"os": true, "os/exec": true, "os/signal": true, "syscall": true,
		"net": true, "io/ioutil": true, "io/fs": true, "log": true, "log/slog": true,
		"math/rand": true, "math/rand/v2": true, "crypto/rand": true, "time/tzdata": true,
		"golang.org/x/sys/unix": true, "github.com/benbjohnson/clock": true,
		"github.com/fsnotify/fsnotify": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
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

// TestCoreDependsOnNoOS: not even through the standard library (fmt
// imports os; pmtr/textf formats instead), so no path to I/O exists at all.
func TestCoreDependsOnNoOS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "pmtr/core").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "os" || pkg == "fmt" {
			t.Errorf("go list -deps pmtr/core lists %s", pkg)
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
