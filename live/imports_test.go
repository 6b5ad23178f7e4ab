package live

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRoomsImportNoRoomAbove: the rooms under live/ are leaves of the
// assembly. None imports pmtr/live, and a room reaches another only
// through the few shared leaves below (the host facts, the driver's queue,
// the listeners' accept loop, the epoll set that joboutput and notify
// wait on, and joboutput's pipe type); everything else
// comes in as arguments or narrow interfaces, wired in backend.go.
func TestRoomsImportNoRoomAbove(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "pmtr/live/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	shared := map[string]bool{"pmtr/live/hostfacts": true, "pmtr/live/inbox": true, "pmtr/live/joboutput": true, "pmtr/live/accept": true, "pmtr/live/epollset": true}
	rooms := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if pkg == "pmtr/live" {
			continue
		}
		rooms++
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
	if rooms < 10 {
		t.Fatalf("go list found %d rooms under live/:\n%s", rooms, out)
	}
}
