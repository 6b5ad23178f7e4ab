package live

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pmtr/live/watch"
	"pmtr/proctest"
)

// Each save test checks that the change applies and that nothing else
// restarts: the job "keep" must be started exactly once.

const keepJob = "job {\nname keep\ncmd /bin/sleep 81\n}\n"

func varying(arg string) string {
	return keepJob + "job {\nname v\ncmd /bin/sleep " + arg + "\n}\n"
}

func (r *running) expectKeepUntouched() {
	r.t.Helper()
	if n := r.count(`started job keep `); n != 1 {
		r.t.Fatalf("an unchanged job was restarted (%d starts)\n%s", n, r.out)
	}
}

func (r *running) waitVersion(arg string) {
	r.t.Helper()
	r.waitLog(`started job v \[(\d+)\]`, eventWait)
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		if r.count(`(?s)rescanning job configuration\n.*started job v `) > 0 && r.runsArg(arg) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("job v never ran with argument %s\n%s", arg, r.out)
}

// runsArg: some process started by this test's daemon runs "sleep ARG"
// (one of the test's own: it carries the test's mark).
func (r *running) runsArg(arg string) bool {
	return len(proctest.MarkedArgv(r.t, "/bin/sleep", arg)) > 0
}

func TestWatchInPlaceWrite(t *testing.T) {
	r := startDaemon(t, varying("82"))
	r.waitLog(`started job v `, eventWait)
	r.write(varying("83"))
	r.waitVersion("83")
	r.expectKeepUntouched()
}

func TestWatchRenameOver(t *testing.T) {
	r := startDaemon(t, varying("84"))
	r.waitLog(`started job v `, eventWait)
	tmp := filepath.Join(r.dir, ".pmtr.conf.swp")
	os.WriteFile(tmp, []byte(varying("85")), 0o644)
	if err := os.Rename(tmp, r.conf); err != nil {
		t.Fatal(err)
	}
	r.waitVersion("85")
	r.expectKeepUntouched()
}

func TestWatchDeleteThenRecreate(t *testing.T) {
	r := startDaemon(t, varying("86"))
	r.waitLog(`started job v `, eventWait)
	os.Remove(r.conf)
	r.waitLog(`NOTE: using PREVIOUS job config`, eventWait)
	r.write(varying("87"))
	r.waitVersion("87")
	r.expectKeepUntouched()
}

