package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"

	"pmtr/core"
)

// The control socket: a unix socket per config file, in the runtime
// directory (RuntimeDir), so that "pmtr status -c FILE" (and stop, start,
// restart, reload, why, logs, plan) finds the daemon that runs FILE.

// StatusSocket is where the daemon running configPath answers status.
func StatusSocket(configPath string) string {
	return filepath.Join(RuntimeDir(), "status-"+configHash(configPath)+".sock")
}

// configHash names a config file's socket and lock: 12 hex digits of the
// SHA-256 of its absolute path.
func configHash(configPath string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// serveStatus listens on the status socket and asks the driver for each
// answer. When it cannot listen it logs why, and pmtr runs on without it.
// It returns what closes and removes the socket (nil when there is none).
func serveStatus(path string, b *backend, log *Logger) func() {
	if err := secureDir(filepath.Dir(path), true); err != nil {
		log.Logf(core.Error, "no status socket: %v", err)
		return nil
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		log.Logf(core.Error, "status socket %s is in use by another pmtr running the same config", path)
		return nil
	}
	os.Remove(path) // a stale socket of a pmtr that died
	ln, err := net.Listen("unix", path)
	if err == nil {
		err = os.Chmod(path, 0o600) // the directory is 0700 already
	}
	if err != nil {
		log.Logf(core.Error, "status socket: %v", err)
		return nil
	}
	go acceptLoop(ln, func(c net.Conn) { serveConn(c.(*net.UnixConn), b) })
	return func() {
		ln.Close()
		os.Remove(path)
	}
}

// acceptLoop answers each connection on its own goroutine until ln closes.
func acceptLoop(ln net.Listener, answer func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err == nil {
			go answer(c)
		}
	}
}
