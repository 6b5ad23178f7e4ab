package driver_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDriverDoesNoIO fails if driver, or any pmtr package it builds on,
// imports something that does I/O, reads real time or keeps global
// randomness: the loop must not block, and pmtr sim must decide exactly as
// the daemon does, so whatever touches the world belongs to a backend. (The
// standard library's own internals, such as fmt using os, do not count;
// path/filepath is out because it walks and stats, path is the lexical one.)
func TestDriverDoesNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "pmtr/driver").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string]bool{"os": true, "os/exec": true, "os/signal": true, "os/user": true, "syscall": true,
		"net": true, "net/http": true, "io/ioutil": true, "io/fs": true, "path/filepath": true, "log": true,
		"log/slog": true, "math/rand": true, "math/rand/v2": true, "crypto/rand": true, "time/tzdata": true,
		"golang.org/x/sys/unix": true, "github.com/benbjohnson/clock": true, "github.com/fsnotify/fsnotify": true}
	seen := false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if !strings.HasPrefix(pkg, "pmtr/") {
			continue
		}
		seen = seen || pkg == "pmtr/driver"
		for _, imp := range strings.Fields(imports) {
			if forbidden[imp] || !strings.HasPrefix(imp, "pmtr/") && strings.Contains(imp, ".") {
				t.Errorf("%s imports %s; the driver's world is its Backend: do that there", pkg, imp)
			}
		}
	}
	if !seen {
		t.Fatalf("go list -deps pmtr/driver did not list pmtr/driver:\n%s", out)
	}
}

// TestDriverReadsNoClock: time comes from Backend.Now, never the wall
// clock, and the driver starts no goroutine (its answers are inputs).
func TestDriverReadsNoClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		n++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Until(", "time.After", "time.Sleep(", "time.Tick", "time.NewTimer(", "time.NewTicker(", "\tgo "} {
			if strings.Contains(string(src), call) {
				t.Errorf("%s has %q: the driver gets time and answers from its backend", f, strings.TrimSpace(call))
			}
		}
	}
	if n == 0 {
		t.Fatal("no source files found")
	}
}
