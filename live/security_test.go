package live

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pmtr/datagram"
)

func keyedConf(t *testing.T, key string, ports ...int) (conf, keyFile string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "pmtr.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		conf += fmt.Sprintf("listen on udp://127.0.0.1:%d key %s\n", p, keyFile)
	}
	return conf + "job {\nname a\ncmd /bin/sleep 93\n}\njob {\nname b\ncmd /bin/sleep 92\n}\n", keyFile
}

var nonce int

// testKeys makes each test's keys its own: a verifier's record of what it
// accepted is kept in the runtime directory by key, and another run of the
// test (go test -count, or another copy of the suite at the same time) must
// not find this one's there and take its datagrams for replays.
var testKeys sync.Map // *testing.T -> its mark

// testKey is the key named name, for this test.
func testKey(t *testing.T, name string) string {
	mark, _ := testKeys.LoadOrStore(t, fmt.Sprint(time.Now().UnixNano()))
	return name + " " + mark.(string)
}

// signed signs msg for the listener on 127.0.0.1:port.
func signed(key, msg string, port int) []byte {
	return signedTo(key, msg, fmt.Sprintf("127.0.0.1:%d", port))
}

func signedTo(key, msg, to string) []byte {
	nonce++
	return datagram.Sign([]byte(key), msg, time.Now(), fmt.Sprintf("t%d-%d", time.Now().UnixNano(), nonce), to)
}

// TestKeyRotation: a new key written to the key file is used at once and
// the old one refused; a key file readable by others is refused at reload,
// with its position, and the listener keeps the key it had.
func TestKeyRotation(t *testing.T) {
	port := freeUDPPort(t)
	conf, keyFile := keyedConf(t, testKey(t, "old secret"), port)
	r := startDaemon(t, conf)
	r.waitLog(`started job b `, eventWait)
	sendUDP(t, port, signed(testKey(t, "old secret"), "disable a", port))
	r.waitLog(`disabling a\n`, eventWait)
	os.WriteFile(keyFile, []byte(testKey(t, "new secret")+"\n"), 0o600) // a plain save
	r.waitLog(`key file .*pmtr.key changed; control datagrams need the new key`, eventWait)
	sendUDP(t, port, signed(testKey(t, "old secret"), "enable a", port))
	r.waitLog(`refused control datagram from 127\.0\.0\.1:\d+: bad signature`, eventWait)
	sendUDP(t, port, signed(testKey(t, "new secret"), "enable a", port))
	r.waitLog(`enabling a\n`, eventWait)
	// Mode first, then the save: whichever pmtr reads, it finds the mode.
	// (The other way round, a read between the save and the chmod took the
	// new key, on a busy machine.)
	os.Chmod(keyFile, 0o644)
	os.WriteFile(keyFile, []byte(testKey(t, "leaked")+"\n"), 0o600)
	r.waitLog(`ERROR: .*pmtr.conf:1:\d+: key file .*pmtr.key: is readable by others \(mode 0644\); chmod 600`, eventWait)
	sendUDP(t, port, signed(testKey(t, "new secret"), "disable b", port))
	r.waitLog(`disabling b\n`, eventWait)
}

