package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSlowly saves text to path as a program that writes in place does:
// it truncates the file, then writes text in pieces with pause before each
// (the pauses are the writer being slow, not synchronisation), and closes.
func writeSlowly(t *testing.T, path, text string, pieces int, pause time.Duration) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range pieces {
		time.Sleep(pause)
		if _, err := f.WriteString(text[i*len(text)/pieces : (i+1)*len(text)/pieces]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSavePausedAfterTruncateRestartsNothing: a writer that truncates the
// config and pauses before writing it back (0.5 s, 3 s) restarts no job
// that did not change; the changed job gets the final content.
func TestSavePausedAfterTruncateRestartsNothing(t *testing.T) {
	for i, pause := range []time.Duration{500 * time.Millisecond, 3 * time.Second} {
		t.Run(pause.String(), func(t *testing.T) {
			arg := []string{"101", "102"}[i]
			r := startDaemon(t, varying("100"))
			r.waitLog(`started job v `, eventWait)
			writeSlowly(t, r.conf, varying(arg), 1, pause)
			r.waitVersion(arg)
			r.expectNoHalfSave()
		})
	}
}

// TestSaveInTenChunksAppliesOnce: one save written in 10 pieces 300 ms
// apart applies once, when the file is closed.
func TestSaveInTenChunksAppliesOnce(t *testing.T) {
	r := startDaemon(t, varying("103"))
	r.waitLog(`started job v `, eventWait)
	writeSlowly(t, r.conf, varying("104")+strings.Repeat("# padding\n", 20), 10, 300*time.Millisecond)
	r.waitVersion("104")
	r.expectNoHalfSave()
	if n := r.count(`rescanning`); n != 1 {
		t.Fatalf("one save in 10 pieces rescanned %d times, want 1\n%s", n, r.out)
	}
}

// expectNoHalfSave: no job was deleted or restarted by a part of a save,
// and no parse failed on one.
func (r *running) expectNoHalfSave() {
	r.t.Helper()
	if r.count(`\(deleted\)|FAILED to parse`) != 0 {
		r.t.Fatalf("a half-written save was applied\n%s", r.out)
	}
	if n := r.count(`started job v `); n != 2 {
		r.t.Fatalf("job v started %d times, want 2 (the first config, then the whole save)\n%s", n, r.out)
	}
	r.expectKeepUntouched()
}

// TestDependencyRewrittenSlowlyRestartsOnce: a dependency truncated, then
// written back after a pause, restarts its job once, after the write.
func TestDependencyRewrittenSlowlyRestartsOnce(t *testing.T) {
	r := startDaemon(t, keepJob+"job {\nname d\ncmd /bin/sleep 105\ndir {{dir}}\ndepends {\ndep.txt\n}\n}\n")
	dep := filepath.Join(r.dir, "dep.txt")
	os.WriteFile(dep, []byte("one"), 0o644)
	r.waitLog(`started job d \[`, eventWait)
	writeSlowly(t, dep, "two two two", 3, 400*time.Millisecond)
	r.waitLog(`(?s)dependency .*dep.txt changed; restarting.*started job d \[`, eventWait)
	r.waitLog(`(?s)started job d \[.*started job d \[`, eventWait)
	// The restart limit (one in 10 s) would hide a second restart: it is
	// logged when asked for, so its line is what to look for.
	if n := r.count(`dependency .*dep.txt changed`); n != 1 {
		t.Fatalf("one slow rewrite of a dependency restarted its job %d times\n%s", n, r.out)
	}
	r.expectKeepUntouched()
}
