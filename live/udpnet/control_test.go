package udpnet

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/confgrammar"
)

// A keyed listener reads nothing before its key is set: an unsigned
// datagram waiting on its socket when it opens (here one handed over by
// pmtr upgrade) is refused, never taken as a plain message. (The reader
// started before the key was stored: a signed datagram that came at once
// was read as plain text, "invalid control msg", and an unsigned one
// would have been obeyed.)
func TestKeyedListenerReadsOnlyWithItsKey(t *testing.T) {
	key := []byte(fmt.Sprintf("secret %d", time.Now().UnixNano()))
	for round := range 20 {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		to := conn.LocalAddr().(*net.UDPAddr)
		in, err := net.DialUDP("udp", nil, to)
		if err != nil {
			t.Fatal(err)
		}
		in.Write([]byte("disable a"))
		in.Close()
		c := newController(clock.New(), &lines{})
		spec := confgrammar.Listen{Host: "127.0.0.1", Port: to.Port, KeyFile: filepath.Join(t.TempDir(), "key")}
		c.inherited[listenID(spec)] = conn
		c.configure([]confgrammar.Listen{spec}, map[string][]byte{spec.KeyFile: key})
		for deadline := time.Now().Add(10 * time.Second); c.refused.Load() == 0 && time.Now().Before(deadline); {
			select {
			case m := <-c.out:
				t.Fatalf("round %d: a keyed listener took %q from %s unsigned", round, m.Text, m.From)
			case <-time.After(time.Millisecond):
			}
		}
		c.closeAll()
		if c.refused.Load() != 1 {
			t.Fatalf("round %d: the unsigned datagram was not refused", round)
		}
	}
}
