package probe

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// quiet is far beyond what any result here takes on an idle machine (well
// under 100 ms): waits give up only after it.
const quiet = 30 * time.Second

// collector gathers delivered results.
type collector struct{ ch chan Result }

func newCollector() *collector { return &collector{ch: make(chan Result, 1024)} }

func (c *collector) deliver(res Result) { c.ch <- res }

func (c *collector) next(t *testing.T) Result {
	t.Helper()
	select {
	case res := <-c.ch:
		return res
	case <-time.After(quiet):
		t.Fatal("no result")
	}
	return Result{}
}

func newRunner(t *testing.T, cfg Config) (*Runner, *collector) {
	c := newCollector()
	cfg.Deliver = c.deliver
	r := New(cfg)
	t.Cleanup(r.Close)
	return r, c
}

// run starts one attempt and waits for its result.
func run(t *testing.T, r *Runner, c *collector, req Request) Result {
	t.Helper()
	if !r.Start(req) {
		t.Fatalf("Start(%v) refused", req.ID)
	}
	res := c.next(t)
	if res.ID != req.ID || res.Kind != req.Kind {
		t.Fatalf("result for %v %v, want %v %v", res.ID, res.Kind, req.ID, req.Kind)
	}
	if res.Ended.Before(res.Started) || res.Started.IsZero() {
		t.Fatalf("started %v, ended %v", res.Started, res.Ended)
	}
	return res
}

func TestTCPOpenThenClosedPort(t *testing.T) {
	r, c := newRunner(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	res := run(t, r, c, Request{ID: ID{"db", 1}, Kind: TCP, Target: addr, Timeout: time.Minute})
	if !res.OK || res.Outcome != addr+" accepted a connection" {
		t.Fatalf("open port: %+v", res)
	}
	ln.Close()
	// A closed port on loopback is refused at once: the attempt ends long
	// before its timeout.
	res = run(t, r, c, Request{ID: ID{"db", 2}, Kind: TCP, Target: addr, Timeout: time.Minute})
	if res.OK || res.Outcome != addr+": connection refused" {
		t.Fatalf("closed port: %+v", res)
	}
	if d := res.Ended.Sub(res.Started); d > quiet {
		t.Fatalf("a refused connect took %v", d)
	}
}

func TestTCPBadTarget(t *testing.T) {
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"db", 1}, Kind: TCP, Target: "127.0.0.1", Timeout: quiet})
	if res.OK || !strings.Contains(res.Outcome, "missing port") {
		t.Fatalf("%+v", res)
	}
}

// An answer is ok for 2xx and 3xx only; the outcome names the URL and the
// code, the body's start is kept escaped, redirects are not followed and
// proxy variables are ignored.
func TestHTTPAnswers(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	var code atomic.Int32
	code.Store(503)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
		fmt.Fprint(w, "db\tdown\n")
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/broken", http.StatusFound)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(strings.Repeat("x", 1<<20))) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r, c := newRunner(t, Config{})
	url := srv.URL + "/healthz"
	res := run(t, r, c, Request{ID: ID{"web", 1}, Kind: HTTP, Target: url, Timeout: quiet})
	if res.OK || res.Outcome != url+" answered 503" || res.Output != `db\tdown` {
		t.Fatalf("503: %+v", res)
	}
	code.Store(200)
	res = run(t, r, c, Request{ID: ID{"web", 2}, Kind: HTTP, Target: url, Timeout: quiet})
	if !res.OK || res.Outcome != url+" answered 200" {
		t.Fatalf("200: %+v", res)
	}
	res = run(t, r, c, Request{ID: ID{"web", 3}, Kind: HTTP, Target: srv.URL + "/moved", Timeout: quiet})
	if !res.OK || res.Outcome != srv.URL+"/moved answered 302" {
		t.Fatalf("redirect: %+v", res)
	}
	res = run(t, r, c, Request{ID: ID{"web", 4}, Kind: HTTP, Target: srv.URL + "/big", Timeout: quiet})
	if !res.OK || res.Output != strings.Repeat("x", outputMax)+"..." {
		t.Fatalf("big body: ok %v, output %q", res.OK, res.Output)
	}
}

// An http probe gives up at its timeout, saying so.
func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"web", 1}, Kind: HTTP, Target: srv.URL, Timeout: 100 * time.Millisecond})
	if res.OK || res.Outcome != srv.URL+": no answer within 100ms" {
		t.Fatalf("%+v", res)
	}
}

func TestHTTPRefusesOtherSchemes(t *testing.T) {
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"web", 1}, Kind: HTTP, Target: "ftp://127.0.0.1/x", Timeout: quiet})
	if res.OK || !strings.Contains(res.Outcome, "not an http or https URL") {
		t.Fatalf("%+v", res)
	}
}

func TestFileProbe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.sock")
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"app", 1}, Kind: File, Target: path})
	if res.OK || res.Outcome != path+" does not exist" {
		t.Fatalf("missing: %+v", res)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res = run(t, r, c, Request{ID: ID{"app", 2}, Kind: File, Target: path})
	if !res.OK || res.Outcome != path+" exists" {
		t.Fatalf("present: %+v", res)
	}
}

