package live

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"pmtr/datagram"
)

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// sendUntilLogged sends what next gives to port until one more line than
// before matches re: a refusal is logged at most once a second (per
// listener), so a datagram sent within that second goes unsaid.
func (r *running) sendUntilLogged(port int, next func() []byte, re string) {
	r.t.Helper()
	before := r.count(re)
	for deadline := time.Now().Add(eventWait); r.count(re) == before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("no log line matching %q within %v of sending; log:\n%s", re, eventWait, r.out)
		}
		sendUDP(r.t, port, next())
	}
}

// again is a datagram sent as it is each time.
func again(b []byte) func() []byte { return func() []byte { return b } }

func sendUDP(t *testing.T, port int, b []byte) { sendUDPTo(t, "127.0.0.1", port, b) }

func sendUDPTo(t *testing.T, host string, port int, b []byte) {
	c, err := net.Dial("udp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(b)
}

func TestReportFormatPeriodAndChange(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	port := rx.LocalAddr().(*net.UDPAddr).Port
	r := startDaemon(t, fmt.Sprintf("report to udp://127.0.0.1:%d\njob {\nname a\ncmd /bin/sleep 97\n}\njob {\nname d\ncmd /bin/true\ndisable\n}\njob {\nname o\ncmd /bin/true\nonce\n}\n", port))
	pid := r.waitLog(`started job a \[(\d+)\]`, eventWait)[1]
	host, _ := os.Hostname()
	var got []string
	var times []time.Time
	buf := make([]byte, 4096)
	rx.SetReadDeadline(time.Now().Add(10*time.Second + eventWait))
	for len(got) < 3 {
		n, _, err := rx.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d reports: %v", len(got), err)
		}
		got = append(got, string(buf[:n]))
		times = append(times, time.Now())
	}
	// At start every job is listed; once o has finished, it is left out.
	want0 := regexp.MustCompile(`^report ` + regexp.QuoteMeta(host) + `\na e 0 \d+ /bin/sleep\nd d 0 0 /bin/true\n(o e 0 \d+ /bin/true\n)?$`)
	if !want0.MatchString(got[0]) {
		t.Fatalf("first report %q", got[0])
	}
	last := "report " + host + "\na e %s " + pid + " /bin/sleep\nd d 0 0 /bin/true\n"
	if !regexp.MustCompile("^" + fmt.Sprintf(regexp.QuoteMeta(last), `\d+`) + "$").MatchString(got[2]) {
		t.Fatalf("later report %q, want the form %q", got[2], last)
	}
	// 10 s apart to within a few ms on a quiet machine; a busy one may
	// deliver or read one late.
	if d := times[2].Sub(times[1]); d < 8*time.Second || d > 12*time.Second {
		t.Fatalf("periodic reports %v apart, want 10 s", d)
	}
}

func TestControlEnableDisableUnknownMalformed(t *testing.T) {
	port := freeUDPPort(t)
	r := startDaemon(t, fmt.Sprintf("listen on udp://127.0.0.1:%d\njob {\nname a\ncmd /bin/sleep 98\n}\njob {\nname b\ncmd /bin/sleep 99\ndisable\n}\n", port))
	r.waitLog(`started job a `, eventWait)
	sendUDP(t, port, []byte("enable b\n")) // as echo | nc -u sends it
	r.waitLog(`enabling b\n.*started job b \[`, eventWait)
	sendUDP(t, port, []byte("disable a zz"))
	r.waitLog(`disabling a\n.*sending SIGTERM to job a`, eventWait)
	r.waitLog(`control msg for unknown job zz`, eventWait)
	sendUDP(t, port, []byte("bogus a"))
	r.waitLog(`invalid control msg from 127\.0\.0\.1:\d+`, eventWait)
	sendUDP(t, port, []byte(strings.Repeat("x", 70000)[:60000]))
	sendUDP(t, port, []byte("enable a"))
	r.waitLog(`enabling a\n`, eventWait)
	r.reload(fmt.Sprintf("listen on udp://127.0.0.1:%d\njob {\nname a\ncmd /bin/sleep 98\n}\njob {\nname b\ncmd /bin/sleep 99\ndisable\n}\n# edited\n", port))
	r.waitLog(`rescanning job configuration\n(.*\n)*.*sending SIGTERM to job b`, eventWait) // temporary until reload
}

func TestControlWithKey(t *testing.T) {
	port := freeUDPPort(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pmtr.key")
	os.WriteFile(keyFile, []byte("correct horse\n"), 0o600)
	r := startDaemon(t, fmt.Sprintf("listen on udp://127.0.0.1:%d key %s\njob {\nname a\ncmd /bin/sleep 96\n}\n", port, keyFile))
	r.waitLog(`started job a `, eventWait)
	sendUDP(t, port, []byte("disable a"))
	r.waitLog(`refused control datagram from 127\.0\.0\.1:\d+: not signed`, eventWait)
	r.sendUntilLogged(port, func() []byte {
		return datagram.Sign([]byte("correct horse"), "disable a", time.Now().Add(-time.Minute), "old", fmt.Sprintf("127.0.0.1:%d", port))
	}, `refused control datagram from .*: stale`)
	signed := datagram.Sign([]byte("correct horse"), "disable a", time.Now(), "n1", fmt.Sprintf("127.0.0.1:%d", port))
	sendUDP(t, port, signed)
	r.waitLog(`disabling a\n`, eventWait)
	r.sendUntilLogged(port, again(signed), `refused control datagram from .*: replayed`)
	if r.count(`control on .* has no key`) != 0 {
		t.Fatalf("warned about a keyed socket\n%s", r.out)
	}
}
