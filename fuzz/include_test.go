package fuzz

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/live/files"
)

// fileSep splits a fuzz input into files: the main file first, then the
// drop-ins d/0.conf, d/1.conf, ... (at most 8).
const fileSep = "\n--8<--\n"

// outside: an include line that could reach beyond the test's directory.
var outside = regexp.MustCompile(`(?m)^[ \t\r]*include[ \t\r]+("|#)?(/|[^\n]*\.\.)`)

// FuzzInclude: a config in pieces (written to a temp dir) never panics the
// reader or the parser; the real files and a snapshot of them in memory
// load the same; and a config that loads prints (pmtr cat) as one file
// that parses to the same jobs.
func FuzzInclude(f *testing.F) {
	dirs, _ := filepath.Glob("../confgrammar/testdata/include/*")
	for _, dir := range dirs {
		if seed := seedOf(dir); seed != "" {
			f.Add([]byte(seed))
		}
	}
	f.Add([]byte("job {\nname a\ncmd /a\n}" + fileSep + "job {\nname a\noverride\nenv X=1\n}" + fileSep + "include *.conf\n"))
	f.Add([]byte("include \x00/0\n")) // the disk said EINVAL, the snapshot nothing (make test's fuzzing found it)
	f.Add([]byte("job {\nname a\ncmd /a\nafter b\n}" + fileSep + "job {\nname b\ncmd /b\nonce\n}" + fileSep + "job {\nname b\noverride\nrestart always\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := strings.Split(string(data), fileSep)
		if len(parts) > 9 || outside.MatchString(string(data)) {
			return
		}
		dir := t.TempDir()
		main := filepath.Join(dir, "pmtr.conf")
		mem := confgrammar.MapFS{main: "include d/*.conf\n" + parts[0]}
		for i, p := range parts[1:] {
			mem[filepath.Join(dir, "d", fmt.Sprintf("%d.conf", i))] = p
		}
		for name, text := range mem {
			os.MkdirAll(filepath.Dir(name), 0o755)
			if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		onDisk, _, errDisk := files.LoadConfig(main)
		inMem, errMem := confgrammar.Load(main, mem)
		if fmt.Sprint(errDisk) != fmt.Sprint(errMem) || !reflect.DeepEqual(onDisk, inMem) {
			t.Fatalf("the files and their snapshot load differently:\n%v\n%v", errDisk, errMem)
		}
		if errMem != nil {
			return
		}
		flat := confgrammar.FormatSources(inMem, nil)
		again, err := confgrammar.Parse(main, []byte(flat))
		if err != nil {
			t.Fatalf("pmtr cat's text does not parse: %v\n%s", err, flat)
		}
		if !reflect.DeepEqual(definitions(inMem.Jobs), definitions(again.Jobs)) {
			t.Fatalf("pmtr cat's text is another config:\n%s", flat)
		}
	})
}

// seedOf joins a golden include directory's files in the fuzz input's form
// (the main file's include line is the target's own).
func seedOf(dir string) string {
	main, err := os.ReadFile(filepath.Join(dir, "pmtr.conf"))
	if err != nil {
		return ""
	}
	var rest []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "pmtr.conf" {
			rest = append(rest, p)
		}
		return nil
	})
	sort.Strings(rest)
	parts := []string{string(bytes.ReplaceAll(main, []byte("include"), []byte("# include")))}
	for _, p := range rest {
		b, _ := os.ReadFile(p)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, fileSep)
}

// definitions are jobs without where they are written.
func definitions(jobs []confgrammar.Job) []confgrammar.Job {
	out := make([]confgrammar.Job, len(jobs))
	for i, j := range jobs {
		j.Pos, j.File, j.Origins = confgrammar.Pos{}, "", nil
		out[i] = j
	}
	return out
}
