package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFrozenCgroupStallsNothing: a process forked into a frozen cgroup
// stops before its exec, and Go's fork waits for that exec holding one of
// the runtime's processors: two such starts stopped all of pmtr (no exit
// handled, status unanswered). A job whose cgroup is frozen now fails to
// start, with the reason, and starts once the cgroup is thawed; the other
// jobs, status and SIGTERM are not held up meanwhile. A job whose cgroup
// pmtr makes below a frozen subtree is told frozen the same way (pmtr
// reads the subtree's cgroup.events for a cgroup it has just made).
func TestFrozenCgroupStallsNothing(t *testing.T) {
	needCgroups(t)
	var conf strings.Builder
	for i := range 4 {
		fmt.Fprintf(&conf, "job {\nname f%d\ncmd /bin/sleep 0.2\n}\n", i)
	}
	conf.WriteString("job {\nname late\ncmd /bin/sleep 100700\ndisable\n}\n")
	dir, path := writeConf(t, conf.String())
	d := startForeground(t, dir, path)
	for i := range 4 {
		waitLogRe(t, d.log, fmt.Sprintf(`job f%d \[\d+\] exited`, i), eventWait)
	}
	out, _, _ := pmtrIn(t, path, "status", "--json")
	m := regexp.MustCompile(`"contained": "cgroup ([^"]+)/job-f0"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no cgroup for f0:\n%s", out)
	}
	freeze := func(v string) {
		for i := range 4 {
			if err := os.WriteFile(filepath.Join(m[1], fmt.Sprintf("job-f%d", i), "cgroup.freeze"), []byte(v), 0); err != nil {
				t.Skipf("can't freeze a job's cgroup: %v", err)
			}
		}
	}
	freeze("1")
	t.Cleanup(func() { // a failed test leaves no frozen cgroup behind
		for i := range 4 {
			os.WriteFile(filepath.Join(m[1], fmt.Sprintf("job-f%d", i), "cgroup.freeze"), []byte("0"), 0)
		}
	})
	// The restarts come 10 s after the first starts.
	for i := range 4 {
		waitLogRe(t, d.log, fmt.Sprintf(`job f%d: can't start: its cgroup \S+ is frozen`, i), 10*time.Second+eventWait)
	}
	base := filepath.Join(m[1], "cgroup.freeze") // pmtr is not in it: it shares the test's cgroup
	if err := os.WriteFile(base, []byte("1"), 0); err != nil {
		t.Skipf("can't freeze pmtr's subtree: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(base, []byte("0"), 0) })
	if _, errOut, code := pmtrIn(t, path, "start", "late"); code == 0 || !regexp.MustCompile(`its cgroup \S+/job-late is frozen`).MatchString(errOut) {
		t.Fatalf("pmtr start late with pmtr's subtree frozen: exit %d, %s\n%s", code, errOut, d.log.String())
	}
	d.status(eventWait)
	os.WriteFile(base, []byte("0"), 0)
	freeze("0")
	for i := range 4 {
		waitLogRe(t, d.log, fmt.Sprintf(`(?s)is frozen.*started job f%d \[`, i), 10*time.Second+eventWait)
	}
	waitLogRe(t, d.log, `(?s)job-late is frozen.*started job late \[`, 10*time.Second+eventWait)
	d.terminate(eventWait)
}
