package udpnet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/benbjohnson/clock"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/datagram"
	"pmtr/driver"
	"pmtr/live/hostfacts"
	"pmtr/logsafe"
)

// controller owns the "listen on" sockets. Each one's reader drops
// datagrams while the driver is behind, so a flood cannot starve job
// supervision: control has its own small queue. Keys are shared: one
// verifier per key serves every listener with it, so a datagram accepted
// on one is refused on all, and what it accepted is kept in the runtime
// directory across restarts.
type controller struct {
	clk       clock.Clock
	log       Logger
	out       chan driver.ControlText       // the message (authenticated when a key is set), for the driver to decode and apply
	open      map[string]*listener          // by the listen line's identity
	verifiers map[string]*datagram.Verifier // by key hash
	saveMu    sync.Mutex
	refused   atomic.Int64            // datagrams that keyed listeners refused
	inherited map[string]*net.UDPConn // handed over by pmtr upgrade, by listen line, until the first setup

	pmu    sync.Mutex // pmtr upgrade's pause (handover.go)
	paused bool
	resume chan struct{}
}

type listener struct {
	conn    *net.UDPConn
	spec    string
	host    string // as the listen line names it
	port    int
	ver     atomic.Pointer[datagram.Verifier] // nil: no key
	refusal *lineLimit
	parked  chan struct{} // closed once its reader holds still (pmtr upgrade)
	park    sync.Once
}

func newController(clk clock.Clock, log Logger) *controller {
	return &controller{clk: clk, log: log, out: make(chan driver.ControlText, 64), open: map[string]*listener{},
		verifiers: map[string]*datagram.Verifier{}, inherited: map[string]*net.UDPConn{}}
}

func listenID(l confgrammar.Listen) string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) + " key=" + l.KeyFile
}

// configure keeps the sockets of unchanged listen lines, closes removed
// ones and opens new ones; every keyed listener gets its key's verifier
// (a rotated key takes effect at once).
func (c *controller) configure(specs []confgrammar.Listen, keys map[string][]byte) {
	want := map[string]confgrammar.Listen{}
	for _, s := range specs {
		want[listenID(s)] = s
	}
	for id, l := range c.open {
		if _, keep := want[id]; !keep {
			l.conn.Close()
			delete(c.open, id)
		}
	}
	for _, s := range specs {
		id := listenID(s)
		l, ok := c.open[id]
		if !ok {
			if l = c.listen(s); l == nil {
				continue
			}
		}
		if s.KeyFile != "" {
			l.ver.Store(c.verifier(keys[s.KeyFile]))
		}
		if !ok { // read only once the key is set: a keyed listener never takes a datagram as unsigned
			c.open[id] = l
			go c.read(l)
		}
	}
	c.dropInherited()
}

func (c *controller) listen(s confgrammar.Listen) *listener {
	spec := "udp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	if conn, ok := c.inherited[listenID(s)]; ok { // bound before pmtr upgrade: its datagrams waited
		delete(c.inherited, listenID(s))
		return &listener{conn: conn, spec: spec, host: s.Host, port: s.Port, refusal: newLineLimit(c.clk, c.log)}
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		c.log.Logf(core.Error, "lookup [%s]: %v", s.Host, err)
		return nil
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		c.log.Logf(core.Error, "can't bind to %s: %s", spec, hostfacts.Strerror(err))
		return nil
	}
	if s.KeyFile == "" && hostfacts.OpenToOthers(addr.IP) {
		c.log.Logf(core.Error, "warning: control on %s has no key: anyone who can reach it can stop your jobs (add: key FILE)", spec)
	}
	return &listener{conn: conn, spec: spec, host: s.Host, port: s.Port, refusal: newLineLimit(c.clk, c.log)}
}

