package textf

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type state string

// TestLikeFmt: every supported verb gives what fmt gives.
func TestLikeFmt(t *testing.T) {
	cases := []struct {
		format string
		args   []any
	}{
		{"job %s [%d] exited after %d sec: %s", []any{"web", 123, int64(3), "exit status 1"}},
		{"%q and %q", []any{"a\"b\n", "\x1b"}},
		{"%v %v %v", []any{time.Second * 90, errors.New("boom"), true}},
		{"+%d.%03ds", []any{int64(12), int64(5)}},
		{"%-24s|%8s|%12v|%7d", []any{"name", "pid", time.Minute, 42}},
		{"%s %v", []any{state("running"), []int{1, 2}}},
		{"100%% %c %t", []any{'E', false}},
		{"%q %q", []any{byte('H'), 'x'}},
		{"%d %v", []any{uint64(7), 1.5}},
	}
	for _, c := range cases {
		if got, want := Sprintf(c.format, c.args...), fmt.Sprintf(c.format, c.args...); got != want {
			t.Errorf("Sprintf(%q) = %q, want %q", c.format, got, want)
		}
	}
}
