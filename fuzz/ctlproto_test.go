package fuzz

import (
	"reflect"
	"testing"

	"pmtr/ctlproto"
)

// FuzzCtlRequest: any request line decodes without a panic, and one that
// decodes is written again, in its version, as a line that decodes to the
// same request; any reply header parses without a panic.
func FuzzCtlRequest(f *testing.F) {
	for _, s := range []string{"\n", "status --json web\n", "pmtr/2 logs -f -n 5 -- web\n", "logs web -n\n",
		"pmtr/2 stop --no-wait -- a b\n", "pmtr/9 x\n", "pmtr/2\n", "why \x00\n", "pmtr/1 plan\n", "pmtr/2 0 err bad-request\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ctlproto.ParseReply(line)
		r, err := ctlproto.ParseRequest(line)
		if err != nil {
			return
		}
		again, err := r.Encode(r.Version)
		if err != nil {
			t.Fatalf("%q decodes to %+v, which does not encode: %v", line, r, err)
		}
		back, err := ctlproto.ParseRequest(again)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", line, r, again, back, err)
		}
	})
}
