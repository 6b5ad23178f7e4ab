package live

import (
	"bufio"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/ctlproto"
	"pmtr/live/hostfacts"
)

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

// rawAsk sends line as it is and returns the whole reply.
func rawAsk(t *testing.T, conf, line string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", StatusSocket(conf), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, line)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return string(b)
}

// TestControlSocketVersions: the daemon answers requests without a
// version as pmtr did before versions (the header an older client reads),
// versioned ones in their version, and refuses what it does not know
// with the reason in the header.
func TestControlSocketVersions(t *testing.T) {
	r := startDaemonStatus(t, "job {\nname up\ncmd /bin/sleep 75\n}\n")
	r.waitLog(`started job up \[`, 5*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for _, err := QueryStatus(r.conf); err != nil; _, err = QueryStatus(r.conf) {
		if time.Now().After(deadline) {
			t.Fatalf("no status: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for line, want := range map[string]string{
		"status up\n":                    "pmtr/1 0 out\nJOB ",
		"\n":                             "pmtr/1 0 out\nJOB ",
		"status --json up\n":             "pmtr/1 0 out\n{\n  \"jobs\": [\n    {\n      \"name\": \"up\"",
		"why nosuch\n":                   "pmtr/1 4 err\nno job named \"nosuch\"",
		"health\n":                       "pmtr/1 2 err\nunknown verb \"health\"",
		"pmtr/2 status --json -- up\n":   "pmtr/2 0 out\n{\n  \"jobs\": [\n    {\n      \"name\": \"up\"",
		"pmtr/2 logs -n 1 -- up\n":       "pmtr/2 0 out\n",
		"pmtr/2 health\n":                "pmtr/2 2 err unknown-verb\nunknown verb \"health\": this pmtr knows status,",
		"pmtr/9 status\n":                "pmtr/2 2 err unknown-version\nthis pmtr speaks control protocol 2 at most, not \"pmtr/9\"",
		"pmtr/2 status up\n":             "pmtr/2 2 err bad-request\nstatus: unknown flag up (operands come after --)",
		"pmtr/2 stop --no-wait\n":        "pmtr/2 2 err bad-request\nstop: name at least 1 job",
		"pmtr/2 restart -- nosuch\n":     "pmtr/2 4 err\nno job named \"nosuch\"",
		"pmtr/2 status --json -- nosu\n": "pmtr/2 4 err\nno job named \"nosu\"",
	} {
		if got := rawAsk(t, r.conf, line); !strings.HasPrefix(got, want) {
			t.Errorf("%q: got\n%s\nwant it to start with\n%s", line, got, want)
		}
	}
	var out, errOut strings.Builder
	code, err := Ask(r.conf, ctlproto.Request{Verb: "why", Operands: []string{"up"}}, 10*time.Second, &out, &errOut)
	if code != 0 || err != nil || !strings.HasPrefix(out.String(), "up: running") {
		t.Errorf("pmtr why up: exit %d, %v\n%s%s", code, err, out.String(), errOut.String())
	}
}

// fakeDaemon answers on conf's socket with answer(request line) and
// counts the connections.
func fakeDaemon(t *testing.T, conf string, answer func(line string) string) *atomic.Int32 {
	t.Helper()
	path := StatusSocket(conf)
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
