package files

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/driver"
)

// dropInDir writes pmtr.conf including pmtr.d/*.conf, and the drop-ins.
func dropInDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "pmtr.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "pmtr.conf"), []byte("include pmtr.d/*.conf\n"), 0o644)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "pmtr.d", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReadConfigReadsTheDropIns: the files a pattern matches are read in
// name order; directories, hidden files and backups are left out.
func TestReadConfigReadsTheDropIns(t *testing.T) {
	dir := dropInDir(t, map[string]string{
		"b.conf":       "job {\nname b\ncmd /bin/b\n}\n",
		"a.conf":       "job {\nname a\ncmd /bin/a\n}\n",
		".x.conf":      "job {\nname hidden\ncmd /bin/x\n}\n",
		"a.conf~":      "job {\nname backup\ncmd /bin/x\n}\n",
		"notes.txt":    "not a config",
		"unused.conf~": "",
	})
	os.Mkdir(filepath.Join(dir, "pmtr.d", "sub.conf"), 0o755)
	conf := filepath.Join(dir, "pmtr.conf")
	cfg, snap, err := ReadConfig(conf, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{conf, filepath.Join(dir, "pmtr.d/a.conf"), filepath.Join(dir, "pmtr.d/b.conf")}
	if !slices.Equal(cfg.Files, want) || !slices.Equal(snap.Paths(), want) || len(cfg.Jobs) != 2 {
		t.Fatalf("files %v, snapshot %v, jobs %d", cfg.Files, snap.Paths(), len(cfg.Jobs))
	}
}

// TestReaderSendsEveryFile: the driver's read brings the main file and
// each file it includes; one held open for writing is not read.
func TestReaderSendsEveryFile(t *testing.T) {
	dir := dropInDir(t, map[string]string{"a.conf": "job {\nname a\ncmd /bin/a\n}\n"})
	conf := filepath.Join(dir, "pmtr.conf")
	f := answer(driver.ReadRequest{Config: conf})
	if f.Config == nil || len(f.Config.Read) != 2 || len(f.Writing) != 0 {
		t.Fatalf("read %+v", f)
	}
	if _, err := confgrammar.Load(conf, f.Config); err != nil {
		t.Fatal(err)
	}
	w, _ := os.OpenFile(filepath.Join(dir, "pmtr.d/a.conf"), os.O_WRONLY, 0)
	defer w.Close()
	f = answer(driver.ReadRequest{Config: conf})
	if !slices.Equal(f.Writing, []string{filepath.Join(dir, "pmtr.d/a.conf")}) {
		t.Fatalf("a held drop-in: writing %v", f.Writing)
	}
}

// TestRootRefusesDropInsOthersCanWrite: pmtr running as root refuses an
// included file or a drop-in directory that another user can write,
// saying which and how to fix it; the main file gets a warning elsewhere.
func TestRootRefusesDropInsOthersCanWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check is root's")
	}
	dir := dropInDir(t, map[string]string{"a.conf": "job {\nname a\ncmd /bin/a\n}\n"})
	conf := filepath.Join(dir, "pmtr.conf")
	drop := filepath.Join(dir, "pmtr.d/a.conf")
	os.Chmod(drop, 0o664)
	_, _, err := ReadConfig(conf, func(string) {})
	if err == nil || !strings.Contains(err.Error(), drop+" is writable by its group (mode 0664)") || !strings.Contains(err.Error(), "chmod go-w "+drop) {
		t.Fatalf("a group-writable drop-in: %v", err)
	}
	os.Chmod(drop, 0o644)
	os.Chown(drop, 65534, 0)
	if _, _, err := ReadConfig(conf, func(string) {}); err == nil || !strings.Contains(err.Error(), "chown root "+drop) {
		t.Fatalf("a drop-in owned by nobody: %v", err)
	}
	os.Chown(drop, 0, 0)
	os.Chmod(filepath.Join(dir, "pmtr.d"), 0o777|os.ModeSticky)
	if _, _, err := ReadConfig(conf, func(string) {}); err == nil || !strings.Contains(err.Error(), "directory "+filepath.Join(dir, "pmtr.d")+" is writable by its group and everyone") {
		t.Fatalf("a drop-in directory anyone can add to: %v", err)
	}
	os.Chmod(filepath.Join(dir, "pmtr.d"), 0o755)
	os.Chmod(conf, 0o666)
	if _, _, err := ReadConfig(conf, func(string) {}); err != nil {
		t.Fatalf("the main file is no error: %v", err)
	}
}
