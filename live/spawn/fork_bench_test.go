package spawn

import (
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// BenchmarkConcurrentFork: does Go fork from several threads at once on
// this kernel? Each op starts 200 /bin/true from W goroutines, which wait
// for the children only after all are started. forks/s by W sizes
// DefaultSpawners.
func BenchmarkConcurrentFork(b *testing.B) {
	const n = 200
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	attr := &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	for _, workers := range []int{1, 2, 4, 8} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			procs := make(chan *os.Process, n)
			for b.Loop() {
				var wg sync.WaitGroup
				per := n / workers
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range per {
							p, err := os.StartProcess("/bin/true", []string{"true"}, attr)
							if err != nil {
								b.Error(err)
								return
							}
							procs <- p
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				for range per * workers {
					(<-procs).Wait()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "forks/s")
		})
	}
}
