package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

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

func answerStatus(c net.Conn, b *backend) {
	defer c.Close()
	reply := make(chan driver.Snapshot, 1)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case b.in <- driver.StatusQuery{Reply: reply}:
	case <-t.C:
		return
	case <-b.stop:
		return
	}
	select {
	case snap := <-reply:
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, snap.Table())
	case <-t.C:
	case <-b.stop:
	}
}

// QueryStatus reads the status table of the daemon running configPath.
func QueryStatus(configPath string) (string, error) {
	path := StatusSocket(configPath)
	if err := secureDir(filepath.Dir(path), false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("live: not asking %s: %w", path, err)
	}
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
