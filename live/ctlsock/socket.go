// Package ctlsock is pmtr's local control socket: a unix socket per config
// file, in the runtime directory (hostfacts.RuntimeDir), so that "pmtr
// status -c FILE" (and stop, start, restart, reload, why, logs, plan,
// metrics) finds the daemon that runs FILE. The server answers the
// requests of package ctlproto, in the version each was asked in, for
// root and the daemon's own user only (SO_PEERCRED); Ask is the client.
//
// Serve runs one accept goroutine and one goroutine per connection (at
// most MaxConns at once; live/accept backs off when accepts fail); a
// connection's answer waits for the driver (at most 5 s, 30 s for commands
// and reloads, which wait for their effect), and pmtr logs -f streams until
// the client leaves or the run ends. Serve itself binds the socket, so
// call it before the driver runs, never on its goroutine. Ask blocks for
// the daemon's answer (up to its timeout).
package ctlsock

import (
	"net"
	"os"
	"path/filepath"

	"pmtr/core"
	"pmtr/live/accept"
	"pmtr/live/hostfacts"
)

// Path is where the daemon running configPath answers.
func Path(configPath string) string {
	return filepath.Join(hostfacts.RuntimeDir(), SocketName(hostfacts.ConfigHash(configPath)))
}

// SocketName is the name of the control socket of the config whose
// hostfacts.ConfigHash is hash, in the runtime directory.
func SocketName(hash string) string { return "status-" + hash + ".sock" }

// MaxConns is how many connections the control socket answers at once;
// more wait in the kernel's backlog until one ends.
const MaxConns = 128

// Serve listens on the control socket at path and asks the driver for
// each answer. When it cannot listen it logs why, and pmtr runs on without
// it. It returns what closes and removes the socket (nil when there is
// none).
func Serve(path string, d Deps) func() {
	if err := hostfacts.SecureDir(filepath.Dir(path), true); err != nil {
		d.Log.Logf(core.Error, "no status socket: %v", err)
		return nil
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		d.Log.Logf(core.Error, "status socket %s is in use by another pmtr running the same config", path)
		return nil
	}
	os.Remove(path) // a stale socket of a pmtr that died
	ln, err := net.Listen("unix", path)
	if err == nil {
		err = os.Chmod(path, 0o600) // the directory is 0700 already
	}
	if err != nil {
		d.Log.Logf(core.Error, "status socket: %v", err)
		return nil
	}
	s := newServer(d)
	o := accept.Options{What: "the control socket " + path, Limit: MaxConns, Log: d.Log}
	go accept.Loop(ln, o, func(c net.Conn) { s.serveConn(c.(*net.UnixConn)) })
	return func() {
		ln.Close()
		os.Remove(path)
	}
}
