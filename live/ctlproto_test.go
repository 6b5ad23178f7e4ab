package live

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"pmtr/ctlproto"
	"pmtr/live/ctlsock"
)

// rawAsk sends line as it is and returns the whole reply.
func rawAsk(t *testing.T, conf, line string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", ctlsock.Path(conf), 2*time.Second)
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
	r.waitLog(`started job up \[`, eventWait)
	deadline := time.Now().Add(10 * time.Second)
	for _, err := ctlsock.QueryStatus(r.conf); err != nil; _, err = ctlsock.QueryStatus(r.conf) {
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
	code, err := ctlsock.Ask(r.conf, ctlproto.Request{Verb: "why", Operands: []string{"up"}}, 10*time.Second, &out, &errOut)
	if code != 0 || err != nil || !strings.HasPrefix(out.String(), "up: running") {
		t.Errorf("pmtr why up: exit %d, %v\n%s%s", code, err, out.String(), errOut.String())
	}
}
