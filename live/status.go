package live

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// The status socket: a unix socket per config file, in the runtime
// directory (RuntimeDir), so that "pmtr status -c FILE" finds the daemon
// that runs FILE. A connection gets the status table and is closed.

// StatusSocket is where the daemon running configPath answers status.
func StatusSocket(configPath string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(RuntimeDir(), "status-"+hex.EncodeToString(sum[:6])+".sock")
}

// serveStatus listens on the status socket and asks the driver for each
// answer. When it cannot listen it logs why, and pmtr runs on without it.
// The socket is closed and removed when the run ends.
func serveStatus(path string, b *backend, log *Logger) {
	if err := secureDir(filepath.Dir(path), true); err != nil {
		log.Logf(core.Error, "no status socket: %v", err)
		return
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		log.Logf(core.Error, "status socket %s is in use by another pmtr running the same config", path)
		return
	}
	os.Remove(path) // a stale socket of a pmtr that died
	ln, err := net.Listen("unix", path)
	if err == nil {
		err = os.Chmod(path, 0o600) // the directory is 0700 already
	}
	if err != nil {
		log.Logf(core.Error, "status socket: %v", err)
		return
	}
	go func() {
		<-b.stop
		ln.Close()
		os.Remove(path)
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				go answerStatus(c, b)
			}
		}
	}()
}

// The socket's requests: a first line "status" (the table) or "plan"
// followed by a config file's bytes (what saving it would do: "ok" or
// "rejected" on the first line of the answer, then the plan).
func answerStatus(c net.Conn, b *backend) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, confgrammar.MaxSize+64))
	verb, _ := r.ReadString('\n')
	var text string
	switch strings.TrimSpace(verb) {
	case "plan":
		src, err := io.ReadAll(r)
		if err != nil {
			return
		}
		a, ok := ask[driver.PlanAnswer](b, func(reply chan<- driver.PlanAnswer) driver.Input {
			return driver.PlanQuery{Source: src, Reply: reply}
		})
		if !ok {
			return
		}
		text = map[bool]string{true: "rejected\n", false: "ok\n"}[len(a.Errors) > 0] + a.Text()
	default:
		snap, ok := ask[driver.Snapshot](b, func(reply chan<- driver.Snapshot) driver.Input {
			return driver.StatusQuery{Reply: reply}
		})
		if !ok {
			return
		}
		text = snap.Table()
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, text)
}

// ask puts a query to the driver and waits (5 s at most) for its answer.
func ask[T any](b *backend, query func(chan<- T) driver.Input) (T, bool) {
	var zero T
	reply := make(chan T, 1)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case b.in <- query(reply):
	case <-t.C:
		return zero, false
	case <-b.stop:
		return zero, false
	}
	select {
	case a := <-reply:
		return a, true
	case <-t.C:
	case <-b.stop:
	}
	return zero, false
}

// QueryStatus reads the status table of the daemon running configPath.
func QueryStatus(configPath string) (string, error) {
	return request(configPath, []byte("status\n"))
}

// QueryPlan asks the daemon running configPath what saving src as its
// config would do; ok is false when the daemon would reject src.
func QueryPlan(configPath string, src []byte) (text string, ok bool, err error) {
	answer, err := request(configPath, append([]byte("plan\n"), src...))
	if err != nil {
		return "", false, err
	}
	head, rest, _ := strings.Cut(answer, "\n")
	if head != "ok" && head != "rejected" {
		return "", false, fmt.Errorf("live: the daemon running %s does not answer plans (is it an older pmtr?)", configPath)
	}
	return rest, head == "ok", nil
}

// request sends one request on the status socket and reads the answer.
func request(configPath string, req []byte) (string, error) {
	path := StatusSocket(configPath)
	if err := secureDir(filepath.Dir(path), false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("live: not asking %s: %w", path, err)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("live: no pmtr is running %s (no status socket %s): %w", configPath, path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return "", fmt.Errorf("live: ask %s: %w", path, err)
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("live: read the answer: %w", err)
	}
	return string(b), nil
}
