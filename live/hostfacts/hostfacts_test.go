package hostfacts

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pmtr/confgrammar"
)

// A runtime directory that others may use is refused, never repaired.
func TestSecureDirRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pmtr")
	if err := SecureDir(dir, true); err != nil {
		t.Fatalf("a fresh directory: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := SecureDir(dir, true)
	if err == nil || !strings.Contains(err.Error(), "has mode 0777") {
		t.Fatalf("an open directory: %v", err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o777 {
		t.Fatalf("the directory was changed to %v", st.Mode().Perm())
	}
}

// The hash names one file per config, whichever way the path is written.
func TestConfigHashOfSameFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if a, b := ConfigHash("pmtr.conf"), ConfigHash(filepath.Join(dir, "pmtr.conf")); a != b || len(a) != 12 {
		t.Fatalf("hashes %q and %q", a, b)
	}
}

// Host warnings resolve the program against the job's dir and name what is wrong.
func TestHostWarnings(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o644)
	cfg := &confgrammar.Config{Jobs: []confgrammar.Job{
		{Name: "a", Cmd: []string{"sleep"}},
		{Name: "b", Cmd: []string{"./prog"}, Dir: dir, Out: "syslog"},
		{Name: "c", Cmd: []string{"/bin/true"}, Err: "/no/such/dir/err"},
		// The same paths again: a check stats each path once, and says it for every job.
		{Name: "d", Cmd: []string{"./prog"}, Dir: dir, Err: "/no/such/dir/err2"},
		{Name: "e", Cmd: []string{"/bin/true"}, Out: "/no/such/dir/out"},
	}}
	got := HostWarnings("f.conf", cfg, "/")
	want := []string{
		"job a: cmd sleep is not a path: pmtr does not search PATH",
		"job b: cmd ./prog is not executable (chmod +x ./prog)",
		"job c: err /no/such/dir/err: its directory does not exist",
		"job d: cmd ./prog is not executable (chmod +x ./prog)",
		"job d: err /no/such/dir/err2: its directory does not exist",
		"job e: out /no/such/dir/out: its directory does not exist",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].File != "f.conf" || !strings.HasPrefix(got[i].Msg, w) {
			t.Errorf("warning %d: %+v, want %q", i, got[i], w)
		}
	}
}

// TestControlWithoutKeyOffLoopbackWarns checks the rule without binding a
// non-loopback address (tests stay on loopback).
func TestControlWithoutKeyOffLoopbackWarns(t *testing.T) {
	for addr, want := range map[string]bool{"0.0.0.0": true, "::": true, "192.0.2.7": true, "127.0.0.1": false, "::1": false, "127.3.4.5": false} {
		if got := OpenToOthers(net.ParseIP(addr)); got != want {
			t.Errorf("OpenToOthers(%s) = %v, want %v", addr, got, want)
		}
	}
}

