package main

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"pmtr/datagram"
)

// ctlCommand implements pmtr ctl: send one control datagram, like pmtr-ctl.
func ctlCommand(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("s", "127.0.0.1", "pmtr's `HOST`")
	port := fs.Int("p", 10000, "pmtr's control `PORT`")
	keyFile := fs.String("k", "", "sign with the shared key in `KEYFILE` (listen on ... key FILE)")
	to := fs.String("to", "", "sign for the receiving machine's `NAME` or address (default: the -s HOST); needed when -s is an address the receiver does not have (NAT)")
	verbose := fs.Bool("v", false, "print what is sent")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pmtr ctl [-s HOST] [-p PORT] [-k KEYFILE [-to NAME]] [-v] enable|disable|restart NAME... [enable|disable|restart NAME...]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "UDP gets no answer: exit 0 means the datagram was sent, not that pmtr acted on it.\nOn pmtr's own host, pmtr stop|start|restart JOB... waits for the change and tells.")
	}
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	msg := strings.Join(fs.Args(), " ")
	if _, err := datagram.ParseControl(msg); err != nil || fs.NArg() < 2 {
		fs.Usage()
		return 2
	}
	dgram := []byte(msg)
	if *keyFile != "" {
		key, err := os.ReadFile(*keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "pmtr ctl: %v\n", err)
			return 1
		}
		nonce := make([]byte, 12)
		rand.Read(nonce)
		dest := cmp.Or(*to, *host)
		dgram = datagram.Sign([]byte(strings.TrimSpace(string(key))), msg, time.Now(), hex.EncodeToString(nonce),
			net.JoinHostPort(dest, strconv.Itoa(*port)))
	}
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	conn, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr ctl: %v\n", err)
		return 1
	}
	defer conn.Close()
	if *verbose {
		fmt.Fprintf(stderr, "[%s] < %s\n", addr, msg)
	}
	if _, err := conn.Write(dgram); err != nil {
		fmt.Fprintf(stderr, "pmtr ctl: %v\n", err)
		return 1
	}
	return 0
}
