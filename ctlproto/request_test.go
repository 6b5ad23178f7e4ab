package ctlproto

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func req(verb string, flags map[string]string, ops ...string) Request {
	if flags == nil {
		flags = map[string]string{}
	}
	return Request{Verb: verb, Flags: flags, Operands: ops}
}

// TestLegacyLinesDecode: every line a pmtr before versions sends decodes
// as it meant it, in version 1.
func TestLegacyLinesDecode(t *testing.T) {
	for line, want := range map[string]Request{
		"\n":                     req("status", nil),
		"status\n":               req("status", nil),
		"status --json web db\n": req("status", map[string]string{"--json": ""}, "web", "db"),
		"stop web\n":             req("stop", nil, "web"),
		"start --no-wait a b\n":  req("start", map[string]string{"--no-wait": ""}, "a", "b"),
		"restart a --no-wait\n":  req("restart", map[string]string{"--no-wait": ""}, "a"),
		"reload\n":               req("reload", nil),
		"why web\n":              req("why", nil, "web"),
		"logs -n 20 web\n":       req("logs", map[string]string{"-n": "20"}, "web"),
		"logs -n 50 -f web\n":    req("logs", map[string]string{"-n": "50", "-f": ""}, "web"),
		"metrics\n":              req("metrics", nil),
		"plan\n":                 req("plan", nil),
		"pmtr/1 status --json\n": req("status", map[string]string{"--json": ""}),
	} {
		got, err := ParseRequest(line)
		want.Version = Legacy
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %+v, %v; want %+v", line, got, err, want)
		}
	}
}

// TestEncodeDecode: a request encoded in any version decodes to itself,
// and version 1 is what pmtr wrote before versions.
func TestEncodeDecode(t *testing.T) {
	for _, c := range []struct {
		r            Request
		line, legacy string
	}{
		{req("status", nil), "pmtr/2 status\n", "status\n"},
		{req("status", map[string]string{"--json": ""}, "web"), "pmtr/2 status --json -- web\n", "status --json web\n"},
		{req("stop", map[string]string{"--no-wait": ""}, "-odd", "b"), "pmtr/2 stop --no-wait -- -odd b\n", "stop --no-wait -odd b\n"},
		{req("logs", map[string]string{"-n": "5", "-f": ""}, "web"), "pmtr/2 logs -f -n 5 -- web\n", "logs -f -n 5 web\n"},
		{req("plan", map[string]string{"--against": "old.conf"}), "pmtr/2 plan\n", "plan\n"}, // --against is the client's
		{req("reload", nil), "pmtr/2 reload\n", "reload\n"},
	} {
		for version, want := range map[int]string{Version: c.line, Legacy: c.legacy} {
			line, err := c.r.Encode(version)
			if err != nil || line != want {
				t.Errorf("%+v in %d: %q, %v; want %q", c.r, version, line, err, want)
				continue
			}
			got, err := ParseRequest(line)
			sent := c.r
			sent.Version = version
			delete(sent.Flags, "--against")
			if err != nil || !reflect.DeepEqual(got, sent) {
				t.Errorf("%q decodes to %+v, %v; want %+v", line, got, err, sent)
			}
		}
	}
}

