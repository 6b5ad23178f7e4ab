package live

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pmtr/live/hostfacts"
)

// Ask sends one request ("status --json web", "restart web", ...; with a
// body for plan) to the daemon running configPath, copies the answer to
// stdout or stderr as the daemon says, and returns the daemon's exit code.
// A timeout of 0 waits for ever (pmtr logs -f).
func Ask(configPath, request string, body []byte, timeout time.Duration, stdout, stderr io.Writer) (int, error) {
	path := StatusSocket(configPath)
	if err := hostfacts.SecureDir(filepath.Dir(path), false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("not asking %s: %w", path, err)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil && os.Geteuid() != 0 && rootRuns(configPath) {
		return 0, fmt.Errorf("no pmtr of uid %d is running %s (tried the socket %s); a pmtr that root runs answers root only (try sudo)", os.Geteuid(), configPath, path)
	}
	if err != nil {
		return 0, fmt.Errorf("no pmtr is running %s (tried the socket %s: %s)", configPath, path, causeOf(err))
	}
	defer c.Close()
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	if _, err := io.WriteString(c, request+"\n"); err != nil {
		return 0, fmt.Errorf("ask %s: %w", path, err)
	}
	if body != nil {
		c.Write(body)
		c.(*net.UnixConn).CloseWrite() // the daemon reads the body to its end
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	f := strings.Fields(head)
	if err != nil || len(f) != 3 || f[0] != "pmtr/1" {
		if isTimeout(err) {
			return 0, fmt.Errorf("timeout: the daemon running %s did not answer within %v", configPath, timeout)
		}
		return 0, fmt.Errorf("the daemon running %s gave no answer (is it an older pmtr?)", configPath)
	}
	code, _ := strconv.Atoi(f[1])
	w := stdout
	if f[2] == "err" {
		w = stderr
	}
	if _, err := io.Copy(w, r); err != nil && !isTimeout(err) {
		return code, fmt.Errorf("read the answer: %w", err)
	}
	return code, nil
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
	if _, err := Ask(configPath, "status", nil, 10*time.Second, &out, &errOut); err != nil {
		return "", err
	}
	return out.String() + errOut.String(), nil
}