// runIn makes a fresh runtime directory the test's, for root and others.
func runIn(t *testing.T) string {
	t.Helper()
	saved := RootRunDir
	t.Cleanup(func() { RootRunDir = saved })
	x := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", x)
	RootRunDir = filepath.Join(x, "pmtr")
	return RuntimeDir()
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestLockConfig: one pmtr per config; release removes the lock file.
func TestLockConfig(t *testing.T) {
	dir := runIn(t)
	release, err := LockConfig("/etc/a.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockConfig("/etc/a.conf"); err == nil || !strings.Contains(err.Error(), "another pmtr (pid ") {
		t.Fatalf("a second lock: %v", err)
	}
	release()
	if n := names(t, dir); len(n) != 0 {
		t.Fatalf("left after release: %v", n)
	}
}

// TestSweepStale: the lock (and the files named with it) of a config whose
// lock nobody holds go; a held lock, and the files the next pmtr of a
// config needs, stay.
func TestSweepStale(t *testing.T) {
	dir := runIn(t)
	release, err := LockConfig("/etc/running.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	run, gone := ConfigHash("/etc/running.conf"), ConfigHash("/etc/gone.conf")
	for _, n := range []string{"lock-" + gone, "status-" + gone + ".sock", "jobs-" + gone, "status-" + run + ".sock", "replay-0123456789abcdef"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{gone, run} { // notify directories, with a socket file left
		os.MkdirAll(notifyDirOf(h), 0o700)
		os.WriteFile(filepath.Join(notifyDirOf(h), "web.sock"), nil, 0o600)
	}
	also := func(hash string) []string { return []string{"status-" + hash + ".sock"} }
	if n := SweepStale(also); n != 1 {
		t.Fatalf("swept %d configs, want 1", n)
	}
	if _, err := os.Stat(notifyDirOf(gone)); !os.IsNotExist(err) {
		t.Errorf("the notify directory of the config whose pmtr is gone is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(notifyDirOf(run), "web.sock")); err != nil {
		t.Errorf("the running config's notify socket went: %v", err)
	}
	os.RemoveAll(notifyDirOf(run)) // (for the listing below, when it is in the runtime directory)
	want := []string{"jobs-" + gone, "lock-" + run, "replay-0123456789abcdef", "status-" + run + ".sock"}
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the sweep: %v, want %v", got, want)
	}
	again, err := LockConfig("/etc/gone.conf") // the config is free to run again
	if err != nil {
		t.Fatalf("lock after the sweep: %v", err)
	}
	again()
}

// TestWritableByOthers: only root may change a config file pmtr reads as
// root, nor the directories above it (a sticky one such as /tmp may be
// open to all); a warning names the main file that others can write.
func TestWritableByOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check is root's")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(f, []byte("job {\nname a\ncmd /bin/true\n}\n"), 0o644)
	if err := WritableByOthers(f); err != nil {
		t.Fatalf("a root file in a root directory below /tmp: %v", err)
	}
	os.Chmod(dir, 0o777)
	if err := WritableByOthers(f); err == nil || !strings.Contains(err.Error(), "directory "+dir+" is writable by its group and everyone (mode 0777)") {
		t.Fatalf("an open directory above: %v", err)
	}
	os.Chmod(dir, 0o777|os.ModeSticky)
	if err := WritableByOthers(f); err != nil {
		t.Fatalf("a sticky directory above: %v", err)
	}
	if err := WritableByOthers(dir); err == nil {
		t.Fatal("a sticky directory others can add files to is not safe to take files from")
	}
	os.Chmod(dir, 0o700)
	os.Chmod(f, 0o620)
	cfg, _ := confgrammar.Parse(f, []byte("job {\nname a\ncmd /bin/true\n}\n"))
	ws := HostWarnings(f, cfg, dir)
	if len(ws) == 0 || ws[0].String() != f+":1:1: warning: pmtr runs as root and "+f+" is writable by its group (mode 0620): whoever can change it could run programs as root (fix: chmod go-w "+f+")" {
		t.Fatalf("warnings %v", ws)
	}
}

// TestHostWarningsPointAtTheirOption: a warning is at the line of the
// option it is about, not at the job keyword.
func TestHostWarningsPointAtTheirOption(t *testing.T) {
	src := "job {\n  name a\n  dir /no/such/dir\n  cmd /no/such/prog\n  user no-such-user-here\n}\n"
	cfg, err := confgrammar.Parse("f.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range HostWarnings("f.conf", cfg, "/") {
		got = append(got, w.String())
	}
	want := []string{
		"f.conf:3:3: warning: job a: dir /no/such/dir does not exist",
		"f.conf:4:3: warning: job a: cmd /no/such/prog does not exist",
		"f.conf:5:3: warning: job a: user no-such-user-here does not exist on this host",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPathHintPrefersTheSystemsProgram: a program named without a path is
// suggested from the system's directories before a login's PATH, and a
// version manager's shim is named as one.
func TestPathHintPrefersTheSystemsProgram(t *testing.T) {
	dir := t.TempDir()
	shims := filepath.Join(dir, ".pyenv", "shims")
	os.MkdirAll(shims, 0o755)
	for _, p := range []string{filepath.Join(shims, "sh"), filepath.Join(shims, "onlyshim")} {
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	}
	if hint := pathHint("sh", shims+":/usr/bin:/bin"); hint != "write /usr/bin/sh" && hint != "write /bin/sh" {
		t.Errorf("sh with a shim first on PATH: %q", hint)
	}
	if hint := pathHint("onlyshim", shims); !strings.Contains(hint, "the only onlyshim found is "+filepath.Join(shims, "onlyshim")+", a shim") {
		t.Errorf("a shim alone: %q", hint)
	}
	if hint := pathHint("no-such-program-here", shims); hint != "write its full path" {
		t.Errorf("nothing found: %q", hint)
	}
}
