package fuzz

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"pmtr/confgrammar"
)

// FuzzParse: the parser never panics, and every config it accepts survives
// a round trip through Format unchanged (positions aside).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../confgrammar/testdata/*.conf")
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte("job {\nname a\ncmd /bin/echo \"x y\" \"\" \"{\" \"}\" \"#z\"\n}"))
	f.Add([]byte("listen on udp://[::1]:5 key k\nreport to udp://h:1@e\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := confgrammar.Parse("f.conf", src)
		if err != nil {
			return
		}
		out := confgrammar.Format(c)
		c2, err := confgrammar.Parse("f.conf", []byte(out))
		if err != nil {
			t.Fatalf("Format output does not parse: %v\ninput:\n%q\nformatted:\n%s", err, src, out)
		}
		if !reflect.DeepEqual(stripPos(c), stripPos(c2)) {
			t.Fatalf("round trip changed the config\ninput:\n%q\nformatted:\n%s", src, out)
		}
	})
}

func stripPos(c *confgrammar.Config) *confgrammar.Config {
	cp := *c
	cp.Warnings = nil // positions and continuations differ after Format
	cp.Jobs = append([]confgrammar.Job(nil), c.Jobs...)
	for i := range cp.Jobs {
		cp.Jobs[i].Pos, cp.Jobs[i].Origins = confgrammar.Pos{}, nil
	}
	cp.Reports = append([]confgrammar.Report(nil), c.Reports...)
	for i := range cp.Reports {
		cp.Reports[i].Pos = confgrammar.Pos{}
	}
	cp.Metrics = append([]confgrammar.Metrics(nil), c.Metrics...)
	for i := range cp.Metrics {
		cp.Metrics[i].Pos = confgrammar.Pos{}
	}
	cp.Listens = append([]confgrammar.Listen(nil), c.Listens...)
	for i := range cp.Listens {
		cp.Listens[i].Pos = confgrammar.Pos{}
	}
	return &cp
}
