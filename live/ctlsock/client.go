package ctlsock

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pmtr/ctlproto"
	"pmtr/live/hostfacts"
)

// Ask puts req to the daemon running configPath, copies the answer to
// stdout or stderr as the daemon says, and returns the daemon's exit code.
// A daemon older than this client is asked again in the older protocol it
// speaks, or, when that lacks what req asks, Ask says so. A timeout of 0
// waits for ever (pmtr logs -f).
func Ask(configPath string, req ctlproto.Request, timeout time.Duration, stdout, stderr io.Writer) (int, error) {
	path := Path(configPath)
	if err := hostfacts.SecureDir(filepath.Dir(path), false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("not asking %s: %w", path, err)
	}
	version := ctlproto.Version
	for {
		code, older, err := askIn(version, configPath, path, req, timeout, stdout, stderr)
		if older == 0 || older >= version { // (Fallback only goes down)
			return code, err
		}
		version = older
	}
}

// askIn puts req in protocol version. When the daemon speaks only an
// older version that may be asked again in, it returns that version.
func askIn(version int, configPath, path string, req ctlproto.Request, timeout time.Duration, stdout, stderr io.Writer) (code, older int, err error) {
	line, err := req.Encode(version)
	var tooNew *ctlproto.TooNewError
	if errors.As(err, &tooNew) {
		return 0, 0, fmt.Errorf("the pmtr running %s is older than this client (control protocol %d) and does not know %s: restart it with this pmtr to use it, or use the pmtr client of its version", configPath, tooNew.Version, tooNew.What)
	}
	if err != nil {
		return 0, 0, err
	}
	c, rep, r, err := exchange(configPath, path, line, req.Body, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var answer io.Reader = r
	if rep.Version < version || rep.Refusal != "" {
		text, _ := io.ReadAll(io.LimitReader(r, ctlproto.MaxLine))
		if older, ok := ctlproto.Fallback(version, rep, string(text)); ok {
			return 0, older, nil
		}
		if err := refused(configPath, req, rep, string(text)); err != nil {
			return 0, 0, err
		}
		answer = io.MultiReader(bytes.NewReader(text), r)
	}
	w := stdout
	if rep.ToErr {
		w = stderr
	}
	// A reset after the answer: the daemon closed without reading all we
	// sent (a refused request), which ends the answer as EOF would.
	if _, err := io.Copy(w, answer); err != nil && !isTimeout(err) && !errors.Is(err, syscall.ECONNRESET) {
		return rep.Code, 0, fmt.Errorf("read the answer: %w", err)
	}
	return rep.Code, 0, nil
}

// ErrNoDaemon: no daemon answers on the config's socket (Ask's error
// matches it with errors.Is), so a command that can do without one may.
var ErrNoDaemon = errors.New("no pmtr is running the config")

// noDaemon is an ErrNoDaemon that says which socket was tried.
type noDaemon string

func (e noDaemon) Error() string      { return string(e) }
func (noDaemon) Is(target error) bool { return target == ErrNoDaemon }

// refused words a refusal of a request the client has checked: the daemon
// must be older than the client.
func refused(configPath string, req ctlproto.Request, rep ctlproto.Reply, text string) error {
	said := strings.TrimSpace(text)
	switch rep.Refusal {
	case ctlproto.UnknownVerb:
		return fmt.Errorf("the pmtr running %s does not know pmtr %s: it is older than this client; restart it with this pmtr to use it, or use the pmtr client of its version", configPath, req.Verb)
	case ctlproto.BadRequest, ctlproto.UnknownVersion:
		return fmt.Errorf("the pmtr running %s refused the request (%s): is it older than this client? restart it with this pmtr, or use the pmtr client of its version", configPath, said)
	}
	return nil
}

// exchange sends one request line (and body) and reads the reply's header.
func exchange(configPath, path, line string, body []byte, timeout time.Duration) (net.Conn, ctlproto.Reply, *bufio.Reader, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil && os.Geteuid() != 0 && rootRuns(configPath) {
		return nil, ctlproto.Reply{}, nil, noDaemon(fmt.Sprintf("no pmtr of uid %d is running %s (tried the socket %s); a pmtr that root runs answers root only (try sudo)", os.Geteuid(), configPath, path))
	}
	if err != nil {
		return nil, ctlproto.Reply{}, nil, noDaemon(fmt.Sprintf("no pmtr is running %s (tried the socket %s: %s)", configPath, path, causeOf(err)))
	}
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	if _, err := io.WriteString(c, line); err != nil {
		c.Close()
		return nil, ctlproto.Reply{}, nil, fmt.Errorf("ask %s: %w", path, err)
	}
	if body != nil {
		c.Write(body)
		c.(*net.UnixConn).CloseWrite() // the daemon reads the body to its end
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	rep, perr := ctlproto.ParseReply(head)
	if err != nil || perr != nil {
		c.Close()
		if isTimeout(err) {
			return nil, ctlproto.Reply{}, nil, fmt.Errorf("timeout: the daemon running %s did not answer within %v", configPath, timeout)
		}
		if err == nil {
			return nil, ctlproto.Reply{}, nil, fmt.Errorf("the daemon running %s gave an answer this pmtr does not understand: %w", configPath, perr)
		}
		return nil, ctlproto.Reply{}, nil, fmt.Errorf("the daemon running %s gave no answer (is it an older pmtr?)", configPath)
	}
	return c, rep, r, nil
}

// rootRuns: root's runtime directory may hold a socket for configPath (a
// caller that is not root may not look inside, so "may").
func rootRuns(configPath string) bool {
	_, err := os.Stat(filepath.Join(hostfacts.RootRunDir, "status-"+hostfacts.ConfigHash(configPath)+".sock"))
	return err == nil || errors.Is(err, fs.ErrPermission)
}

// causeOf is the system's reason for a failed dial ("No such file or
// directory", "Connection refused").
func causeOf(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return hostfacts.Strerror(se.Err)
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// QueryStatus reads the status table of the daemon running configPath.
func QueryStatus(configPath string) (string, error) {
	var out, errOut strings.Builder
	if _, err := Ask(configPath, ctlproto.Request{Verb: "status"}, 10*time.Second, &out, &errOut); err != nil {
		return "", err
	}
	return out.String() + errOut.String(), nil
}
