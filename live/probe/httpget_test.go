package probe

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer answers each connection with answer, after reading the
// request's head (so that no unread request turns the close into a
// reset); it returns the server's http:// URL and the heads it read.
func rawServer(t *testing.T, answer func(net.Conn)) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan string, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				heads <- readRequestHead(c)
				answer(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), heads
}

func readRequestHead(c net.Conn) string {
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			return head.String()
		}
	}
}

func write(s string) func(net.Conn) {
	return func(c net.Conn) { c.Write([]byte(s)) }
}

func probeHTTP(t *testing.T, url string, timeout time.Duration) Result {
	t.Helper()
	r, c := newRunner(t, Config{})
	return run(t, r, c, Request{ID: ID{"web", 1}, Kind: HTTP, Target: url, Timeout: timeout})
}

// The request is one GET with the URL's path and query, its Host, the
// URL's user as basic authorization, and Connection: close.
func TestHTTPRequest(t *testing.T) {
	url, heads := rawServer(t, write("HTTP/1.1 204 No Content\r\n\r\n"))
	target := strings.Replace(url, "http://", "http://probe:s3cret@", 1) + "/healthz?deep=1#frag"
	res := probeHTTP(t, target, quiet)
	if !res.OK || res.Outcome != target+" answered 204" || res.Output != "" {
		t.Fatalf("%+v", res)
	}
	want := "GET /healthz?deep=1 HTTP/1.1\r\nHost: " + strings.TrimPrefix(url, "http://") +
		"\r\nAuthorization: Basic cHJvYmU6czNjcmV0\r\nUser-Agent: pmtr-probe\r\nConnection: close\r\n\r\n"
	if got := <-heads; got != want {
		t.Fatalf("request\n%q\nwant\n%q", got, want)
	}
}

// Answers that are not HTTP, or end before their head does, fail the
// probe and say so; none panics.
func TestHTTPBadAnswers(t *testing.T) {
	for _, tc := range []struct{ answer, outcome string }{
		{"SSH-2.0-OpenSSH_9.6\r\n", `: not an HTTP answer (it begins "SSH-2.0-OpenSSH_9.6")`},
		{"\x00\x01\x02\xff garbage", `: not an HTTP answer (it begins "\x00\x01\x02\xff garbage")`},
		{"HTTP/1.1 2xx OK\r\n\r\n", `: not an HTTP answer (it begins "HTTP/1.1 2xx OK")`},
		{"HTTP/1.1 200OK\r\n\r\n", `: not an HTTP answer (it begins "HTTP/1.1 200OK")`},
		{"HTTP/2 200\r\n\r\n", `: not an HTTP answer (it begins "HTTP/2 200")`},
		{"HTTP/1.1 099 Low\r\n\r\n", `: not an HTTP answer (it begins "HTTP/1.1 099 Low")`},
		{"\r\nHTTP/1.1 200 OK\r\n\r\n", `: not an HTTP answer (it begins "")`},
		{strings.Repeat("x", 10000), `: not an HTTP answer (it begins "` + strings.Repeat("x", 40) + `...")`},
		{"", ": the connection was closed without an answer"},
		{"HTTP/1.1 200 OK", ": the connection was closed without an answer"},
		{"HTTP/1.1 200 OK\r\nContent-Le", ": the connection was closed without an answer"},
		{"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", `: a bad header line in the answer ("no colon here")`},
		{"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("y", 20000) + "\r\n\r\n", ": the answer's headers are over 16 kB"},
	} {
		url, _ := rawServer(t, write(tc.answer))
		res := probeHTTP(t, url, quiet)
		if res.OK || res.Outcome != url+tc.outcome {
			t.Errorf("answer %q: %+v, want outcome %q", tc.answer[:min(len(tc.answer), 30)], res, url+tc.outcome)
		}
	}
}

// Answers of every framing: a status line without reason, HTTP/1.0 with
// the body up to the close, a chunked body, 1xx answers before the real
// one, a Content-Length shorter than what is sent.
func TestHTTPFramings(t *testing.T) {
	for _, tc := range []struct {
		answer, code, output string
		ok                   bool
	}{
		{"HTTP/1.1 200\r\n\r\n", "200", "", true},
		{"HTTP/1.0 301 Moved\nLocation: /x\n\nsee /x\n", "301", "see /x", true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n", "200", "abcdefg", true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc", "200", "", true},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", "503", "busy", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokAND MORE", "200", "ok", true},
		{"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort", "200", "short", true},
		{"HTTP/1.1 404 Not Found\r\n\r\n\x1b[31mno", "404", `\e[31mno`, false},
	} {
		url, _ := rawServer(t, write(tc.answer))
		res := probeHTTP(t, url, quiet)
		if res.OK != tc.ok || res.Outcome != url+" answered "+tc.code || res.Output != tc.output {
			t.Errorf("answer %q: %+v, want %v %s %q", tc.answer, res, tc.ok, tc.code, tc.output)
		}
	}
}

