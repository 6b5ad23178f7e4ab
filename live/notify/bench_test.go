package notify

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkReadyLatency: from a sender's READY=1 to its delivery (one
// op), with 1000 jobs' sockets open. Also reported: pmtr's heap for each
// open socket (the kernel's share of a socket is not in it).
func BenchmarkReadyLatency(b *testing.B) {
	notes := make(chan Notification, 1)
	l, err := New(Config{Dir: b.TempDir(), Deliver: func(n Notification) { notes <- n }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	const jobs = 1000
	var path string
	for i := range jobs {
		if path, err = l.Open("job"+strconv.Itoa(i), -1, -1, func(pid int) bool { return pid == os.Getpid() }); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := []byte("READY=1")
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if n := <-notes; !n.Ready {
			b.Fatalf("%+v", n)
		}
	}
	b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/jobs, "heap-B/socket")
}
