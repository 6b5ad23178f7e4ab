package live

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoomsImportNoRoomAbove: the rooms under live/ are leaves of the
// assembly. None imports pmtr/live, and a room reaches another only
// through the few shared leaves below (the host facts, the driver's queue,
// the listeners' accept loop, the epoll set that joboutput and notify
// wait on, and joboutput's pipe type); everything else comes in as
// arguments or narrow interfaces, wired in backend.go and readiness.go.
// The rooms cut out of the assembly later are checked by name: health
// (readiness and health checks) and upgrade (pmtr upgrade) wire probe,
// notify, spawn, ctlsock and the others only through interfaces.
func TestRoomsImportNoRoomAbove(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "pmtr/live/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	shared := map[string]bool{"pmtr/live/hostfacts": true, "pmtr/live/inbox": true, "pmtr/live/joboutput": true, "pmtr/live/accept": true, "pmtr/live/epollset": true}
	rooms := 0
	mustBe := map[string]bool{"pmtr/live/health": true, "pmtr/live/upgrade": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if pkg == "pmtr/live" {
			continue
		}
		rooms++
		delete(mustBe, pkg)
		for _, imp := range strings.Fields(imports) {
			switch {
			case imp == "pmtr/live":
				t.Errorf("%s imports the assembly pmtr/live", pkg)
			case !strings.HasPrefix(imp, "pmtr/live/"):
			case !shared[imp]:
				t.Errorf("%s imports the room %s: take what it needs as an argument or a narrow interface", pkg, imp)
			case shared[pkg] && imp != "pmtr/live/hostfacts" && imp != "pmtr/live/epollset":
				t.Errorf("%s, a shared leaf, imports %s", pkg, imp)
			}
		}
	}
	for pkg := range mustBe {
		t.Errorf("go list found no room %s", pkg)
	}
	if rooms < 10 {
		t.Fatalf("go list found %d rooms under live/:\n%s", rooms, out)
	}
}

// TestAssemblyStaysSmall: live/ keeps only the assembly (issue 22); a
// feature's code goes to the room that owns its state.
func TestAssemblyStaysSmall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(data, []byte("\n"))
	}
	if lines > 800 {
		t.Errorf("live/*.go (the assembly) has %d lines, more than 800: move what is not wiring into a room", lines)
	}
}
