package ctlproto

import (
	"slices"
	"strings"
	"testing"
)

// TestVerbFirst: flags may come before the verb, as supervisorctl's do;
// a config file named like a verb is still the daemon's.
func TestVerbFirst(t *testing.T) {
	for line, want := range map[string]string{
		"status":                         "status:",
		"-c /etc/x.conf status web":      "status:-c /etc/x.conf web",
		"-c /etc/x.conf --json status":   "status:-c /etc/x.conf --json",
		"status -c /etc/x.conf":          "status:-c /etc/x.conf",
		"-n 50 logs web":                 "logs:-n 50 web",
		"-cFILE stop web":                "stop:-cFILE web",
		"-tc status":                     "",
		"-c status":                      "",
		"-c restart stop web":            "stop:-c restart web",
		"-F -c /etc/x.conf":              "",
		"-c /etc/x.conf -- status":       "",
		"nosuch status":                  "",
		"--against old.conf plan new":    "plan:--against old.conf new",
		"":                               "",
		"-v -p /run/x.pid -c f.conf why": "why:-v -p /run/x.pid -c f.conf",
	} {
		v, rest, ok := VerbFirst(strings.Fields(line))
		got := ""
		if ok {
			got = v.Name + ":" + strings.Join(rest, " ")
		}
		if got != want {
			t.Errorf("VerbFirst(%q) = %q, want %q", line, got, want)
		}
	}
	args := []string{"-c", "f", "status", "web"}
	VerbFirst(args)
	if !slices.Equal(args, []string{"-c", "f", "status", "web"}) {
		t.Errorf("VerbFirst changed its argument: %v", args)
	}
}
