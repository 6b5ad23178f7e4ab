package live

import (
	"errors"
	"net"
	"os"
	"path/filepath"

	"pmtr/core"
	"pmtr/live/hostfacts"
	"pmtr/live/logsink"
)

// The control socket: a unix socket per config file, in the runtime
// directory (RuntimeDir), so that "pmtr status -c FILE" (and stop, start,
// restart, reload, why, logs, plan) finds the daemon that runs FILE.

// StatusSocket is where the daemon running configPath answers status.
func StatusSocket(configPath string) string {
	return filepath.Join(hostfacts.RuntimeDir(), "status-"+hostfacts.ConfigHash(configPath)+".sock")
}

// serveStatus listens on the status socket and asks the driver for each
// answer. When it cannot listen it logs why, and pmtr runs on without it.
// It returns what closes and removes the socket (nil when there is none).
func serveStatus(path string, b *backend, log *logsink.Logger) func() {
	if err := hostfacts.SecureDir(filepath.Dir(path), true); err != nil {
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
