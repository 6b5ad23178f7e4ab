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

// TestMergedRing: pmtr's own lines and the jobs' come out of the merged
// ring in the order they came, each with its job, bounded; a follower gets
// the tail and then every later line once.
func TestMergedRing(t *testing.T) {
	l := NewRings()
	l.AddAll("", "rescanning job configuration")
	l.AddAll("web", OutputLine("web", 7, "listening", false))
	l.AddAll("db", OutputLine("db", 8, "disk full", true))
	got := l.TailAll(2)
	if len(got) != 2 || got[0].Job != "web" || got[0].Text != "web[7]: listening" || got[1].Job != "db" || got[1].Text != "db[8] stderr: disk full" || len(got[1].At) != len(stamp) {
		t.Fatalf("tail: %+v", got)
	}
	tail, ch, cancel := l.FollowAll(1)
	defer cancel()
	l.AddAll("", "pmtr: exiting")
	if len(tail) != 1 || tail[0].Job != "db" {
		t.Fatalf("follow's tail: %+v", tail)
	}
	if m := ParseMerged(<-ch); m.Job != "" || m.Text != "pmtr: exiting" {
		t.Fatalf("followed: %+v", m)
	}
	for i := range 3 * allLines {
		l.AddAll("web", "line "+strconv.Itoa(i))
	}
	if n := len(l.TailAll(10 * allLines)); n != allLines {
		t.Fatalf("the merged ring holds %d lines, want %d", n, allLines)
	}
}
