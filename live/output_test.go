package live

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A job's output is read without a buffer while the job is quiet: a line
// written in parts across a pause is still one line, a long line is split
// at maxLine, and the copy ends when the writer closes.
func TestCopyOutputAcrossPauses(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	log, logs := newLogger(&buf, 0), newJobLogs()
	open, done := make(chan struct{}), make(chan struct{})
	close(open)
	go func() {
		copyOutput(log, logs, "talk", 42, r, false, open, nil)
		close(done)
	}()
	w.WriteString("one\ntwo")
	time.Sleep(50 * time.Millisecond) // the reader is back to waiting with no buffer
	w.WriteString(" three\n" + strings.Repeat("x", maxLine+10) + "\n")
	w.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the copy did not end when the writer closed")
	}
	log.Flush()
	var got []string
	for _, l := range logs.get("talk").lines {
		_, text, _ := strings.Cut(l, " ")
		got = append(got, text)
	}
	want := []string{"talk[42]: one", "talk[42]: two three", "talk[42]: " + strings.Repeat("x", maxLine), "talk[42]: xxxxxxxxxx"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("job log lines:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(buf.String(), "talk[42]: two three") {
		t.Fatalf("pmtr's log lacks the joined line:\n%s", buf.String())
	}
}