// TestRefusals: what the daemon refuses, why, and in which version it
// answers.
func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		line    string
		why     Refusal
		version int
		text    string
	}{
		{"pmtr/3 health\n", UnknownVersion, Version, `speaks control protocol 2 at most, not "pmtr/3": use the pmtr client of the daemon's version, or restart the daemon with the newer pmtr`},
		{"pmtr/x status\n", UnknownVersion, Version, `not "pmtr/x"`},
		{"pmtr/2 health\n", UnknownVerb, 2, `unknown verb "health": this pmtr knows status, stop, start, restart, reload, why, logs, metrics, plan, cat, upgrade (is the client newer than the daemon?`},
		{"health\n", UnknownVerb, Legacy, `unknown verb "health"`},
		{"pmtr/2\n", BadRequest, 2, "names no verb"},
		{"pmtr/2 status --since 5m\n", BadRequest, 2, "status: unknown flag --since (operands come after --)"},
		{"pmtr/2 status web\n", BadRequest, 2, "status: unknown flag web"},
		{"pmtr/2 why\n", BadRequest, 2, "why: name one job"},
		{"pmtr/2 why -- a b\n", BadRequest, 2, "why: name one job"},
		{"pmtr/2 stop\n", BadRequest, 2, "stop: name at least 1 job"},
		{"stop --no-wait\n", BadRequest, Legacy, "stop: name at least 1 job"},
		{"pmtr/2 reload -- x\n", BadRequest, 2, "reload: takes no operands"},
		{"pmtr/2 plan -- new.conf\n", BadRequest, 2, "plan: takes no operands"},
		{"pmtr/2 plan --against old\n", BadRequest, 2, "plan: unknown flag --against"},
		{"pmtr/2 logs -n 0 -- web\n", BadRequest, 2, `logs: -n needs a whole number of at least 1, not "0"`},
		{"pmtr/2 logs -n\n", BadRequest, 2, "logs: -n needs a value"},
		{"pmtr/2 status " + strings.Repeat("x", MaxLine) + "\n", BadRequest, 2, "longer than"},
	} {
		r, err := ParseRequest(c.line)
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Why != c.why || !strings.Contains(refused.Text, c.text) || r.Version != c.version {
			t.Errorf("%.60q: version %d, %v; want %s in %d, %q", c.line, r.Version, err, c.why, c.version, c.text)
		}
	}
}

// TestClientCheck: the client's check covers its own flags and operands.
func TestClientCheck(t *testing.T) {
	if err := req("plan", map[string]string{"--against": "old.conf"}, "new.conf").Check(); err != nil {
		t.Errorf("plan --against old.conf new.conf: %v", err)
	}
	if err := req("plan", nil, "a", "b").Check(); err == nil || !strings.Contains(err.Error(), "plan: name at most 1 newfile") {
		t.Errorf("plan a b: %v", err)
	}
	if err := req("logs", map[string]string{"-n": "x"}, "web").Check(); err == nil {
		t.Error("logs -n x: no error")
	}
	if err := req("stop", nil, "a b").Check(); err == nil {
		t.Error(`stop "a b": no error`)
	}
	if _, err := req("stop", nil, strings.Repeat("j", MaxLine)).Encode(Version); err == nil || !strings.Contains(err.Error(), "name fewer jobs at once") {
		t.Errorf("a line over MaxLine: %v", err)
	}
}

// TestValuesAndDefaults: flags read as given or by their default.
func TestValuesAndDefaults(t *testing.T) {
	r := req("logs", nil, "web")
	if r.Count("-n") != 20 || r.Follows() || r.Has("-f") {
		t.Errorf("logs web: -n %d, follows %v", r.Count("-n"), r.Follows())
	}
	r = req("logs", map[string]string{"-n": "7", "-f": ""}, "web")
	if r.Count("-n") != 7 || !r.Follows() {
		t.Errorf("logs -f -n 7 web: -n %d, follows %v", r.Count("-n"), r.Follows())
	}
}

// TestNewVerbToOlderDaemon: a verb newer than the daemon's protocol is
// not put to it, and says what is missing.
func TestNewVerbToOlderDaemon(t *testing.T) {
	saved := verbs
	defer func() { verbs = saved }()
	verbs = append(Verbs(), Verb{Name: "health", Since: 2})
	var tooNew *TooNewError
	if _, err := req("health", nil).Encode(Legacy); !errors.As(err, &tooNew) || tooNew.What != "pmtr health" || tooNew.Version != 1 {
		t.Errorf("health in version 1: %v", err)
	}
	if line, err := req("health", nil).Encode(2); err != nil || line != "pmtr/2 health\n" {
		t.Errorf("health in version 2: %q %v", line, err)
	}
	verbs[0].Flags = append(verbs[0].Flags, Flag{Name: "--since", Value: Count, Meta: "S", Since: 2})
	if _, err := req("status", map[string]string{"--since": "5"}).Encode(Legacy); !errors.As(err, &tooNew) || tooNew.What != "pmtr status --since" {
		t.Errorf("status --since in version 1: %v", err)
	}
}

