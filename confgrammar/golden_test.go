package confgrammar

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden parses each testdata/*.conf and compares the normalised output,
// or the errors, with its .golden file. Run with -update, then review the diff.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.conf")
	if len(files) == 0 {
		t.Fatal("no testdata/*.conf")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := describeParse(filepath.Base(f), src)
			golden := strings.TrimSuffix(f, ".conf") + ".golden"
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
}

func describeParse(name string, src []byte) string {
	c, err := Parse(name, src)
	var list ErrorList
	if errors.As(err, &list) {
		return list.Error() + "\n"
	}
	return fmt.Sprintf("ok (%d jobs)\n%s", len(c.Jobs), Format(c))
}

// Every example config of the manual parses.
func TestManualExamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/manual-*.conf")
	for _, f := range files {
		src, _ := os.ReadFile(f)
		if _, err := Parse(f, src); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
