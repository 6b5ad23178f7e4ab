package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"pmtr/core"
	"pmtr/datagram"
	"pmtr/live/metrics"
)

// rptserverCommand implements pmtr rptserver: receive status reports from
// many pmtr hosts and keep a readable table of the latest one of each.
func rptserverCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr rptserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("p", 0, "UDP `PORT` to receive reports on")
	file := fs.String("f", "", "rewrite this `FILE` (atomically, at most every 10 s); default: print to stdout")
	group := fs.String("a", "", "join this multicast `GROUP` (e.g. 239.0.0.1)")
	bind := fs.String("b", "", "local `ADDRESS` to bind (default: all)")
	metricsAddr := fs.String("metrics", "", "also serve the table as Prometheus metrics on `ADDR:PORT` (/metrics)")
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if *port <= 0 || *port > 65535 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: pmtr rptserver -p PORT [-f FILE] [-a GROUP] [-b ADDRESS] [--metrics ADDR:PORT]")
		return 2
	}
	conn, err := listenReports(*bind, *group, *port)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr rptserver: %v\n", err)
		return 1
	}
	defer conn.Close()
	s := &rptServer{file: *file, out: stdout, errw: stderr}
	if *metricsAddr != "" {
		if err := metrics.ServeFleet(*metricsAddr, lineLog{stderr, "pmtr rptserver: "}, s.hosts); err != nil {
			fmt.Fprintf(stderr, "pmtr rptserver: %v\n", err)
			return 1
		}
	}
	return s.serve(conn)
}

func listenReports(bind, group string, port int) (*net.UDPConn, error) {
	if group != "" {
		ip := net.ParseIP(group)
		if ip == nil || !ip.IsMulticast() {
			return nil, fmt.Errorf("%s is not a multicast group address", group)
		}
		return net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: ip, Port: port})
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", addr)
}

type rptServer struct {
	mu      sync.Mutex // the table: serve writes, the metrics read
	file    string
	out     io.Writer
	errw    io.Writer
	table   datagram.Table
	dirty   bool
	written time.Time
}

// serve reads reports until the socket fails; a read deadline lets it
// expire silent hosts and flush the table even when nothing arrives.
func (s *rptServer) serve(conn *net.UDPConn) int {
	buf := make([]byte, 64<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		now := time.Now()
		s.mu.Lock()
		if err == nil {
			changed, perr := s.table.Update(from.IP.String(), buf[:n], now)
			s.dirty = s.dirty || changed || perr == nil && s.file != ""
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			s.mu.Unlock()
			fmt.Fprintf(s.errw, "pmtr rptserver: %v\n", err)
			return 1
		}
		if s.table.Expire(now) {
			s.dirty = true
		}
		s.mu.Unlock()
		if err := s.flush(now); err != nil {
			fmt.Fprintf(s.errw, "pmtr rptserver: %v\n", err)
		}
	}
}

// hosts is the table now, for the metrics.
func (s *rptServer) hosts() []datagram.HostJobs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Hosts(time.Now())
}

// flush writes the table when it changed: to stdout at once, to the file
// at most every 10 s.
func (s *rptServer) flush(now time.Time) error {
	if !s.dirty {
		return nil
	}
	if s.file == "" {
		s.dirty = false
		_, err := fmt.Fprintln(s.out, s.table.Render(now))
		return err
	}
	if now.Sub(s.written) < 10*time.Second {
		return nil
	}
	s.dirty, s.written = false, now
	tmp := filepath.Join(filepath.Dir(s.file), "."+filepath.Base(s.file)+".tmp")
	if err := os.WriteFile(tmp, []byte(s.table.Render(now)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

// lineLog writes log lines to w with a prefix.
type lineLog struct {
	w      io.Writer
	prefix string
}

func (l lineLog) Logf(_ core.Level, format string, args ...any) {
	fmt.Fprintf(l.w, l.prefix+format+"\n", args...)
}
