package probe

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmark's listeners live in a process of their own (this test
// binary again), so that what is measured here is the runner's cost, not
// the accepting side's.
func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv("PROBE_BENCH_LISTENERS")); err == nil {
		serveListeners(n)
		return
	}
	os.Exit(m.Run())
}

// serveListeners opens n loopback listeners, prints their addresses and
// accepts (and closes) connections until its stdin closes.
func serveListeners(n int) {
	w := bufio.NewWriter(os.Stdout)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		fmt.Fprintln(w, ln.Addr())
	}
	w.Flush()
	os.Stdout.Close()
	io.Copy(io.Discard, os.Stdin)
}

// BenchmarkTCPChecks: one op is 1000 jobs' tcp checks against 1000
// loopback listeners (in another process), all started at once, as a
// check every second would. Reported per probe: wall time, CPU time of
// this process (user and system), heap allocations and bytes.
func BenchmarkTCPChecks(b *testing.B) {
	const jobs = 1000
	addrs := startListeners(b, jobs)
	c := newCollector()
	r := New(Config{Deliver: c.deliver})
	defer r.Close()
	names := make([]string, jobs)
	for i := range names {
		names[i] = "job" + strconv.Itoa(i)
	}
	round := func(seq uint64) {
		for i, a := range addrs {
			if !r.Start(Request{ID: ID{names[i], seq}, Kind: TCP, Target: a, Timeout: 10 * time.Second}) {
				b.Fatal("refused")
			}
		}
		for range jobs {
			if res := <-c.ch; !res.OK {
				b.Fatalf("%+v", res)
			}
		}
	}
	round(0) // warm up: goroutine stacks, the poller
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		round(uint64(i + 1))
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	probes := float64(b.N * jobs)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/probes, "ns/probe")
	b.ReportMetric(float64(cpu.Nanoseconds())/probes, "cpu-ns/probe")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/probes, "allocs/probe")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/probes, "B/probe")
}

func startListeners(b *testing.B, n int) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROBE_BENCH_LISTENERS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	all, err := io.ReadAll(out)
	addrs := strings.Fields(string(all))
	if err != nil || len(addrs) != n {
		b.Fatalf("listeners: %v, %d addresses", err, len(addrs))
	}
	return addrs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
