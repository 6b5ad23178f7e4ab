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
