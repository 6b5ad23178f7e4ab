package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// tcp connects to target and drops the connection at once with a reset
// (SO_LINGER 0), as the kubelet does: a connection closed the usual way
// waits a minute in TIME_WAIT on pmtr's side, so 1000 jobs checked every
// second would keep 60000 of them and crowd the ephemeral ports.
func (r *Runner) tcp(ctx context.Context, target string, timeout time.Duration) (bool, string) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return false, target + ": " + failure(ctx, err, timeout)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
	return true, target + " accepted a connection"
}

// bodyMax is how much of an answer's body an http probe reads: enough for
// a health page's excerpt, never a download.
const bodyMax = 4 << 10

// newClient is the http probes' client: no proxy (a probe asks the job
// itself, whatever pmtr's environment says), no redirect followed (a 3xx
// is an answer), a new connection each time (nothing held between
// checks), and no certificate check on https (as the kubelet's probes: a
// job's health endpoint often has a certificate for its public name, or
// its own).
func newClient() *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true},
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// http sends GET target: a 2xx or 3xx answer is ok; the first bytes of
// the body are kept for why.
func (r *Runner) http(ctx context.Context, target string, timeout time.Duration) (bool, string, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, "probe: can't GET " + target + ": " + unwrapURL(err).Error(), ""
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false, "probe: can't GET " + target + ": not an http or https URL", ""
	}
	req.Header.Set("User-Agent", "pmtr-probe")
	req.Close = true
	resp, err := r.client.Do(req)
	if err != nil {
		return false, target + ": " + failure(ctx, err, timeout), ""
	}
	var head [outputMax]byte
	n, _ := io.ReadFull(resp.Body, head[:])
	more, _ := io.CopyN(io.Discard, resp.Body, bodyMax-int64(n))
	resp.Body.Close()
	code := resp.StatusCode
	return code >= 200 && code < 400, target + " answered " + strconv.Itoa(code), escapeOutput(head[:n], more > 0)
}

// failure words why a connection or request failed: "connection
// refused", "no answer within 2s".
func failure(ctx context.Context, err error, timeout time.Duration) string {
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return "no answer within " + timeout.String()
	case context.Canceled:
		return "cancelled: pmtr is stopping its probes"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if err = unwrapURL(err); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection was closed without an answer"
	}
	return err.Error()
}

// unwrapURL drops net/http's "Get URL:" prefix: the outcome names the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