// An exec probe runs with the env and dir it is given; its exit code
// decides, its output is kept escaped and capped.
func TestExecExitAndOutput(t *testing.T) {
	dir := t.TempDir()
	r, c := newRunner(t, Config{})
	sh := func(seq uint64, script string) Result {
		return run(t, r, c, Request{ID: ID{"job", seq}, Kind: Exec, Timeout: quiet,
			Exec: ExecSpec{Argv: []string{"/bin/sh", "-c", script}, Env: []string{"WHO=probe", "PATH=/usr/bin:/bin"}, Dir: dir}})
	}
	if res := sh(1, `echo "$WHO in $(pwd)"`); !res.OK || res.Outcome != "/bin/sh exited 0" || res.Output != "probe in "+dir {
		t.Fatalf("exit 0: %+v", res)
	}
	if res := sh(2, `printf 'bad\033[31m\n' >&2; exit 3`); res.OK || res.Outcome != "/bin/sh exited 3" || res.Output != `bad\e[31m` {
		t.Fatalf("exit 3: %+v", res)
	}
	if res := sh(3, `head -c 100000 /dev/zero | tr '\0' a`); !res.OK || res.Output != strings.Repeat("a", outputMax)+"..." {
		t.Fatalf("long output: %+v", res)
	}
	if res := sh(4, `kill -SEGV $$`); res.OK || res.Outcome != "/bin/sh was killed by SIGSEGV" {
		t.Fatalf("signal: %+v", res)
	}
	res := run(t, r, c, Request{ID: ID{"job", 5}, Kind: Exec, Timeout: quiet, Exec: ExecSpec{Argv: []string{filepath.Join(dir, "none")}}})
	if want := "can't exec " + filepath.Join(dir, "none") + ": no such file or directory"; res.OK || res.Outcome != want {
		t.Fatalf("missing program: %+v", res)
	}
	res = run(t, r, c, Request{ID: ID{"job", 6}, Kind: Exec, Timeout: quiet, Exec: ExecSpec{Argv: []string{"/bin/true"}, Dir: filepath.Join(dir, "none")}})
	if res.OK || !strings.HasPrefix(res.Outcome, "can't chdir ") {
		t.Fatalf("missing dir: %+v", res)
	}
}

// An exec probe runs as the job's user and group.
func TestExecAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a probe as another user")
	}
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"job", 1}, Kind: Exec, Timeout: quiet, Exec: ExecSpec{
		Argv: []string{"/bin/sh", "-c", "id -u; id -g"}, Cred: &syscall.Credential{Uid: 65534, Gid: 65533}}})
	if !res.OK || res.Output != `65534\n65533` {
		t.Fatalf("%+v", res)
	}
}

// At its timeout an exec probe's whole process group is killed: the shell
// and the sleep it left in the background.
func TestExecKilledAtTimeout(t *testing.T) {
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"job", 1}, Kind: Exec, Timeout: 200 * time.Millisecond,
		Exec: ExecSpec{Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $$; sleep 60"}}})
	if res.OK || res.Outcome != "/bin/sh timed out after 200ms: its process group was killed" {
		t.Fatalf("%+v", res)
	}
	if d := res.Ended.Sub(res.Started); d < 200*time.Millisecond || d > quiet {
		t.Fatalf("took %v", d)
	}
	pgid, err := strconv.Atoi(res.Output)
	if err != nil {
		t.Fatalf("output %q: %v", res.Output, err)
	}
	waitGroupGone(t, pgid)
}

// A probe that exits leaves nothing behind either.
func TestExecLeavesNothing(t *testing.T) {
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"job", 1}, Kind: Exec, Timeout: quiet,
		Exec: ExecSpec{Argv: []string{"/bin/sh", "-c", "sleep 60 >/dev/null & echo $$"}}})
	if !res.OK {
		t.Fatalf("%+v", res)
	}
	pgid, err := strconv.Atoi(res.Output)
	if err != nil {
		t.Fatalf("output %q: %v", res.Output, err)
	}
	waitGroupGone(t, pgid)
}

// waitGroupGone waits until no live process (zombies aside: killed
// orphans wait there for init) is in process group pgid.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(quiet)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has %v", pgid, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func groupMembers(pgid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestExecInCgroup(t *testing.T) {
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		t.Skip("no cgroup v2 at /sys/fs/cgroup: can't place a probe in a cgroup here")
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil || !strings.HasPrefix(string(own), "0::") {
		t.Skip("not in a cgroup v2 hierarchy")
	}
	dir := filepath.Join(root, strings.TrimSpace(strings.TrimPrefix(string(own), "0::")), "probe-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("can't make a cgroup here: %v", err)
	}
	defer os.Remove(dir)
	r, c := newRunner(t, Config{})
	res := run(t, r, c, Request{ID: ID{"job", 1}, Kind: Exec, Timeout: quiet,
		Exec: ExecSpec{Argv: []string{"/bin/cat", "/proc/self/cgroup"}, Cgroup: dir}})
	if !res.OK || !strings.HasSuffix(res.Output, "/probe-test-"+strconv.Itoa(os.Getpid())) {
		t.Fatalf("%+v", res)
	}
}

