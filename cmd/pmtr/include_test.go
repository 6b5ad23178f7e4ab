package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dropInConf writes a config of a main file and a drop-in directory: a
// job in each file, and an override.
func dropInConf(t *testing.T) (dir, conf string) {
	t.Helper()
	dir, conf = writeConf(t, "")
	text := "report to udp://127.0.0.1:9999\ninclude pmtr.d/*.conf\njob {\n  name main\n  cmd /bin/sleep 431\n  depends { " + dir + "/dep.txt }\n}\n"
	os.WriteFile(conf, []byte(text), 0o644)
	os.WriteFile(filepath.Join(dir, "dep.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "pmtr.d"), 0o755)
	for name, text := range map[string]string{
		"10-web.conf": "job {\n  name web\n  cmd /bin/sleep 432\n  env A=1\n  env B=2\n}\n",
		"90-web.conf": "# the admin's change\njob {\n  name web\n  override\n  env A=8\n  order 5\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "pmtr.d", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, conf
}

// TestCatGolden: pmtr cat prints the config as one file, each line with
// the FILE:LINE it came from (testdata/cat.golden, the directory as DIR):
// read from the files when no pmtr runs the config, and the same text
// from the daemon that runs it; pmtr -t -v names the files too.
func TestCatGolden(t *testing.T) {
	dir, conf := dropInConf(t)
	out, errOut, code := pmtrIn(t, conf, "cat")
	if code != 0 {
		t.Fatalf("cat without a daemon: exit %d %s", code, errOut)
	}
	got := strings.ReplaceAll(out, dir, "DIR")
	want, err := os.ReadFile("testdata/cat.golden")
	if err != nil || got != string(want) {
		t.Fatalf("pmtr cat:\n%s\nwant (testdata/cat.golden):\n%s", got, want)
	}
	if out, _, code := runPmtr(t, "-t", "-v", "-c", conf); code != 0 || !strings.Contains(out, "  env A=8                               # "+dir+"/pmtr.d/90-web.conf:5\n") {
		t.Fatalf("pmtr -t -v: exit %d\n%s", code, out)
	}
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web \[`, eventWait)
	fromDaemon, errOut, code := pmtrIn(t, conf, "cat")
	if code != 0 || fromDaemon != out {
		t.Fatalf("cat from the daemon: exit %d %s\n%s\nwant the files' text:\n%s", code, errOut, fromDaemon, out)
	}
	if web, _, code := pmtrIn(t, conf, "cat", "web"); code != 0 || strings.Contains(web, "main") || !strings.HasPrefix(web, "job {") {
		t.Fatalf("cat web: exit %d\n%s", code, web)
	}
	if _, errOut, code := pmtrIn(t, conf, "cat", "wbe"); code != 4 || !strings.Contains(errOut, `(did you mean "web"?)`) {
		t.Fatalf("cat of an unknown job: exit %d %s", code, errOut)
	}
	d.terminate(eventWait)
	if _, errOut, code := pmtrIn(t, conf, "cat", "wbe"); code != 4 || !strings.Contains(errOut, `(did you mean "web"?)`) {
		t.Fatalf("cat of an unknown job without a daemon: exit %d %s", code, errOut)
	}
}

// TestPlanNamesTheFiles: pmtr plan of a config in pieces names the file
// of each job it would act on; an invalid drop-in names its line.
func TestPlanNamesTheFiles(t *testing.T) {
	_, oldConf := dropInConf(t)
	newDir, newConf := dropInConf(t)
	old, _ := os.ReadFile(oldConf)
	os.WriteFile(newConf, old, 0o644) // the same dependency
	os.WriteFile(filepath.Join(newDir, "pmtr.d/90-web.conf"), []byte("job {\n  name web\n  override\n  env A=9\n  order 5\n}\n"), 0o644)
	os.WriteFile(filepath.Join(newDir, "pmtr.d/50-api.conf"), []byte("job {\n  name api\n  cmd /bin/sleep 433\n}\n"), 0o644)
	out, errOut, code := runPmtr(t, "plan", "--against", oldConf, newConf)
	want := "start api  # " + newDir + "/pmtr.d/50-api.conf:1\nrestart web (env changed)  # " + newDir + "/pmtr.d/10-web.conf:1\nuntouched: 1 job\n"
	if code != 0 || out != want {
		t.Fatalf("plan: exit %d %s\n%s\nwant:\n%s", code, errOut, out, want)
	}
	os.WriteFile(filepath.Join(newDir, "pmtr.d/50-api.conf"), []byte("job {\n  name api\n"), 0o644)
	if _, errOut, code := runPmtr(t, "plan", "--against", oldConf, newConf); code != 1 || !strings.Contains(errOut, newDir+"/pmtr.d/50-api.conf:1:5: job block is not closed") {
		t.Fatalf("plan of an invalid drop-in: exit %d %s", code, errOut)
	}
}
