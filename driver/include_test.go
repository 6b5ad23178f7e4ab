package driver_test

import (
	"slices"
	"strings"
	"testing"

	"pmtr/driver"
	"pmtr/sim"
)

// dropIns starts the driver on pmtr.conf including pmtr.d/*.conf, with
// the drop-in files given (name -> text).
func dropIns(t *testing.T, files map[string]string) *sim.World {
	t.Helper()
	w := sim.NewWorldWith(nil, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/etc"})
	w.B.SetFile("pmtr.conf", "include pmtr.d/*.conf\njob {\nname main\ncmd /bin/main\n}\n")
	for name, text := range files {
		w.B.SetFile("pmtr.d/"+name, text)
	}
	w.Start()
	return w
}

func job(name, cmd string) string { return "job {\nname " + name + "\ncmd " + cmd + "\n}\n" }

// TestDropInAddedStartsRemovedStops: a file added to the directory starts
// its jobs, one removed stops them; the log says which file; the others
// are not touched.
func TestDropInAddedStartsRemovedStops(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a")})
	if count(w, `started job (main|a) \[`) != 2 {
		t.Fatalf("the first config did not start:\n%s", w.Transcript())
	}
	w.B.SetFile("pmtr.d/b.conf", job("b", "/bin/b"))
	w.Input(driver.Reload{})
	if count(w, `rescanning job configuration: pmtr.d/b.conf added`) != 1 || count(w, `started job b \[`) != 1 {
		t.Fatalf("an added file:\n%s", w.Transcript())
	}
	w.B.RemoveFile("pmtr.d/a.conf")
	w.Input(driver.Reload{})
	if count(w, `rescanning job configuration: pmtr.d/a.conf removed`) != 1 || count(w, `sending SIGTERM to job a\(deleted\)`) != 1 {
		t.Fatalf("a removed file:\n%s", w.Transcript())
	}
	if count(w, `started job (main|b) \[`) != 2 {
		t.Fatalf("a job of another file was restarted:\n%s", w.Transcript())
	}
	if !slices.Contains(w.B.Setup.Watch, "/etc/pmtr.d/*.conf") || !slices.Contains(w.B.Setup.Watch, "/etc/pmtr.d/b.conf") {
		t.Fatalf("watched: %v", w.B.Setup.Watch)
	}
}

// TestOneBadFileAppliesNothing: a reload reads every file and applies
// only if all parse; the error names the bad file's line.
func TestOneBadFileAppliesNothing(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a")})
	w.B.SetFile("pmtr.d/a.conf", job("a", "/bin/a2"))
	w.B.SetFile("pmtr.d/b.conf", job("b", "/bin/b"))
	w.B.SetFile("pmtr.d/c.conf", "job {\nname c\n")
	w.Input(driver.Reload{})
	logs := w.Transcript()
	if !strings.Contains(logs, "ERROR: pmtr.d/c.conf:1:5: job block is not closed") || count(w, `started job (a|b) \[`) != 1 {
		t.Fatalf("one bad file:\n%s", logs)
	}
	if !strings.Contains(logs, "rescanning job configuration: pmtr.d/a.conf changed, pmtr.d/b.conf added, pmtr.d/c.conf added") {
		t.Fatalf("the files are not named:\n%s", logs)
	}
	w.B.RemoveFile("pmtr.d/c.conf")
	w.Input(driver.Reload{})
	if count(w, `started job a \[`) != 2 || count(w, `started job b \[`) != 1 {
		t.Fatalf("the good files did not apply once the bad one went:\n%s", w.Transcript())
	}
}

// TestOverrideRestartsOnlyItsJob: a drop-in that overrides a job restarts
// that job alone.
func TestOverrideRestartsOnlyItsJob(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a"), "b.conf": job("b", "/bin/b")})
	w.B.SetFile("pmtr.d/z.conf", "job {\nname a\noverride\nenv X=1\n}\n")
	w.Input(driver.Reload{})
	if count(w, `started job a \[`) != 2 || count(w, `started job (b|main) \[`) != 2 {
		t.Fatalf("an override:\n%s", w.Transcript())
	}
}

// TestIncludedFileHeldWaits: a drop-in held open for writing is a save in
// progress: nothing applies until it is closed.
func TestIncludedFileHeldWaits(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a")})
	w.B.SetFile("pmtr.d/b.conf", "job {\nname b\n")
	w.B.SetWriting("pmtr.d/b.conf", true)
	w.Input(driver.Reload{})
	if count(w, `rescanning|started job b`) != 0 {
		t.Fatalf("a file being written was applied:\n%s", w.Transcript())
	}
	w.B.SetFile("pmtr.d/b.conf", job("b", "/bin/b"))
	w.B.SetWriting("pmtr.d/b.conf", false)
	w.Input(driver.Reload{})
	if count(w, `started job b \[`) != 1 || count(w, "FAILED") != 0 {
		t.Fatalf("the closed file:\n%s", w.Transcript())
	}
}

// TestCatNamesEachLinesFile: pmtr cat answers the config in force, each
// line with its FILE:LINE, after what each include line matched.
func TestCatNamesEachLinesFile(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a")})
	reply := make(chan driver.Result, 1)
	w.Input(driver.CatQuery{Reply: reply})
	got := strings.Join((<-reply).Lines, "\n")
	for _, want := range []string{"# include pmtr.d/*.conf (pmtr.conf:1): pmtr.d/a.conf", "  name a                                # pmtr.d/a.conf:2", "job {                                   # pmtr.conf:2"} {
		if !strings.Contains(got, want) {
			t.Errorf("cat lacks %q:\n%s", want, got)
		}
	}
	w.Input(driver.CatQuery{Jobs: []string{"b"}, Reply: reply})
	if r := <-reply; r.Code != driver.CodeUnknown {
		t.Errorf("cat of an unknown job: %+v", r)
	}
}

// TestUpgradeKeepsTheConfigsFiles: after pmtr upgrade the new driver knows
// the files of the config in force (a save names only the file it
// changed) and its include lines (pmtr cat).
func TestUpgradeKeepsTheConfigsFiles(t *testing.T) {
	w := dropIns(t, map[string]string{"a.conf": job("a", "/bin/a"), "b.conf": job("b", "/bin/b")})
	if err := w.Upgrade(); err != nil {
		t.Fatal(err)
	}
	reply := make(chan driver.Result, 1)
	w.Input(driver.CatQuery{Reply: reply})
	if got := strings.Join((<-reply).Lines, "\n"); !strings.Contains(got, "# include pmtr.d/*.conf (pmtr.conf:1): pmtr.d/a.conf pmtr.d/b.conf") {
		t.Fatalf("cat after the upgrade:\n%s", got)
	}
	w.B.SetFile("pmtr.d/b.conf", job("b", "/bin/b2"))
	w.Input(driver.Reload{})
	if count(w, `rescanning job configuration: pmtr.d/b.conf changed$`) != 1 {
		t.Fatalf("after the upgrade:\n%s", w.Transcript())
	}
}
