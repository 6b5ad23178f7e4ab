package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pmtr/core"
)

// The status socket: a unix socket per config file, in /run/pmtr (root) or
// the temporary directory, so that "pmtr status -c FILE" finds the daemon
// that runs FILE. A connection gets the status table and is closed.

// StatusSocket is where the daemon running configPath answers status.
func StatusSocket(configPath string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	sum := sha256.Sum256([]byte(abs))
	dir := "/run/pmtr"
	if os.Geteuid() != 0 {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("pmtr-%d", os.Geteuid()))
	}
	return filepath.Join(dir, "status-"+hex.EncodeToString(sum[:6])+".sock")
}

// statusRequest asks the driver for a snapshot; it answers on reply.
type statusRequest struct{ reply chan string }

// serveStatus listens on the status socket and asks the driver (through
// out) for each answer. It returns the listener, or nil when it cannot
// listen (logged; pmtr runs on without it).
func serveStatus(path string, out chan<- any, log *Logger) net.Listener {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		log.Logf(core.Error, "status socket: %v", err)
		return nil
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		log.Logf(core.Error, "status socket %s is in use by another pmtr running the same config", path)
		return nil
	}
	os.Remove(path) // a stale socket of a pmtr that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Logf(core.Error, "status socket: %v", err)
		return nil
	}
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				go answerStatus(c, out)
			}
		}
	}()
	return ln
}

func answerStatus(c net.Conn, out chan<- any) {
	defer c.Close()
	req := statusRequest{reply: make(chan string, 1)}
	select {
	case out <- req:
	case <-time.After(5 * time.Second):
		return
	}
	select {
	case text := <-req.reply:
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, text)
	case <-time.After(5 * time.Second):
	}
}

// statusTable renders the core's snapshot at now.
func statusTable(now core.Time, jobs []core.JobStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-9s %8s %12s %7s  %s\n", "JOB", "STATE", "PID", "FOR", "STARTS", "LAST EXIT")
	for _, j := range jobs {
		pid, last := "-", j.LastExit
		if j.PID != 0 {
			pid = fmt.Sprint(j.PID)
		}
		if last == "" {
			last = "-"
		}
		if j.State == "waiting" {
			last += fmt.Sprintf("; starts again in %v", roundSec(j.NextStart-now))
		}
		fmt.Fprintf(&b, "%-24s %-9s %8s %12v %7d  %s\n", j.Name, j.State, pid, roundSec(now-j.Since), j.Starts, last)
	}
	return b.String()
}

func roundSec(t core.Time) time.Duration { return time.Duration(t).Round(time.Second) }

// QueryStatus reads the status table of the daemon running configPath.
func QueryStatus(configPath string) (string, error) {
	path := StatusSocket(configPath)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("live: no pmtr is running %s (no status socket %s): %w", configPath, path, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("live: read status: %w", err)
	}
	return string(b), nil
}