// verifier returns the one verifier of key, made on first use with the
// high-water mark an earlier run left.
func (c *controller) verifier(key []byte) *datagram.Verifier {
	sum := sha256.Sum256(key)
	id := hex.EncodeToString(sum[:8])
	if v, ok := c.verifiers[id]; ok {
		return v
	}
	floor := c.loadFloor(id)
	// Nothing signed before this run started counts: an earlier run may
	// have accepted it without recording it (it died in between).
	floor = max(floor, c.clk.Now().Unix()-int64(datagram.Skew.Seconds()))
	v := datagram.NewVerifier(key, floor)
	c.verifiers[id] = v
	return v
}

func replayFile(id string) string { return filepath.Join(hostfacts.RuntimeDir(), "replay-"+id) }

func (c *controller) loadFloor(id string) int64 {
	b, err := os.ReadFile(replayFile(id))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// saveHigh records what a key's verifier accepted, for the next run.
func (c *controller) saveHigh(v *datagram.Verifier) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	sum := sha256.Sum256(v.Key)
	path := replayFile(hex.EncodeToString(sum[:8]))
	if err := hostfacts.SecureDir(filepath.Dir(path), true); err != nil {
		c.log.Logf(core.Error, "can't record accepted control datagrams: %v", err)
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(v.High(), 10)+"\n"), 0o600); err == nil {
		err = os.Rename(tmp, path)
	}
}

func (c *controller) closeAll() {
	for id, l := range c.open {
		l.conn.Close()
		delete(c.open, id)
	}
}

// read turns datagrams into ControlTexts until the socket is closed.
func (c *controller) read(l *listener) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := l.conn.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			c.held(l)
			continue
		}
		text, ok := c.accept(l, buf[:n], from)
		if !ok {
			continue
		}
		select {
		case c.out <- driver.ControlText{From: from.String(), Via: l.spec, Text: text}:
		default: // the driver is behind: drop, as a full socket buffer would
		}
	}
}

// accept authenticates a datagram when a key is set, and cuts it to
// datagram.MaxDatagram bytes of message.
func (c *controller) accept(l *listener, b []byte, from *net.UDPAddr) (string, bool) {
	text := string(b)
	if v := l.ver.Load(); v != nil {
		msg, err := v.Verify(b, c.clk.Now(), addressedTo(l, from))
		if err != nil {
			c.refused.Add(1)
			l.refusal.log(fmt.Sprintf("refused control datagram from %s: %v", logsafe.Text(from.String()), err),
				func(n int) string {
					return fmt.Sprintf("... %d more control datagrams refused on %s in the last %v", n, l.spec, limitWindow)
				})
			return "", false
		}
		c.saveHigh(v)
		text = msg
	}
	if len(text) > datagram.MaxDatagram {
		text = text[:datagram.MaxDatagram]
	}
	return text, true
}

// addressedTo tells whether a signed datagram's destination (HOST:PORT, as
// its sender named it) is this listener: its port, and a host that is the
// listen line's, this machine's name (full or short), or one of its
// addresses. localhost and loopback addresses count only for a datagram
// that came from this machine, so one captured there names no other host.
func addressedTo(l *listener, from *net.UDPAddr) func(string) bool {
	return func(to string) bool {
		host, port, err := net.SplitHostPort(to)
		if err != nil || port != strconv.Itoa(l.port) {
			return false
		}
		if ip := net.ParseIP(host); ip != nil {
			return ourAddress(ip, from)
		}
		local := from.IP.IsLoopback()
		name, _ := os.Hostname()
		short, _, _ := strings.Cut(name, ".")
		switch {
		case strings.EqualFold(host, "localhost"):
			return local
		case strings.EqualFold(host, l.host), strings.EqualFold(host, name), strings.EqualFold(host, short):
			return true
		}
		return false
	}
}

// ourAddress: ip is an address of this machine's (a loopback one only for
// a datagram from this machine).
func ourAddress(ip net.IP, from *net.UDPAddr) bool {
	if ip.IsLoopback() {
		return from.IP.IsLoopback()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
