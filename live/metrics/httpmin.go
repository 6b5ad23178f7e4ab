package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/live/accept"
)

// A minimal HTTP/1.1 server for GET /metrics: one request per connection,
// answered and closed. net/http would serve it too, but costs pmtr about
// 2 MB of memory whether or not anybody scrapes (docs/BENCHMARKS.md).

// server serves one "metrics on" address until closed.
type server struct {
	ln     net.Listener
	gate   *accept.Gate // pmtr upgrade's pause (the fleet view's is never used)
	pages  Pages
	scrape *pace // /metrics, and anything but the probe pages
	probe  *pace // /healthz and /livez
}

// MaxConns is how many connections an endpoint holds at once (reading a
// request, waiting for its turn, or answered), fewer when pmtr may open
// few descriptors (a quarter of its limit): more wait in the kernel's
// backlog until one ends. It is above the number of scrapers a flood
// needs to make pmtr pay: while the flood's connections wait for their
// turn inside pmtr, not in the backlog, a probe's connection is accepted
// at once, and answered on its own pace.
const MaxConns = 4096

// MaxScrapes and MaxPerSecond pace an endpoint's scrapes: MaxScrapes at
// once, then MaxPerSecond a second, in turn. Prometheus scrapes each
// target every few seconds, and thousands of scrapes a second would take
// the CPU that restarts need.
const (
	MaxScrapes   = 64
	MaxPerSecond = 100
)

// MaxProbes and MaxProbesPerSecond pace /healthz and /livez on their
// own: a kubelet's probe does not wait behind scrapes (a flood of probes
// still delays probes).
const (
	MaxProbes          = 64
	MaxProbesPerSecond = 100
)

// headWait bounds the wait for a request's line and headers: a
// connection that sends nothing holds its place that long. answerWait
// bounds the answer, from its turn.
const (
	headWait   = time.Second
	answerWait = 10 * time.Second
)

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
	s := &server{ln: ln, gate: accept.NewGate(ln), pages: pages,
		scrape: newPace(MaxScrapes, MaxPerSecond), probe: newPace(MaxProbes, MaxProbesPerSecond)}
	o := accept.Options{What: "metrics on http://" + addr, Limit: maxConns(), Log: log, Gate: s.gate}
	go accept.Loop(ln, o, s.answer)
	return s
}

// maxConns is MaxConns, or a quarter of pmtr's descriptor limit if less.
func maxConns() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return MaxScrapes
	}
	return int(max(min(MaxConns, lim.Cur/4), MaxScrapes))
}

func (s *server) Close() error { return s.ln.Close() }

// request is what answerHTTP needs of a request.
type request struct {
	method, path string
	om           bool // the scraper asks for OpenMetrics
	ok           bool // a request line of three words
}

// answer reads c's request, waits for its turn, and answers it.
func (s *server) answer(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(headWait))
	r, ok := readHead(c)
	if !ok {
		return
	}
	p := s.scrape
	if r.ok && (r.path == "/healthz" && s.pages.Healthz != nil || r.path == "/livez" && s.pages.Livez != nil) {
		p = s.probe
	}
	time.Sleep(p.turn(time.Now())) // an upgrade waits for it (up to its bound), as for one answered
	c.SetDeadline(time.Now().Add(answerWait))
	answerHTTP(c, r, s.pages)
}

// readHead reads a request's line and headers (at most 16 kB).
func readHead(c net.Conn) (request, bool) {
	var r request
	br := bufio.NewReaderSize(io.LimitReader(c, 16<<10), 1024)
	line, err := br.ReadString('\n')
	if err != nil {
		return r, false
	}
	f := strings.Fields(line)
	for { // the headers, up to the empty line
		h, err := br.ReadString('\n')
		if err != nil {
			return r, false
		}
		if h = strings.TrimRight(h, "\r\n"); h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Accept") {
			r.om = strings.Contains(v, "application/openmetrics-text")
		}
	}
	if len(f) == 3 {
		r.method, r.path, r.ok = f[0], strings.SplitN(f[1], "?", 2)[0], true
	}
	return r, true
}

func answerHTTP(c net.Conn, r request, pages Pages) {
	switch {
	case !r.ok || r.method != "GET" && r.method != "HEAD":
		respond(c, "405 Method Not Allowed", "text/plain", []byte("only GET /metrics\n"), r.method)
	case r.path == "/healthz" && pages.Healthz != nil:
		probePage(c, pages.Healthz, r.method)
	case r.path == "/livez" && pages.Livez != nil:
		probePage(c, pages.Livez, r.method)
	case r.path != "/metrics":
		respond(c, "404 Not Found", "text/plain", []byte(served(pages)), r.method)
	default:
		// The body streams out and the close ends it: no copy of a large
		// exposition is made (a scrape of 1000 jobs would otherwise
		// allocate a megabyte and trigger a collection).
		ctype := "text/plain; version=0.0.4; charset=utf-8"
		if r.om {
			ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8"
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n\r\n", ctype)
		if r.method == "GET" {
			pages.Metrics(c, r.om)
		}
	}
}

func respond(c net.Conn, status, ctype string, body []byte, method string) {
	fmt.Fprintf(c, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, ctype, len(body))
	if method != "HEAD" {
		c.Write(body)
	}
}

// probePage answers /healthz or /livez: 200 or 503, and why.
func probePage(c net.Conn, page func() (int, string), method string) {
	code, body := page()
	status := "200 OK"
	if code != 200 {
		status = "503 Service Unavailable"
	}
	respond(c, status, "text/plain; charset=utf-8", []byte(body), method)
}

func served(p Pages) string {
	if p.Healthz != nil {
		return "pmtr serves /metrics, /healthz and /livez\n"
	}
	return "pmtr serves /metrics\n"
}