func TestWatchSymlinkSwap(t *testing.T) {
	r := startDaemon(t, "")
	r.waitLog(`pmtr: starting`, eventWait) // the watch is in place
	// Kubernetes ConfigMap layout: pmtr.conf -> ..data/pmtr.conf, ..data -> v1.
	for _, v := range []string{"v1", "v2"} {
		os.Mkdir(filepath.Join(r.dir, v), 0o755)
	}
	os.WriteFile(filepath.Join(r.dir, "v1", "pmtr.conf"), []byte(varying("88")), 0o644)
	os.WriteFile(filepath.Join(r.dir, "v2", "pmtr.conf"), []byte(varying("89")), 0o644)
	os.Symlink("v1", filepath.Join(r.dir, "..data"))
	os.Remove(r.conf)
	os.Symlink("..data/pmtr.conf", r.conf)
	r.waitVersion("88")
	os.Symlink("v2", filepath.Join(r.dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(r.dir, "..data_tmp"), filepath.Join(r.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	r.waitVersion("89")
	r.expectKeepUntouched()
}

func TestWatchSameContentDoesNothing(t *testing.T) {
	r := startDaemon(t, varying("90"))
	r.waitLog(`started job v `, eventWait)
	r.write(varying("90"))
	now := time.Now()
	os.Chtimes(r.conf, now, now)
	// A save that changes something comes after: once it has applied, the
	// same-content save before it has been looked at, and must have made
	// no rescan of its own.
	r.write(varying("98"))
	r.waitVersion("98")
	if n := r.count(`rescanning`); n != 1 {
		t.Fatalf("a same-content save, then a change: %d rescans, want 1 (the change's)\n%s", n, r.out)
	}
	r.expectKeepUntouched()
}

// TestWatchBurstOfSavesAppliesTheFinalContent: a program that saves 100
// times, 10 ms apart: the first save applies at once, the rest once the
// burst is over, with the final content.
func TestWatchBurstOfSavesAppliesTheFinalContent(t *testing.T) {
	r := startDaemon(t, varying("91"))
	r.waitLog(`started job v `, eventWait)
	var gaps []time.Duration // between the ends of two saves
	start, last := time.Now(), time.Time{}
	for i := 0; i < 100; i++ {
		r.write(varying(fmt.Sprint(1000 + i)))
		if !last.IsZero() {
			gaps = append(gaps, time.Since(last))
		}
		last = time.Now()
		time.Sleep(10 * time.Millisecond) // the writer's pace
	}
	r.waitVersion("1099")
	time.Sleep(300 * time.Millisecond) // no rescan may follow: a grace period, not a wait for an event
	if n, most := r.count(`rescanning`), burstRescans(gaps, last.Sub(start)); n > most {
		t.Fatalf("a burst of 100 saves (at most %v apart, %v in all) rescanned %d times, want at most %d\n%s",
			slices.Max(gaps), last.Sub(start), n, most, r.out)
	}
	r.expectKeepUntouched()
}

// burstRescans is how many rescans pmtr's rules allow for saves with these
// gaps: 2 for a burst (the first save at once, the last once quiet), one
// more if the second save came too late to be seen as quick (50 ms), two
// more for each pause that ended the burst (150 ms of quiet: it applies,
// and the next save at once), one more for each 2 s pmtr waits at most.
// On a quiet machine the saves are 10 ms apart and 1.1 s in all: 2. (A
// busy machine holds the writer longer; margins for the measure.)
func burstRescans(gaps []time.Duration, took time.Duration) int {
	most := 2 + int(took/(2*time.Second))
	if gaps[0] > 40*time.Millisecond {
		most++
	}
	for _, g := range gaps {
		if g > 120*time.Millisecond {
			most += 2
		}
	}
	return most
}

// TestWatchPartialWritesApplyOnceWhenClosed: one save written in 100
// pieces, 10 ms apart, applies once, with the whole content.
func TestWatchPartialWritesApplyOnceWhenClosed(t *testing.T) {
	r := startDaemon(t, varying("96"))
	r.waitLog(`started job v `, eventWait)
	f, err := os.OpenFile(r.conf, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	text := varying("97") + strings.Repeat("# padding\n", 50)
	for i := range 100 {
		f.WriteString(text[i*len(text)/100 : (i+1)*len(text)/100])
		time.Sleep(10 * time.Millisecond)
	}
	f.Close()
	r.waitVersion("97")
	time.Sleep(300 * time.Millisecond) // no rescan may follow: a grace period, not a wait for an event
	if n := r.count(`rescanning`); n != 1 {
		t.Fatalf("one save written in 100 pieces rescanned %d times, want 1\n%s", n, r.out)
	}
	r.expectKeepUntouched()
}

func TestWatchInvalidSaveKeepsConfigThenValidApplies(t *testing.T) {
	r := startDaemon(t, varying("92"))
	r.waitLog(`started job v `, eventWait)
	r.write(keepJob + "job {\nname v\ncmd /bin/sleep 93\n") // no closing brace
	r.waitLog(`FAILED to parse`, eventWait)
	r.waitLog(`ERROR: .*pmtr.conf:\d+:\d+: `, eventWait)
	r.waitLog(`NOTE: using PREVIOUS job config`, eventWait)
	if r.count(`SIGTERM`) != 0 {
		t.Fatalf("an invalid save stopped a job\n%s", r.out)
	}
	r.write(varying("94"))
	r.waitVersion("94")
	r.waitLog(`config ok again: 2 jobs\n`, eventWait)
	r.expectKeepUntouched()
}

func TestWatchDependency(t *testing.T) {
	r := startDaemon(t, keepJob+"job {\nname d\ncmd /bin/sleep 95\ndir {{dir}}\ndepends {\ndep.txt\n}\n}\n")
	dep := filepath.Join(r.dir, "dep.txt")
	r.waitLog(`can't open dependency .*dep.txt; holding the job stopped`, eventWait)
	os.WriteFile(dep, []byte("one"), 0o644)
	r.waitLog(`started job d \[`, eventWait)
	os.WriteFile(dep, []byte("one"), 0o644) // same content: nothing
	// A change comes after it: once that has restarted the job, the same
	// content write has been looked at, and must have restarted nothing.
	os.WriteFile(dep, []byte("two"), 0o644)
	r.waitLog(`(?s)dependency .*dep.txt changed; restarting.*sending SIGTERM to job d.*started job d \[`, eventWait)
	if n := r.count(`SIGTERM`); n != 1 {
		t.Fatalf("a same-content dependency write, then a change: %d SIGTERMs, want 1 (the change's)\n%s", n, r.out)
	}
	os.Remove(dep)
	r.waitLog(`(?s)changed; restarting.*can't open dependency .*dep.txt; holding`, eventWait)
	os.WriteFile(dep, []byte("three"), 0o644)
	deadline := time.Now().Add(eventWait)
	for r.count(`started job d `) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r.count(`started job d `) != 3 {
		t.Fatalf("job d did not start again when its dependency came back\n%s", r.out)
	}
	r.expectKeepUntouched()
}

// TestWatchDependencyInMissingDirectory: a dependency whose directory does
// not exist yet cannot be watched; polling finds it once it appears.
func TestWatchDependencyInMissingDirectory(t *testing.T) {
	other := t.TempDir() // not watched: only the poll can see what appears here
	r := startDaemon(t, "job {\nname late\ncmd /bin/sleep 78\ndepends {\n"+other+"/later/dep.conf\n}\n}\n")
	r.waitLog(`holding the job stopped`, eventWait)
	os.Mkdir(filepath.Join(other, "later"), 0o755)
	os.WriteFile(filepath.Join(other, "later", "dep.conf"), []byte("x"), 0o644)
	r.waitLog(`started job late \[`, watch.PollEvery+eventWait)
}
