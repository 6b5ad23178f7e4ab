package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"pmtr/live/accept"
)

// A minimal HTTP/1.1 server for GET /metrics: one request per connection,
// answered and closed. net/http would serve it too, but costs pmtr about
// 2 MB of memory whether or not anybody scrapes (docs/BENCHMARKS.md).

// server serves one "metrics on" address until closed.
type server struct {
	ln   net.Listener
	gate *accept.Gate // nil for the fleet view (never handed over)
}

// MaxConns is how many connections an endpoint answers at once; more wait
// in the kernel's backlog until one ends.
const MaxConns = 64

// MaxPerSecond paces an endpoint's connections after a burst of MaxConns:
// Prometheus scrapes each target every few seconds, and thousands of
// scrapes a second would take the CPU that restarts need.
const MaxPerSecond = 100

// Pages are what an endpoint serves: /metrics, and /healthz and /livez
// when set (the daemon's endpoints; pmtr rptserver's has none). A probe
// page answers a status code and a short text.
type Pages struct {
	Metrics func(w io.Writer, om bool) error
	Healthz func() (code int, body string)
	Livez   func() (code int, body string)
}

func serve(addr string, log Logger, pages Pages) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveOn(ln.(*net.TCPListener), addr, log, pages), nil
}

// serveOn serves on a bound listener: one of this run's, or one handed
// over by the pmtr before an upgrade.
func serveOn(ln *net.TCPListener, addr string, log Logger, pages Pages) *server {
	gate := accept.NewGate(ln)
	o := accept.Options{What: "metrics on http://" + addr, Limit: MaxConns, PerSecond: MaxPerSecond, Log: log, Gate: gate}
	go accept.Loop(ln, o, func(c net.Conn) { answerHTTP(c, pages) })
	return &server{ln: ln, gate: gate}
}

func (s *server) Close() error { return s.ln.Close() }

func answerHTTP(c net.Conn, pages Pages) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, 16<<10))
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	accept := ""
	for { // the headers, up to the empty line
		h, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if h = strings.TrimRight(h, "\r\n"); h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Accept") {
			accept = v
		}
	}
	path := ""
	if len(f) == 3 {
		path = strings.SplitN(f[1], "?", 2)[0]
	}
	switch {
	case len(f) != 3 || f[0] != "GET" && f[0] != "HEAD":
		respond(c, "405 Method Not Allowed", "text/plain", []byte("only GET /metrics\n"), f)
	case path == "/healthz" && pages.Healthz != nil:
		probePage(c, pages.Healthz, f)
	case path == "/livez" && pages.Livez != nil:
		probePage(c, pages.Livez, f)
	case path != "/metrics":
		respond(c, "404 Not Found", "text/plain", []byte(served(pages)), f)
	default:
		// The body streams out and the close ends it: no copy of a large
		// exposition is made (a scrape of 1000 jobs would otherwise
		// allocate a megabyte and trigger a collection).
		om := strings.Contains(accept, "application/openmetrics-text")
		ctype := "text/plain; version=0.0.4; charset=utf-8"
		if om {
			ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8"
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n\r\n", ctype)
		if f[0] == "GET" {
			pages.Metrics(c, om)
		}
	}
}

func respond(c net.Conn, status, ctype string, body []byte, req []string) {
	fmt.Fprintf(c, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, ctype, len(body))
	if len(req) == 0 || req[0] != "HEAD" {
		c.Write(body)
	}
}

// probePage answers /healthz or /livez: 200 or 503, and why.
func probePage(c net.Conn, page func() (int, string), req []string) {
	code, body := page()
	status := "200 OK"
	if code != 200 {
		status = "503 Service Unavailable"
	}
	respond(c, status, "text/plain; charset=utf-8", []byte(body), req)
}

func served(p Pages) string {
	if p.Healthz != nil {
		return "pmtr serves /metrics, /healthz and /livez\n"
	}
	return "pmtr serves /metrics\n"
}