// blocking is an http server whose answers wait until released, and which
// counts the requests it holds.
type blocking struct {
	srv     *httptest.Server
	release chan struct{}
	arrived chan struct{}
	mu      sync.Mutex
	held    int
	most    int
}

func newBlocking(t *testing.T) *blocking {
	b := &blocking{release: make(chan struct{}), arrived: make(chan struct{}, 100)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b.mu.Lock()
		b.held++
		b.most = max(b.most, b.held)
		b.mu.Unlock()
		b.arrived <- struct{}{}
		select {
		case <-b.release:
		case <-req.Context().Done():
		}
		b.mu.Lock()
		b.held--
		b.mu.Unlock()
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *blocking) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-b.arrived:
	case <-time.After(quiet):
		t.Fatal("no request arrived")
	}
}

// A job's attempt is refused while its previous one has not reported;
// another job's is not.
func TestNoOverlap(t *testing.T) {
	b := newBlocking(t)
	r, c := newRunner(t, Config{})
	req := Request{ID: ID{"web", 1}, Kind: HTTP, Target: b.srv.URL, Timeout: quiet}
	if !r.Start(req) {
		t.Fatal("first attempt refused")
	}
	b.waitArrival(t)
	if r.Start(Request{ID: ID{"web", 2}, Kind: TCP, Target: b.srv.Listener.Addr().String()}) {
		t.Fatal("a second attempt of the same job was accepted")
	}
	if !r.Busy("web") {
		t.Fatal("web is not busy")
	}
	b.release <- struct{}{}
	if res := c.next(t); res.ID != req.ID || !res.OK {
		t.Fatalf("%+v", res)
	}
	if res := run(t, r, c, Request{ID: ID{"web", 3}, Kind: TCP, Target: b.srv.Listener.Addr().String(), Timeout: quiet}); !res.OK {
		t.Fatalf("next attempt: %+v", res)
	}
}

// No more attempts run at once than the limit; the others wait their turn
// and all report.
func TestConcurrencyBound(t *testing.T) {
	b := newBlocking(t)
	r, c := newRunner(t, Config{Net: 2})
	for i := range 5 {
		if !r.Start(Request{ID: ID{"job" + strconv.Itoa(i), 1}, Kind: HTTP, Target: b.srv.URL, Timeout: quiet}) {
			t.Fatalf("job%d refused", i)
		}
	}
	b.waitArrival(t)
	b.waitArrival(t) // two held: the limit
	seen := map[string]bool{}
	for i := range 5 {
		b.release <- struct{}{}
		if i < 3 {
			b.waitArrival(t) // the next in line takes the freed turn
		}
		res := c.next(t)
		if !res.OK || seen[res.ID.Job] {
			t.Fatalf("%+v (seen %v)", res, seen)
		}
		seen[res.ID.Job] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.most != 2 {
		t.Fatalf("%d requests held at once, want 2", b.most)
	}
}

// Close cancels what runs and returns; nothing is started after it.
func TestCloseCancels(t *testing.T) {
	b := newBlocking(t)
	c := newCollector()
	r := New(Config{Deliver: c.deliver})
	if !r.Start(Request{ID: ID{"web", 1}, Kind: HTTP, Target: b.srv.URL, Timeout: time.Hour}) {
		t.Fatal("refused")
	}
	b.waitArrival(t)
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(quiet):
		t.Fatal("Close did not return")
	}
	if r.Start(Request{ID: ID{"db", 1}, Kind: File, Target: "/"}) {
		t.Fatal("Start after Close accepted")
	}
	select {
	case res := <-c.ch:
		t.Fatalf("delivered after Close: %+v", res)
	default:
	}
}

// A cgroup that cannot be used fails the attempt, saying why; the probe
// does not run outside it.
func TestExecBadCgroup(t *testing.T) {
	dir := t.TempDir()
	r, c := newRunner(t, Config{})
	for i, cg := range []string{filepath.Join(dir, "none"), dir} {
		res := run(t, r, c, Request{ID: ID{"job", uint64(i)}, Kind: Exec, Timeout: quiet,
			Exec: ExecSpec{Argv: []string{"/bin/true"}, Cgroup: cg}})
		if res.OK || !strings.HasPrefix(res.Outcome, "can't exec /bin/true in cgroup "+cg+": ") {
			t.Fatalf("%s: %+v", cg, res)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); !os.IsNotExist(err) {
		t.Fatalf("cgroup.procs made in a plain directory: %v", err)
	}
}

// Attempts are stamped with the runner's clock.
func TestStampsFromClock(t *testing.T) {
	clk := clock.NewMock()
	clk.Set(time.Date(2026, 1, 2, 10, 5, 3, 0, time.UTC))
	r, c := newRunner(t, Config{Clock: clk})
	res := run(t, r, c, Request{ID: ID{"app", 1}, Kind: File, Target: "/"})
	if !res.Started.Equal(clk.Now()) || !res.Ended.Equal(clk.Now()) || !res.OK {
		t.Fatalf("%+v", res)
	}
}
