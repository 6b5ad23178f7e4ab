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
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

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

// Server is the control socket of one run.
type Server struct {
	ln   *net.UnixListener
	gate *accept.Gate
	path string
}

// Serve listens on the control socket at path and asks the driver for
// each answer. When it cannot listen it logs why, and pmtr runs on without
// it (nil).
func Serve(path string, d Deps) *Server {
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
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		err = os.Chmod(path, 0o600) // the directory is 0700 already
	}
	if err != nil {
		d.Log.Logf(core.Error, "status socket: %v", err)
		return nil
	}
	return serve(ln, path, d)
}

// Inherit serves the control socket that the pmtr before an upgrade
// listened on (f, at path): it was never closed, so no connection was
// refused meanwhile.
func Inherit(f *os.File, path string, d Deps) (*Server, error) {
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("live: the control socket handed over: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("live: the control socket handed over is a %T, not a unix socket", ln)
	}
	return serve(ul, path, d), nil
}

func serve(ln *net.UnixListener, path string, d Deps) *Server {
	ln.SetUnlinkOnClose(false) // Close removes path itself, for an inherited socket too
	gate := accept.NewGate(ln)
	s := newServer(d, gate)
	o := accept.Options{What: "the control socket " + path, Limit: MaxConns, Log: d.Log, Gate: gate}
	go accept.Loop(ln, o, func(c net.Conn) { s.serveConn(c.(*net.UnixConn)) })
	return &Server{ln: ln, gate: gate, path: path}
}

// Close closes and removes the socket.
func (s *Server) Close() {
	s.ln.Close()
	os.Remove(s.path)
}

// Pause stops accepting for pmtr upgrade (the socket stays open); false
// when the accept loop did not stop within.
func (s *Server) Pause(within time.Duration) bool { return s.gate.Pause(within) }

// Idle waits up to within for the requests being answered (followers of
// pmtr logs -f and pmtr upgrade's own aside).
func (s *Server) Idle(within time.Duration) bool { return s.gate.Idle(within) }

// Resume accepts again.
func (s *Server) Resume() { s.gate.Resume() }

// File is a descriptor of the socket for the new binary (close-on-exec).
func (s *Server) File() (*os.File, error) { return s.gate.File() }