// A body is read up to 4 kB and no further: an endless answer ends the
// attempt at once, with its code.
func TestHTTPReadsAtMost4kB(t *testing.T) {
	url, _ := rawServer(t, func(c net.Conn) {
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunk := strings.Repeat("z", 1000)
		for { // until the probe has closed the connection
			if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				return
			}
		}
	})
	start := time.Now()
	res := probeHTTP(t, url, time.Hour)
	if !res.OK || res.Outcome != url+" answered 200" || res.Output != strings.Repeat("z", outputMax)+"..." {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d > quiet {
		t.Fatalf("an endless answer took %v", d)
	}
}

// A server that accepts and never answers, or answers half a head, is
// given up at the timeout.
func TestHTTPNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, first := range []string{"", "HTTP/1.1 200 OK\r\n", "HTT"} {
		url, _ := rawServer(t, func(c net.Conn) { c.Write([]byte(first)); <-release })
		res := probeHTTP(t, url, 100*time.Millisecond)
		if res.OK || res.Outcome != url+": no answer within 100ms" {
			t.Errorf("after %q: %+v", first, res)
		}
	}
}

// https: the certificate is not checked; a plain http server on an
// https URL fails the probe.
func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(218)
		fmt.Fprint(w, req.Host+" "+req.Proto)
	}))
	defer srv.Close()
	res := probeHTTP(t, srv.URL+"/x", quiet)
	host := strings.TrimPrefix(srv.URL, "https://")
	if !res.OK || res.Outcome != srv.URL+"/x answered 218" || res.Output != host+" HTTP/1.1" {
		t.Fatalf("%+v", res)
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	url := strings.Replace(plain.URL, "http://", "https://", 1)
	res = probeHTTP(t, url, quiet)
	if res.OK || !strings.HasPrefix(res.Outcome, url+": ") {
		t.Fatalf("%+v", res)
	}
}

// A chunked answer of net/http's own server (a flushed handler) is read.
func TestHTTPChunkedFromServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "part one, ")
		w.(http.Flusher).Flush()
		fmt.Fprint(w, "part two")
	}))
	defer srv.Close()
	res := probeHTTP(t, srv.URL, quiet)
	if !res.OK || res.Output != "part one, part two" {
		t.Fatalf("%+v", res)
	}
}

func TestHTTPBadURLs(t *testing.T) {
	for target, want := range map[string]string{
		"http://[::1":  "probe: can't GET http://[::1: missing ']' in host",
		"http:///path": "probe: can't GET http:///path: no host in the URL",
		"mailto:x@y":   "probe: can't GET mailto:x@y: not an http or https URL",
	} {
		if res := probeHTTP(t, target, quiet); res.OK || res.Outcome != want {
			t.Errorf("%s: %+v, want %q", target, res, want)
		}
	}
}