// TestReplyHeaders: headers in each version, and what older clients read.
func TestReplyHeaders(t *testing.T) {
	for _, c := range []struct {
		r    Reply
		line string
	}{
		{Reply{Version: 1, Code: 0}, "pmtr/1 0 out\n"},
		{Reply{Version: 1, Code: 2, ToErr: true, Refusal: UnknownVerb}, "pmtr/1 2 err\n"}, // three words for older clients
		{Reply{Version: 2, Code: 3}, "pmtr/2 3 out\n"},
		{Reply{Version: 2, Code: 2, ToErr: true, Refusal: BadRequest}, "pmtr/2 2 err bad-request\n"},
	} {
		if h := c.r.Header(); h != c.line {
			t.Errorf("%+v: %q, want %q", c.r, h, c.line)
		}
		got, err := ParseReply(c.line)
		want := c.r
		if want.Version == Legacy {
			want.Refusal = ""
		}
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", c.line, got, err)
		}
	}
	for _, bad := range []string{"", "hello\n", "pmtr/1 x out\n", "pmtr/1 0 up\n", "pmtr/1 0 out extra\n", "pmtr/0 0 out\n"} {
		if r, err := ParseReply(bad); err == nil {
			t.Errorf("%q: %+v", bad, r)
		}
	}
	if _, err := ParseReply("pmtr/9 0 out\n"); err == nil || !strings.Contains(err.Error(), "newer than this pmtr's") {
		t.Errorf("a newer daemon's header: %v", err)
	}
}

// TestFallback: a daemon older than versions, or one that speaks an older
// version, is asked again in it; nothing else is.
func TestFallback(t *testing.T) {
	legacyDaemon := Reply{Version: 1, Code: 2, ToErr: true}
	if v, ok := Fallback(2, legacyDaemon, "unknown request \"pmtr/2\"\n"); !ok || v != 1 {
		t.Errorf("a daemon before versions: %d %v", v, ok)
	}
	if v, ok := Fallback(3, Reply{Version: 2, Code: 2, ToErr: true, Refusal: UnknownVersion}, "..."); !ok || v != 2 {
		t.Errorf("a version 2 daemon: %d %v", v, ok)
	}
	for _, c := range []struct {
		r    Reply
		text string
	}{
		{Reply{Version: 2, Code: 2, ToErr: true, Refusal: UnknownVerb}, "unknown verb"},
		{Reply{Version: 1, Code: 4, ToErr: true}, "unknown request \"pmtr/2\""},
		{Reply{Version: 1, Code: 2, ToErr: true}, "why: name one job"},
	} {
		if v, ok := Fallback(2, c.r, c.text); ok {
			t.Errorf("%+v %q: falls back to %d", c.r, c.text, v)
		}
	}
}

// TestUsage: each verb's synopsis, as pmtr -h prints it.
func TestUsage(t *testing.T) {
	var got []string
	for _, v := range Verbs() {
		got = append(got, v.Usage())
	}
	want := []string{
		"pmtr status [-c FILE] [--json] [JOB...]",
		"pmtr stop [-c FILE] [--no-wait] JOB...",
		"pmtr start [-c FILE] [--no-wait] JOB...",
		"pmtr restart [-c FILE] [--no-wait] JOB...",
		"pmtr reload [-c FILE]",
		"pmtr why [-c FILE] JOB",
		"pmtr logs [-c FILE] [-f] [-n N] [JOB]",
		"pmtr metrics [-c FILE]",
		"pmtr plan [-c FILE] [--against OLDFILE] [NEWFILE]",
		"pmtr cat [-c FILE] [JOB...]",
		"pmtr upgrade [-c FILE] [--binary PATH]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