// TestKeyRotationBySIGHUP: a key file that is a symlink into a directory
// pmtr does not watch is read again at SIGHUP.
func TestKeyRotationBySIGHUP(t *testing.T) {
	port := freeUDPPort(t)
	secrets := t.TempDir()
	target := filepath.Join(secrets, "key")
	os.WriteFile(target, []byte(testKey(t, "first")+"\n"), 0o600)
	link := filepath.Join(t.TempDir(), "pmtr.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r := startDaemon(t, fmt.Sprintf("listen on udp://127.0.0.1:%d key %s\njob {\nname a\ncmd /bin/sleep 87\n}\njob {\nname b\ncmd /bin/sleep 86\n}\n", port, link))
	r.waitLog(`started job a `, eventWait)
	os.WriteFile(target, []byte(testKey(t, "second")+"\n"), 0o600)
	// Without SIGHUP the old key is still the one: a datagram signed with
	// it is taken (and tells that the daemon has been busy since the write).
	sendUDP(t, port, signed(testKey(t, "first"), "disable b", port))
	r.waitLog(`disabling b\n`, eventWait)
	if r.count(`key file .* changed`) != 0 {
		t.Fatalf("the test's key change was seen without SIGHUP\n%s", r.out)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	r.waitLog(`key file .*pmtr.key changed; control datagrams need the new key`, eventWait)
	sendUDP(t, port, signed(testKey(t, "first"), "disable a", port))
	r.waitLog(`refused control datagram from .*: bad signature`, eventWait)
	sendUDP(t, port, signed(testKey(t, "second"), "disable a", port))
	r.waitLog(`disabling a\n`, eventWait)
}

// TestReplayToASecondListenerIsRefused: listeners with one key share what
// they accepted (two addresses of this machine, one port: a datagram
// signed for the machine's name is addressed to both).
func TestReplayToASecondListenerIsRefused(t *testing.T) {
	port := freeUDPPort(t)
	keyFile := filepath.Join(t.TempDir(), "pmtr.key")
	os.WriteFile(keyFile, []byte(testKey(t, "shared")+"\n"), 0o600)
	r := startDaemon(t, fmt.Sprintf("listen on udp://127.0.0.1:%d key %s\nlisten on udp://127.0.0.2:%d key %s\n"+
		"job {\nname a\ncmd /bin/sleep 93\n}\njob {\nname b\ncmd /bin/sleep 92\n}\n", port, keyFile, port, keyFile))
	r.waitLog(`started job b `, eventWait)
	host, _ := os.Hostname()
	d := signedTo(testKey(t, "shared"), "disable a", fmt.Sprintf("%s:%d", host, port))
	sendUDP(t, port, d)
	r.waitLog(`disabling a\n`, eventWait)
	sendUDPTo(t, "127.0.0.2", port, d)
	r.waitLog(`refused control datagram from .*: replayed`, eventWait)
}

// TestDatagramForAnotherListenerIsRefused: a signed datagram is addressed
// to one listener (HOST:PORT); captured and sent to another pmtr with the
// same key (here: another port, another host name), it is refused, as is
// the old format that named no destination.
func TestDatagramForAnotherListenerIsRefused(t *testing.T) {
	p1, p2 := freeUDPPort(t), freeUDPPort(t)
	conf, _ := keyedConf(t, testKey(t, "shared"), p1, p2)
	r := startDaemon(t, conf)
	r.waitLog(`started job b `, eventWait)
	sendUDP(t, p2, signed(testKey(t, "shared"), "disable a", p1))
	r.waitLog(fmt.Sprintf(`refused control datagram from .*: addressed to 127\.0\.0\.1:%d, not to this listener`, p1), eventWait)
	r.sendUntilLogged(p1, func() []byte {
		return signedTo(testKey(t, "shared"), "disable a", fmt.Sprintf("pmtr-elsewhere.invalid:%d", p1))
	},
		`addressed to pmtr-elsewhere\.invalid:\d+, not to this listener`)
	r.sendUntilLogged(p2, again([]byte("pmtr-auth1 1800000000 n1 5d5b8dd1986a1fdf04711a26bcd3b86313902c809c28213c86e23e44fde8bbf2\ndisable a")),
		`refused control datagram from .*: signed in the old format \(pmtr-auth1`)
	// The key's floor (the latest second accepted) is kept in the runtime
	// directory across runs: an earlier test's daemon with this key may
	// have taken one in this second. A fresh one in a new second is taken.
	r.sendUntilLogged(p1, func() []byte { return signedTo(testKey(t, "shared"), "disable a", fmt.Sprintf("localhost:%d", p1)) }, `disabling a\n`)
}

// TestReplayAfterRestartIsRefused: what a run accepted is refused by the
// next run on the same key.
func TestReplayAfterRestartIsRefused(t *testing.T) {
	port := freeUDPPort(t)
	conf, _ := keyedConf(t, testKey(t, "kept"), port)
	r := startDaemon(t, conf)
	r.waitLog(`started job b `, eventWait)
	d := signed(testKey(t, "kept"), "disable a", port)
	sendUDP(t, port, d)
	r.waitLog(`disabling a\n`, eventWait)
	r.stop()
	r2 := startDaemon(t, conf)
	r2.waitLog(`started job b `, eventWait)
	sendUDP(t, port, d)
	r2.waitLog(`refused control datagram from .*: replayed`, eventWait)
	// Within the second of the last accepted one (the floor) it is
	// refused; in a new second it is taken.
	r2.sendUntilLogged(port, func() []byte { return signed(testKey(t, "kept"), "disable b", port) }, `disabling b\n`)
}

// TestHostileDatagramsMakeFewEscapedLines: control bytes are escaped, and
// a flood of garbage gives a few lines and a count, not a line each.
func TestHostileDatagramsMakeFewEscapedLines(t *testing.T) {
	port := freeUDPPort(t)
	r := startDaemon(t, fmt.Sprintf("listen on udp://127.0.0.1:%d\njob {\nname a\ncmd /bin/sleep 91\n}\n", port))
	r.waitLog(`started job a `, eventWait)
	sendUDP(t, port, []byte("disable \x1b[2J\x07evil\rFAKE: started job x"))
	r.waitLog(`control msg for unknown job \\e\[2J\\x07evil\n`, eventWait)
	if strings.ContainsAny(r.out.String(), "\x1b\x07\r") {
		t.Fatalf("a control byte reached the log:\n%q", r.out.String())
	}
	for i := range 10000 {
		sendUDP(t, port, []byte(fmt.Sprintf("garbage %d", i)))
	}
	// One socket reads in order: once a good message sent last is acted
	// on, the garbage before it has been read (or dropped by the kernel,
	// as the good one may be: it is sent again until acted on).
	r.sendUntilLogged(port, again([]byte("disable a")), `disabling a\n`)
	if n := r.count(`invalid control msg|unknown job`); n > 6 {
		t.Fatalf("10 000 garbage datagrams made %d log lines", n)
	}
	r.waitLog(`\.\.\. \d+ more log lines about control messages on udp://127\.0\.0\.1:\d+ left out in the last 10s`, 10*time.Second+eventWait)
}

// TestFlappingDependencyRestartsAtMostOnceIn10s: a dependency rewritten 100
// times in 5 s restarts its job once at once and once 10 s later.
func TestFlappingDependencyRestartsAtMostOnceIn10s(t *testing.T) {
	r := startDaemon(t, "job {\nname d\ncmd /bin/sleep 89\ndir {{dir}}\ndepends {\ndep.txt\n}\n}\n")
	dep := filepath.Join(r.dir, "dep.txt")
	os.WriteFile(dep, []byte("0"), 0o644)
	r.waitLog(`started job d \[`, eventWait)
	start := time.Now()
	for i := 1; i <= 100; i++ {
		os.WriteFile(dep, []byte(fmt.Sprint(i)), 0o644)
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.count(`started job d `); n > 2 {
		t.Fatalf("%d starts in %v of rewrites, want at most 2\n%s", n, time.Since(start), r.out)
	}
	r.waitLog(`(?s)job d: restarting for the dependency changes of the last 10s.*started job d \[`, 10*time.Second+eventWait)
	if n := r.count(`started job d `); n != 3 {
		t.Fatalf("%d starts, want 3\n%s", n, r.out)
	}
}

// TestStoppedJobStopsAtOnce: a job that stopped itself (SIGSTOP) gets
// SIGCONT with its SIGTERM, so it ends at once, not after the SIGKILL.
func TestStoppedJobStopsAtOnce(t *testing.T) {
	r := startDaemon(t, "job {\nname s\ncmd /bin/sh -c \"kill -STOP $$; exec /bin/sleep 88\"\n}\n")
	pid := pidOf(t, r.waitLog(`started job s \[(\d+)\]`, eventWait)[1])
	deadline := time.Now().Add(eventWait)
	for !stopped(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !stopped(pid) {
		t.Fatal("the job did not stop itself")
	}
	r.reload("")
	termed := time.Now()
	r.waitLog(`job s\(deleted\) \[\d+\] exited after \d+ sec: signal 15`, eventWait)
	// A few ms on a quiet machine; without SIGCONT it would take the 10 s
	// until SIGKILL.
	if d := time.Since(termed); d > 5*time.Second {
		t.Fatalf("a stopped job took %v to end after SIGTERM", d)
	}
}

func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "T"
}
