package live

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/udp"
)

// controlMsg is a control datagram's message (already authenticated when a
// key is set), for the driver to decode and apply.
type controlMsg struct {
	from string
	text string
}

// controller owns the "listen on" sockets. Each one's reader drops
// datagrams while the driver is behind, so a flood cannot starve job
// supervision: control has its own small queue.
type controller struct {
	clk  clock.Clock
	log  *Logger
	out  chan controlMsg
	open map[string]*listener // by the listen line's identity
}

type listener struct {
	conn *net.UDPConn
	ver  *udp.Verifier // nil: no key
	mu   sync.Mutex
	last time.Time // last refusal logged, to rate-limit those lines
}

func newController(clk clock.Clock, log *Logger) *controller {
	return &controller{clk: clk, log: log, out: make(chan controlMsg, 64), open: map[string]*listener{}}
}

func listenID(l confgrammar.Listen) string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) + " key=" + l.KeyFile
}

// configure keeps the sockets of unchanged listen lines, closes removed
// ones and opens new ones.
func (c *controller) configure(specs []confgrammar.Listen) {
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
		if _, ok := c.open[id]; ok {
			continue
		}
		if l := c.listen(s); l != nil {
			c.open[id] = l
			go c.read(l)
		}
	}
}

func (c *controller) listen(s confgrammar.Listen) *listener {
	spec := "udp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		c.log.Logf(core.Error, "lookup [%s]: %v", s.Host, err)
		return nil
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		c.log.Logf(core.Error, "can't bind to %s: %s", spec, strerror(err))
		return nil
	}
	l := &listener{conn: conn}
	if s.KeyFile != "" {
		key, err := readKey(s.KeyFile)
		if err != nil {
			c.log.Logf(core.Error, "%v; control datagrams on %s are refused until it can be read", err, spec)
		}
		l.ver = &udp.Verifier{Key: key}
	} else if openToOthers(addr.IP) {
		c.log.Logf(core.Error, "warning: control on %s has no key: anyone who can reach it can stop your jobs (add: key FILE)", spec)
	}
	return l
}

// openToOthers: a socket bound to ip can be reached from other machines
// (any address but loopback; 0.0.0.0 and :: mean every address).
func openToOthers(ip net.IP) bool { return ip == nil || !ip.IsLoopback() }

func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("can't read key file %s: %s", path, strerror(err))
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) == 0 {
		return nil, fmt.Errorf("key file %s is empty", path)
	}
	return key, nil
}

func (c *controller) closeAll() {
	for id, l := range c.open {
		l.conn.Close()
		delete(c.open, id)
	}
}

// read turns datagrams into controlMsgs until the socket is closed.
func (c *controller) read(l *listener) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := l.conn.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		text, ok := c.accept(l, buf[:n], from)
		if !ok {
			continue
		}
		select {
		case c.out <- controlMsg{from: from.String(), text: text}:
		default: // the driver is behind: drop, as a full socket buffer would
		}
	}
}

// accept authenticates a datagram when a key is set, and cuts it to
// udp.MaxDatagram bytes of message.
func (c *controller) accept(l *listener, b []byte, from *net.UDPAddr) (string, bool) {
	text := string(b)
	if l.ver != nil {
		msg, err := l.ver.Verify(b, c.clk.Now())
		if err == nil && len(l.ver.Key) == 0 {
			err = errors.New("no key loaded")
		}
		if err != nil {
			c.refused(l, from, err)
			return "", false
		}
		text = msg
	}
	if len(text) > udp.MaxDatagram {
		text = text[:udp.MaxDatagram]
	}
	return text, true
}

// refused logs a dropped datagram, at most once a second per socket.
func (c *controller) refused(l *listener, from *net.UDPAddr, why error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := c.clk.Now()
	if now.Sub(l.last) < time.Second {
		return
	}
	l.last = now
	c.log.Logf(core.Error, "refused control datagram from %s: %v", from, why)
}
