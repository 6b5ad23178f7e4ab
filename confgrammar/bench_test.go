package confgrammar

import (
	"fmt"
	"strings"
	"testing"
)

// GenerateConfig writes n jobs that use most options, for benchmarks.
func generateConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("report to udp://127.0.0.1:9999\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `# job %d
job {
  name job-%d
  cmd /bin/sh -c "echo hello %d; sleep 3600" arg
  dir /srv/job-%d
  out /var/log/job-%d.out
  env INDEX=%d
  env MODE=production
  order %d
  nice 5
  cpu 0-1
  ulimit { -n 4096 -c unlimited }
  bounce every 1d
  depends { /etc/job-%d.conf }
}
`, i, i, i, i, i, i, i%7, i)
	}
	return []byte(b.String())
}

// BenchmarkParse: target under 5 ms and under 10 MB allocated per parse of
// a 1000-job config, because every save reparses the whole file.
func BenchmarkParse(b *testing.B) {
	src := generateConfig(1000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.conf", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadDropIns100x10: loading a config of 100 drop-in files of 10
// jobs each from its snapshot, as the driver does at every reload.
func BenchmarkLoadDropIns100x10(b *testing.B) {
	fsys := MapFS{"pmtr.conf": "include pmtr.d/*.conf\n"}
	for f := 0; f < 100; f++ {
		var s strings.Builder
		for k := 0; k < 10; k++ {
			fmt.Fprintf(&s, "job {\nname j%d_%d\ncmd /bin/sleep %d\n}\n", f, k, f*10+k)
		}
		fsys[fmt.Sprintf("pmtr.d/%03d.conf", f)] = s.String()
	}
	snap := Gather("pmtr.conf", fsys)
	b.ReportAllocs()
	for b.Loop() {
		if c, err := Load("pmtr.conf", snap); err != nil || len(c.Jobs) != 1000 {
			b.Fatal(err)
		}
	}
}
