package confgrammar

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// dirFS reads testdata/include/NAME into memory, paths relative to it.
func dirFS(t *testing.T, dir string) MapFS {
	t.Helper()
	m := MapFS{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIncludeGolden loads testdata/include/NAME/pmtr.conf with the files
// beside it and compares the errors, or the config as pmtr cat prints it,
// with testdata/include/NAME.golden (go test -update rewrites them).
func TestIncludeGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/include/*")
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := describeLoad(dirFS(t, dir))
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, got)
			}
		})
	}
	if n == 0 {
		t.Fatal("no testdata/include/*/")
	}
}

func describeLoad(fsys MapFS) string {
	c, err := Load("pmtr.conf", fsys)
	var list ErrorList
	if errors.As(err, &list) {
		return list.Error() + "\n"
	}
	if err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ok (%d jobs; files %s)\n", len(c.Jobs), strings.Join(c.Files, " "))
	for _, w := range c.Warnings {
		b.WriteString(w.String() + "\n")
	}
	b.WriteString(FormatSources(c, nil))
	return b.String()
}

// TestSnapshotLoadsTheSame: a config loaded from Gather's snapshot is the
// config loaded from the files themselves, for every golden directory.
func TestSnapshotLoadsTheSame(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/include/*")
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		fsys := dirFS(t, dir)
		direct, err1 := Load("pmtr.conf", fsys)
		snap := Gather("pmtr.conf", fsys)
		again, err2 := Load("pmtr.conf", snap)
		if fmt.Sprint(err1) != fmt.Sprint(err2) || !reflect.DeepEqual(direct, again) {
			t.Errorf("%s: from the files: %v %v\nfrom the snapshot: %v %v", dir, err1, direct, err2, again)
		}
		if len(snap.Read) == 0 || snap.Main != "pmtr.conf" || snap.Read[0].Path != "pmtr.conf" {
			t.Errorf("%s: snapshot %+v", dir, snap)
		}
	}
}

// TestOverrideReplacesWhatItGives: an override replaces each option it
// gives, a repeatable one as a whole, and keeps the others.
func TestOverrideReplacesWhatItGives(t *testing.T) {
	c, err := Load("pmtr.conf", MapFS{
		"pmtr.conf": "job {\nname a\ncmd /a x\nenv A=1\nenv B=2\ndepends { /x /y }\nnice 3\n}\ninclude d/*.conf\n",
		"d/o.conf":  "job {\nname a\noverride\nenv C=3\ndepends { /z }\nwait\n}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	j := c.Jobs[0]
	want := Job{Name: "a", Cmd: []string{"/a", "x"}, Env: []string{"C=3"}, Depends: []string{"/z"}, Nice: 3, Wait: true}
	if !reflect.DeepEqual(definition(j), want) {
		t.Errorf("got  %+v\nwant %+v", definition(j), want)
	}
	if j.File != "pmtr.conf" || j.Pos != (Pos{1, 1}) || j.Source() != "pmtr.conf:1" {
		t.Errorf("the job is where it is defined: %s %v", j.File, j.Pos)
	}
}

// TestEveryOptionCanBeOverridden: each option key copies exactly the
// fields it sets, and together they cover every field of Job but where it
// is written and its name.
func TestEveryOptionCanBeOverridden(t *testing.T) {
	c := mustParse(t, "job {\nname k\ncmd /k\n}\njob {\nname j\ncmd /j\n"+`dir /d
out /o
err /e
in /i
env A=1
user u
order 1
nice 1
cpu 1
ulimit -n 1
bounce every 1h
depends { /x }
disable
wait
once
critical
restart never
success 0 1
backoff 1s max 1m
stable 1m
give-up 3 in 1h retry 1h
stop signal QUIT
stop timeout 1s
ready tcp 127.0.0.1:1
ready timeout 1m
after k
check tcp 127.0.0.1:1
on-check-fail stop
watchdog 1m`+"\n}\n")
	full := c.Jobs[1]
	covered := map[string]bool{}
	rt := reflect.TypeOf(Job{})
	for _, key := range OverrideKeys {
		var dst Job
		setOption(&dst, &full, key)
		v := reflect.ValueOf(dst)
		n := 0
		for i := 0; i < rt.NumField(); i++ {
			if !v.Field(i).IsZero() {
				covered[rt.Field(i).Name] = true
				n++
			}
		}
		if n == 0 {
			t.Errorf("override of %s sets no field", key)
		}
	}
	for i := 0; i < rt.NumField(); i++ {
		name := rt.Field(i).Name
		if !covered[name] && name != "Name" && name != "Pos" && name != "File" && name != "Origins" {
			t.Errorf("no override key sets Job.%s: add it to setOption and originKeys", name)
		}
	}
}

// TestParseCannotInclude: Parse reads one file; an include line says why
// it cannot be followed.
func TestParseCannotInclude(t *testing.T) {
	_, err := Parse("one.conf", []byte("include d/*.conf\n"))
	if err == nil || !strings.Contains(err.Error(), "one.conf:1:1: include d/*.conf: this config is read as one file, without the files it would include") {
		t.Errorf("got %v", err)
	}
}

// TestIncludePatternsAgreeWithTheParser: the quick look for include lines
// finds every pattern the parser takes.
func TestIncludePatternsAgreeWithTheParser(t *testing.T) {
	src := "include a/*.conf\n  include\tb.conf # c\ninclude\n#include x\njob {\nname j\ncmd /bin/include y\n}\n\"include\" z\ninclude \"q\"\r\ninclude c.conf\r\n"
	p := parseFile("t.conf", []byte(src))
	var parsed []string
	for _, inc := range p.includes {
		parsed = append(parsed, inc.pattern)
	}
	if got := includePatterns([]byte(src)); !reflect.DeepEqual(got, parsed) || len(got) != 3 {
		t.Errorf("look %q, parser %q", got, parsed)
	}
}

// nulFS is a file system that refuses a name with a NUL byte, as the
// kernel does (EINVAL).
type nulFS struct{ MapFS }

func (f nulFS) Glob(pattern string) ([]string, error) {
	if strings.IndexByte(pattern, 0) >= 0 {
		return nil, errors.New("invalid argument")
	}
	return f.MapFS.Glob(pattern)
}

// An include whose pattern has a NUL byte is reported once, as the NUL
// byte, whatever the file system would say of the name (the real files
// said "invalid argument" and a snapshot nothing, so a config loaded
// differently from its snapshot; FuzzInclude found it).
func TestIncludeWithANulByte(t *testing.T) {
	text := "include \x00/0\n"
	m := MapFS{"/c/pmtr.conf": text}
	_, errMem := Load("/c/pmtr.conf", m)
	_, errDisk := Load("/c/pmtr.conf", nulFS{m})
	want := "/c/pmtr.conf:1:9: NUL byte in config file (remove it; pmtr.conf is text)"
	if fmt.Sprint(errMem) != want || fmt.Sprint(errDisk) != want {
		t.Fatalf("snapshot: %v\nfile system: %v\nwant: %s", errMem, errDisk, want)
	}
}
