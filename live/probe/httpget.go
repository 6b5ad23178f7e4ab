package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pmtr/logsafe"
)

// pmtr's own GET instead of net/http's client: an http probe needs one
// request on a new connection and the status of its answer, and net/http
// made a third of pmtr's binary, whose pages count in its memory
// (docs/BENCHMARKS.md, 2026-12-07).

const (
	// bodyMax is how much of an answer's body an http probe reads: enough
	// for a health page's excerpt, never a download.
	bodyMax = 4 << 10
	// headMax bounds the status line and headers (net/http's client took
	// 16 kB when it made the probes).
	headMax = 16 << 10
	// infoMax is how many 1xx answers may come before the real one.
	infoMax = 5
)

// errHeadTooLong: the answer's status line and headers exceed headMax.
var errHeadTooLong = errors.New("the answer's headers are over 16 kB")

// notHTTP is an answer that is not HTTP/1: its outcome quotes its start.
type notHTTP struct{ line []byte }

func (e notHTTP) Error() string {
	return "not an HTTP answer (it begins \"" + logsafe.Cap(string(e.line), 40) + "\")"
}

// http sends GET target on a new connection: a 2xx or 3xx answer is ok
// (no redirect is followed, no proxy asked); the first bytes of the body
// are kept for why. On https the certificate is not checked (as the
// kubelet's probes: a health endpoint's certificate is often for a public
// name, or its own).
func (r *Runner) http(ctx context.Context, target string, timeout time.Duration) (bool, string, string) {
	u, err := url.Parse(target)
	switch {
	case err != nil:
		return false, "probe: can't GET " + target + ": " + unwrapURL(err).Error(), ""
	case u.Scheme != "http" && u.Scheme != "https":
		return false, "probe: can't GET " + target + ": not an http or https URL", ""
	case u.Host == "":
		return false, "probe: can't GET " + target + ": no host in the URL", ""
	}
	conn, err := dial(ctx, u)
	if err != nil {
		return false, target + ": " + failure(ctx, err, timeout), ""
	}
	defer conn.Close()
	code, body, more, err := get(conn, u)
	if err != nil {
		return false, target + ": " + failure(ctx, err, timeout), ""
	}
	return code >= 200 && code < 400, target + " answered " + strconv.Itoa(code), escapeOutput(body, more)
}

// dial connects to the URL's host (TLS on https). When ctx ends, the
// connection's deadline passes: whatever waits on it returns.
func dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	conn := &stopConn{Conn: raw, stop: stop}
	if u.Scheme != "https" {
		return conn, nil
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()})
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// stopConn lets go of its context's AfterFunc when closed.
type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// get writes the request and reads the answer: its code, the body's first
// outputMax bytes and whether more followed. Errors of the body are not
// the probe's: the code is the answer.
func get(conn net.Conn, u *url.URL) (code int, head []byte, more bool, err error) {
	if _, err = io.WriteString(conn, request(u)); err != nil {
		return 0, nil, false, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	var h header
	for range infoMax + 1 {
		if h, err = readAnswerHead(br); err != nil || h.code >= 200 || h.code == 101 {
			break
		}
	}
	if err != nil {
		return 0, nil, false, err
	}
	if h.code < 200 {
		return h.code, nil, false, nil
	}
	body := bodyOf(br, h)
	var buf [outputMax]byte
	n, _ := io.ReadFull(body, buf[:])
	extra, _ := io.CopyN(io.Discard, body, bodyMax-int64(n))
	return h.code, buf[:n], extra > 0, nil
}

// request is the GET: Host as in the URL, the URL's user as basic
// authorization (as net/http did), Connection: close.
func request(u *url.URL) string {
	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + strings.TrimSuffix(u.Host, ":") + "\r\n")
	if u.User != nil {
		pw, _ := u.User.Password()
		b.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)) + "\r\n")
	}
	b.WriteString("User-Agent: pmtr-probe\r\nConnection: close\r\n\r\n")
	return b.String()
}

