package ctlsock

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/ctlproto"
	"pmtr/live/hostfacts"
)

func TestMain(m *testing.M) {
	// The tests' sockets stay out of the real /run/pmtr.
	dir, err := os.MkdirTemp("", "pmtr-run-")
	if err != nil {
		panic(err)
	}
	hostfacts.RootRunDir = filepath.Join(dir, "pmtr")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestEveryVerbHasAHandler: the server answers each verb of ctlproto's
// table, and nothing else.
func TestEveryVerbHasAHandler(t *testing.T) {
	for _, v := range ctlproto.Verbs() {
		if handlers[v.Name] == nil {
			t.Errorf("no handler for %s", v.Name)
		}
	}
	if len(handlers) != len(ctlproto.Verbs()) {
		t.Errorf("%d handlers for %d verbs", len(handlers), len(ctlproto.Verbs()))
	}
}

// fakeDaemon answers on conf's socket with answer(request line) and
// counts the connections.
func fakeDaemon(t *testing.T, conf string, answer func(line string) string) *atomic.Int32 {
	t.Helper()
	path := Path(conf)
	if err := hostfacts.SecureDir(filepath.Dir(path), true); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.Add(1)
			line, _ := bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, answer(line))
			c.Close()
		}
	}()
	return &n
}

// oldDaemon answers as pmtr did before versioned requests.
func oldDaemon(line string) string {
	f := strings.Fields(line)
	switch f[0] {
	case "status", "plan", "stop", "start", "restart", "reload", "why", "logs", "metrics":
		return "pmtr/1 0 out\nold pmtr got: " + line
	}
	return "pmtr/1 2 err\nunknown request \"" + f[0] + "\"\n"
}

// TestAskAnOlderDaemon: a daemon older than versions is asked again as it
// understands; a versioned daemon that lacks a verb is named as older.
func TestAskAnOlderDaemon(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "pmtr.conf")
	n := fakeDaemon(t, conf, oldDaemon)
	var out, errOut strings.Builder
	req := ctlproto.Request{Verb: "logs", Flags: map[string]string{"-n": "5"}, Operands: []string{"web"}}
	code, err := Ask(conf, req, 10*time.Second, &out, &errOut)
	if code != 0 || err != nil || out.String() != "old pmtr got: logs -n 5 web\n" || n.Load() != 2 {
		t.Fatalf("logs to an old daemon: exit %d, %v, %d connections\n%s%s", code, err, n.Load(), out.String(), errOut.String())
	}

	conf2 := filepath.Join(t.TempDir(), "pmtr.conf")
	fakeDaemon(t, conf2, func(string) string {
		return "pmtr/2 2 err unknown-verb\nunknown verb \"metrics\": this pmtr knows status\n"
	})
	_, err = Ask(conf2, ctlproto.Request{Verb: "metrics"}, 10*time.Second, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "the pmtr running "+conf2+" does not know pmtr metrics: it is older than this client; restart it with this pmtr") {
		t.Fatalf("a verb the daemon lacks: %v", err)
	}
}
