package live

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The drop-in tests run a config that includes DROP/*.conf, DROP a
// directory of the test's own made before the daemon starts, and write
// and remove files there as a package or a configuration manager would.

// startDropIn starts the daemon on keepJob and an include of a fresh
// drop-in directory holding files (name -> text); it returns the daemon
// and the directory, once the daemon watches it.
func startDropIn(t *testing.T, files map[string]string) (*running, string) {
	t.Helper()
	drop := t.TempDir()
	for name, text := range files {
		putFile(t, drop, name, text, 0o644)
	}
	r := startDaemon(t, keepJob+"include "+drop+"/*.conf\n")
	r.waitLog(`started job keep `, eventWait)
	r.waitWatchedDir(drop)
	return r, drop
}

// putFile saves a file of the drop-in directory as tools do: written
// aside (a hidden name the pattern does not take), its mode set, then
// renamed into place.
func putFile(t *testing.T, dir, name, text string, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitWatchedDir waits until the daemon watches dir (see waitWatched).
func (r *running) waitWatchedDir(dir string) {
	r.t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		r.t.Fatal(err)
	}
	want := fmt.Sprintf(" ino:%x ", st.Sys().(*syscall.Stat_t).Ino)
	for deadline := time.Now().Add(eventWait); !watched(want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("the daemon does not watch %s within %v; log:\n%s", dir, eventWait, r.out)
		}
	}
}

// waitCount waits until at least n log lines match re.
func (r *running) waitCount(re string, n int) {
	r.t.Helper()
	for deadline := time.Now().Add(eventWait); r.count(re) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("fewer than %d log lines match %q within %v; log:\n%s", n, re, eventWait, r.out)
		}
	}
}

func jobText(name, arg string) string {
	return "job {\nname " + name + "\ncmd /bin/sleep " + arg + "\n}\n"
}

// TestDropInAddedStartsRemovedStops: a file dropped into the directory
// starts its job at once; removing it stops the job; the log names the
// file; the main file's job is not touched.
func TestDropInAddedStartsRemovedStops(t *testing.T) {
	r, drop := startDropIn(t, nil)
	putFile(t, drop, "web.conf", jobText("web", "91"), 0o644)
	pid := pidOf(t, r.waitLog(`started job web \[(\d+)\]`, eventWait)[1])
	r.waitLog(`rescanning job configuration: `+drop+`/web.conf added`, eventWait)
	if err := os.Remove(filepath.Join(drop, "web.conf")); err != nil {
		t.Fatal(err)
	}
	r.waitLog(`rescanning job configuration: `+drop+`/web.conf removed`, eventWait)
	r.waitLog(fmt.Sprintf(`job web\(deleted\) \[%d\] exited after \d+ sec: signal 15`, pid), eventWait)
	if alive(pid) {
		t.Fatalf("the removed file's job %d still runs", pid)
	}
	r.expectKeepUntouched()
}

// TestDropInOverrideRestartsOnlyItsJob: a drop-in that overrides a job
// restarts that job alone.
func TestDropInOverrideRestartsOnlyItsJob(t *testing.T) {
	r, drop := startDropIn(t, map[string]string{"a.conf": jobText("a", "92"), "b.conf": jobText("b", "93")})
	a := pidOf(t, r.waitLog(`started job a \[(\d+)\]`, eventWait)[1])
	b := pidOf(t, r.waitLog(`started job b \[(\d+)\]`, eventWait)[1])
	putFile(t, drop, "z-a.conf", "job {\nname a\noverride\nenv OVERRIDDEN=1\n}\n", 0o644)
	r.waitLog(fmt.Sprintf(`job a \[%d\] exited[^\n]*\n(.*\n)*.*started job a \[`, a), eventWait)
	if n := r.count(`started job b `); n != 1 || !alive(b) {
		t.Fatalf("the override restarted another job (b started %d times, alive %v)\n%s", n, alive(b), r.out)
	}
	r.expectKeepUntouched()
}

// TestDropInOneInvalidFileAppliesNothing: while one file of the directory
// does not parse, no change of the others applies (the error names its
// FILE:LINE:COL); once it is gone, they all apply together.
func TestDropInOneInvalidFileAppliesNothing(t *testing.T) {
	r, drop := startDropIn(t, map[string]string{"a.conf": jobText("a", "94")})
	a := pidOf(t, r.waitLog(`started job a \[(\d+)\]`, eventWait)[1])
	refused := `NOTE: using PREVIOUS job config`
	putFile(t, drop, "c.conf", "job {\nname c\ncmd /bin/sleep 95\n", 0o644)
	r.waitLog(`ERROR: `+drop+`/c.conf:1:5: job block is not closed`, eventWait)
	n := r.count(refused)
	putFile(t, drop, "b.conf", jobText("b", "96"), 0o644)
	r.waitCount(refused, n+1)
	n = r.count(refused)
	putFile(t, drop, "a.conf", jobText("a", "97"), 0o644)
	r.waitCount(refused, n+1)
	if r.count(`started job (b|c) `) != 0 || r.count(`started job a `) != 1 || !alive(a) {
		t.Fatalf("a change applied while a file of the config was invalid:\n%s", r.out)
	}
	if err := os.Remove(filepath.Join(drop, "c.conf")); err != nil {
		t.Fatal(err)
	}
	r.waitLog(`started job b \[`, eventWait)
	r.waitLog(fmt.Sprintf(`job a \[%d\] exited[^\n]*\n(.*\n)*.*started job a \[`, a), eventWait)
	r.expectKeepUntouched()
}

// TestDropInGroupWritableIsRefused: pmtr running as root refuses a drop-in
// its group can write (another user could run programs as root): the
// config in force stays and the log says which file and what fixes it;
// the fix (chmod) applies at once.
func TestDropInGroupWritableIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: pmtr refuses files others can write only when it runs as root")
	}
	r, drop := startDropIn(t, map[string]string{"a.conf": jobText("a", "98")})
	r.waitLog(`started job a \[`, eventWait)
	putFile(t, drop, "b.conf", jobText("b", "99"), 0o664)
	b := filepath.Join(drop, "b.conf")
	r.waitLog(`ERROR: [^\n]*`+b+` is writable by its group \(mode 0664\)[^\n]*\(fix: chmod go-w `+b+`\)`, eventWait)
	r.waitLog(`NOTE: using PREVIOUS job config`, eventWait)
	if r.count(`started job b `) != 0 {
		t.Fatalf("a group-writable drop-in was applied:\n%s", r.out)
	}
	if err := os.Chmod(b, 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitLog(`started job b \[`, eventWait)
	if !strings.Contains(r.out.String(), "config ok again") {
		t.Fatalf("the fix is not logged as a good config:\n%s", r.out)
	}
	r.expectKeepUntouched()
}
