package files

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pmtr/driver"
)

// BenchmarkReadDropIns100x10: the read a reload makes of a config of 100
// drop-in files of 10 jobs each (every file read, held or not, and, as
// root, checked for other writers).
func BenchmarkReadDropIns100x10(b *testing.B) {
	dir := b.TempDir()
	os.Mkdir(filepath.Join(dir, "pmtr.d"), 0o755)
	for f := 0; f < 100; f++ {
		var s strings.Builder
		for k := 0; k < 10; k++ {
			fmt.Fprintf(&s, "job {\nname j%d_%d\ncmd /bin/sleep %d\n}\n", f, k, f*10+k)
		}
		os.WriteFile(filepath.Join(dir, "pmtr.d", fmt.Sprintf("%03d.conf", f)), []byte(s.String()), 0o644)
	}
	conf := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(conf, []byte("include pmtr.d/*.conf\n"), 0o644)
	b.ReportAllocs()
	for b.Loop() {
		if f := answer(driver.ReadRequest{Config: conf}); len(f.Config.Read) != 101 {
			b.Fatalf("%d files", len(f.Config.Read))
		}
	}
}
