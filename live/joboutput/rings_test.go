package joboutput

import (
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkLogRingPerIdleJob: the memory a job's log ring costs when the
// job only has pmtr's start line (target: < 1 kB).
func BenchmarkLogRingPerIdleJob(b *testing.B) {
	const jobs = 1000
	var before, after runtime.MemStats
	var logs *Rings
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		logs = NewRings()
		for i := range jobs {
			name := "job" + strconv.Itoa(i)
			logs.SetOutput(name, "", "")
			logs.Add(name, "started job "+name+" [123456]")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	runtime.KeepAlive(logs)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/jobs, "bytes/job")
}
