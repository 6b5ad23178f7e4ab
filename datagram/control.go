// Package datagram is the byte format of pmtr's UDP datagrams: control
// messages ("enable a b disable c"), their optional HMAC authentication
// with replay protection, and status reports. It does no I/O (the sockets
// are live/udpnet's), runs no goroutine, and never blocks.
package datagram

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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
//	pmtr-auth2 UNIXSECONDS NONCE TO HMAC
//
// and the control message after it. TO names the listener the sender
// addresses, HOST:PORT (a host name or address of the receiving machine),
// so that a datagram captured on its way to one pmtr is refused by every
// other pmtr that shares the key. HMAC is hex HMAC-SHA256 with the shared
// key over the datagram's exact bytes without " HMAC": the first line up
// to TO, the newline and the message. Fields are separated by one space
// each; anything else is refused.
const (
	authTag    = "pmtr-auth2"
	oldAuthTag = "pmtr-auth1" // before the destination was signed: refused
)

// Skew is how far a signed datagram's time may be from the receiver's.
const Skew = 30 * time.Second

// Sign returns the authenticated datagram for msg, addressed to the
// listener to (HOST:PORT).
func Sign(key []byte, msg string, now time.Time, nonce, to string) []byte {
	head := fmt.Sprintf("%s %d %s %s", authTag, now.Unix(), nonce, to)
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

// signed is a datagram's parts, as received.
type signed struct {
	ts        int64
	nonce, to string
	head, sum string // the first line without " HMAC", and HMAC
	msg       string
}

// split takes a datagram apart, refusing any other layout than Sign's.
func split(dgram []byte) (signed, error) {
	head, msg, ok := strings.Cut(string(dgram), "\n")
	f := strings.Split(head, " ")
	if ok && len(f) == 4 && f[0] == oldAuthTag {
		return signed{}, errors.New("signed in the old format (pmtr-auth1, no destination): send it with a pmtr ctl of this version")
	}
	if !ok || len(f) != 5 || f[0] != authTag || slices.Contains(f, "") {
		return signed{}, errors.New("not signed")
	}
	ts, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != f[1] {
		return signed{}, errors.New("bad timestamp")
	}
	return signed{ts: ts, nonce: f[2], to: f[3], head: strings.Join(f[:4], " "), sum: f[4], msg: msg}, nil
}

// Verify returns the control message of a valid datagram received at now,
// or why it is refused. here tells whether the datagram's TO names this
// listener; it is asked only once the signature holds.
func (v *Verifier) Verify(dgram []byte, now time.Time, here func(to string) bool) (string, error) {
	d, err := split(dgram)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(mac(v.Key, d.head, d.msg)), []byte(d.sum)) {
		return "", errors.New("bad signature")
	}
	if !here(d.to) {
		return "", fmt.Errorf("addressed to %s, not to this listener (replayed from another host?)", d.to)
	}
	if delta := now.Sub(time.Unix(d.ts, 0)); delta > Skew || delta < -Skew {
		return "", fmt.Errorf("stale: sent %v from now", -delta.Round(time.Second))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.ts <= v.Floor {
		return "", errors.New("replayed (signed before pmtr last started or rotated its records)")
	}
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	v.forget(now)
	if _, dup := v.seen[d.nonce]; dup {
		return "", errors.New("replayed")
	}
	v.seen[d.nonce] = now.Add(2 * Skew)
	v.high = max(v.high, d.ts)
	return d.msg, nil
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
