// Package datagram is the byte format of pmtr's UDP datagrams: control
// messages ("enable a b disable c"), their optional HMAC authentication
// with replay protection, and status reports. It does no I/O (the sockets
// are the live backend's), runs no goroutine, and never blocks.
package datagram

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxDatagram is how much of a control datagram is looked at, as in C pmtr.
const MaxDatagram = 2000

// Command is one verb applied to some job names.
type Command struct {
	Verb  string // enable, disable or restart
	Names []string
}

// ErrNoVerb: a job name came before any enable/disable word.
var ErrNoVerb = errors.New("invalid control msg")

// ParseControl splits a control message into commands. Words are separated
// by any white space; the words enable, disable and restart switch the mode
// for the names that follow. A name before any mode word is an error, and
// the commands before it still count (as in C pmtr).
func ParseControl(msg string) ([]Command, error) {
	var out []Command
	for _, w := range strings.Fields(msg) {
		switch w {
		case "enable", "disable", "restart":
			out = append(out, Command{Verb: w})
			continue
		}
		if len(out) == 0 {
			return nil, ErrNoVerb
		}
		out[len(out)-1].Names = append(out[len(out)-1].Names, w)
	}
	return out, nil
}

// Authenticated datagrams carry a first line
//
//	pmtr-auth1 UNIXSECONDS NONCE HMAC
//
// and the control message after it. HMAC is hex HMAC-SHA256 with the shared
// key over "pmtr-auth1 UNIXSECONDS NONCE\n" + message.
const authTag = "pmtr-auth1"

// Skew is how far a signed datagram's time may be from the receiver's.
const Skew = 30 * time.Second

// Sign returns the authenticated datagram for msg.
func Sign(key []byte, msg string, now time.Time, nonce string) []byte {
	head := fmt.Sprintf("%s %d %s", authTag, now.Unix(), nonce)
	return []byte(head + " " + mac(key, head, msg) + "\n" + msg)
}

func mac(key []byte, head, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(head + "\n" + msg))
	return hex.EncodeToString(h.Sum(nil))
}

// Verifier checks authenticated datagrams for one key and remembers what
// it accepted, so that no datagram is accepted twice: one Verifier serves
// every listener with that key. Floor carries over what an earlier run
// accepted: datagrams signed at or before that second are refused. It is
// safe for concurrent use.
type Verifier struct {
	Key   []byte
	Floor int64 // unix seconds; set before first use

	mu   sync.Mutex
	high int64                // the latest timestamp accepted
	seen map[string]time.Time // nonce -> when it may be forgotten
}

// NewVerifier returns a verifier for key that refuses anything signed at or
// before floor.
func NewVerifier(key []byte, floor int64) *Verifier {
	return &Verifier{Key: key, Floor: floor, high: floor, seen: map[string]time.Time{}}
}

// High is the latest timestamp accepted so far (or the floor), for the
// caller to keep across restarts.
func (v *Verifier) High() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.high
}

// Verify returns the control message of a valid datagram received at now,
// or why it is refused.
func (v *Verifier) Verify(dgram []byte, now time.Time) (string, error) {
	head, msg, ok := strings.Cut(string(dgram), "\n")
	f := strings.Fields(head)
	if !ok || len(f) != 4 || f[0] != authTag {
		return "", errors.New("not signed")
	}
	ts, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return "", errors.New("bad timestamp")
	}
	want := mac(v.Key, strings.Join(f[:3], " "), msg)
	if !hmac.Equal([]byte(want), []byte(f[3])) {
		return "", errors.New("bad signature")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Skew || d < -Skew {
		return "", fmt.Errorf("stale: sent %v from now", -d.Round(time.Second))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if ts <= v.Floor {
		return "", errors.New("replayed (signed before pmtr last started or rotated its records)")
	}
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	v.forget(now)
	if _, dup := v.seen[f[2]]; dup {
		return "", errors.New("replayed")
	}
	v.seen[f[2]] = now.Add(2 * Skew)
	v.high = max(v.high, ts)
	return msg, nil
}

// forget drops nonces old enough that their datagrams are stale anyway.
func (v *Verifier) forget(now time.Time) {
	if len(v.seen) < 1024 {
		return
	}
	for n, until := range v.seen {
		if now.After(until) {
			delete(v.seen, n)
		}
	}
}
