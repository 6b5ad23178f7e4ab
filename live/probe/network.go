package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
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
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection was closed without an answer"
	}
	return err.Error()
}

// unwrapURL drops url.Parse's "parse URL:" prefix: the outcome names the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