// header is what get needs of an answer's head.
type header struct {
	code    int
	length  int64 // Content-Length; -1: none
	chunked bool
}

// readAnswerHead reads a status line and the headers after it.
func readAnswerHead(br *bufio.Reader) (header, error) {
	h := header{length: -1}
	if err := readStatus(br, &h); err != nil {
		return h, err
	}
	budget := headMax
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			return h, nil
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			return h, errors.New("a bad header line in the answer (\"" + logsafe.Cap(string(line), 40) + "\")")
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Content-Length"):
			if n, err := strconv.ParseInt(value, 10, 64); err == nil && n >= 0 {
				h.length = n
			}
		case strings.EqualFold(name, "Transfer-Encoding"):
			h.chunked = strings.EqualFold(lastWord(value), "chunked")
		}
	}
}

// readStatus reads the status line into h.code. Whatever came that is
// not one (up to the buffer's 4 kB) is "not an HTTP answer"; nothing at
// all, or a wait cut short, is the read's error.
func readStatus(br *bufio.Reader, h *header) error {
	line, err := br.ReadSlice('\n')
	switch {
	case err == nil, err == bufio.ErrBufferFull, err == io.EOF && len(line) > 0:
	default:
		return err
	}
	code, ok := statusCode(trimEOL(line))
	if !ok || err == bufio.ErrBufferFull {
		return notHTTP{bytes.Clone(trimEOL(line))}
	}
	if err != nil {
		return io.ErrUnexpectedEOF
	}
	h.code = code
	return nil
}

// readLine reads a header line without its CRLF, counting it against
// budget.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if *budget -= len(part); *budget < 0 {
			return nil, errHeadTooLong
		}
		line = append(line, part...)
		switch {
		case err == nil:
			return trimEOL(line), nil
		case err == io.EOF:
			return nil, io.ErrUnexpectedEOF
		case err != bufio.ErrBufferFull:
			return nil, err
		}
	}
}

func trimEOL(line []byte) []byte {
	return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
}

// statusCode reads "HTTP/1.1 200 OK" (the reason may be missing).
func statusCode(line []byte) (int, bool) {
	s, ok := strings.CutPrefix(string(line), "HTTP/1.")
	if !ok || len(s) < 5 || s[0] < '0' || s[0] > '9' || s[1] != ' ' || (len(s) > 5 && s[5] != ' ') {
		return 0, false
	}
	code := 0
	for _, c := range []byte(s[2:5]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, code >= 100
}

func lastWord(list string) string {
	if i := strings.LastIndexByte(list, ','); i >= 0 {
		list = list[i+1:]
	}
	return strings.TrimSpace(list)
}

// bodyOf is the answer's body: chunked, Content-Length bytes, or up to
// the connection's end; none for 204 and 304.
func bodyOf(br *bufio.Reader, h header) io.Reader {
	switch {
	case h.code == 204 || h.code == 304:
		return strings.NewReader("")
	case h.chunked:
		return &chunked{r: br}
	case h.length >= 0:
		return io.LimitReader(br, h.length)
	}
	return br
}

// chunked reads a chunked body; trailers are not read (nothing after the
// body is).
type chunked struct {
	r     *bufio.Reader
	left  int64 // of the chunk being read
	began bool  // a chunk was read: its CRLF comes before the next size
	done  bool
}

func (c *chunked) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next reads the next chunk's size line (after the last chunk's CRLF).
func (c *chunked) next() error {
	if c.began {
		if crlf, err := c.r.ReadSlice('\n'); err != nil || strings.TrimRight(string(crlf), "\r\n") != "" {
			return errors.New("probe: bad chunked body")
		}
	}
	c.began = true
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return errors.New("probe: bad chunked body")
	}
	size, _, _ := strings.Cut(string(line), ";")
	n, err := strconv.ParseUint(strings.TrimSpace(size), 16, 62)
	if err != nil {
		return errors.New("probe: bad chunk size")
	}
	c.left, c.done = int64(n), n == 0
	return nil
}
