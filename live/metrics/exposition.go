package metrics

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// expo writes metrics in the Prometheus text format (0.0.4) or, when om is
// set, in OpenMetrics 1.0 (counter families are named without _total, the
// output ends with "# EOF").
type expo struct {
	w   *bufio.Writer
	om  bool
	buf []byte
}

var expoBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

func newExpo(w io.Writer, om bool) *expo {
	bw := expoBuffers.Get().(*bufio.Writer)
	bw.Reset(w)
	return &expo{w: bw, om: om}
}

// family starts a metric family: HELP and TYPE. name is the sample name
// (with _total for a counter, _info for an info metric).
func (e *expo) family(name, typ, help string) {
	fam := name
	switch {
	case e.om && typ == "counter":
		fam = strings.TrimSuffix(name, "_total")
	case typ == "info" && e.om:
		fam = strings.TrimSuffix(name, "_info")
	case typ == "info":
		typ = "gauge"
	}
	e.w.WriteString("# HELP " + fam + " " + escapeHelp(help) + "\n# TYPE " + fam + " " + typ + "\n")
}

// sample writes one sample; labels are name, value pairs.
func (e *expo) sample(name string, v float64, labels ...string) {
	b := append(e.buf[:0], name...)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(append(append(b, labels[i]...), `="`...), escapeLabel(labels[i+1])...)
		b = append(b, '"')
	}
	if len(labels) > 0 {
		b = append(b, '}')
	}
	b = append(b, ' ')
	if i := int64(v); float64(i) == v {
		b = strconv.AppendInt(b, i, 10)
	} else {
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	e.buf = append(b, '\n')
	e.w.Write(e.buf)
}

func (e *expo) end() error {
	if e.om {
		e.w.WriteString("# EOF\n")
	}
	err := e.w.Flush()
	e.w.Reset(nil)
	expoBuffers.Put(e.w)
	return err
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			return labelEscaper.Replace(s)
		}
	}
	return s
}
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// processMetrics writes pmtr's own CPU, memory, descriptors and start
// time, read from /proc/self at the scrape.
func (e *expo) processMetrics() {
	st, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
	num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i-3], 64); return v }
	const ticks = 100 // USER_HZ on Linux
	e.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
	e.sample("process_cpu_seconds_total", (num(14)+num(15))/ticks)
	e.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
	e.sample("process_resident_memory_bytes", num(24)*float64(os.Getpagesize()))
	e.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
	e.sample("process_virtual_memory_bytes", num(23))
	if n, err := fdCount.get(); err == nil {
		e.family("process_open_fds", "gauge", "Number of open file descriptors.")
		e.sample("process_open_fds", float64(n))
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		e.family("process_max_fds", "gauge", "Maximum number of open file descriptors.")
		e.sample("process_max_fds", float64(lim.Cur))
	}
	if boot := bootTime(); boot > 0 {
		e.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
		e.sample("process_start_time_seconds", boot+num(22)/ticks)
	}
}

// fdCount is the count of pmtr's descriptors, listed at most once a
// second: a listing costs in proportion to them, and a flood of scrapers
// holds thousands (each scrape listing 2000 took 3x the CPU of the rest
// of the flood).
var fdCount fdCache

type fdCache struct {
	mu  sync.Mutex
	at  time.Time
	n   int
	err error
}

func (c *fdCache) get() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.at.IsZero() || now.Sub(c.at) >= time.Second {
		c.n, c.err = openFDs()
		c.at = now
	}
	return c.n, c.err
}

// openFDs counts pmtr's open descriptors (names only: no stat of each).
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names) - 1, err // less the one reading the directory
}

// bootTime is the kernel's boot time in Unix seconds (btime in /proc/stat).
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}
