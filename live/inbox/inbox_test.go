package inbox

import (
	"testing"
	"time"

	"pmtr/driver"
)

// A query is answered through its reply; a full queue makes Ask give up
// in time, and a closed inbox makes everyone give up at once.
func TestAskAndClose(t *testing.T) {
	q := New(1)
	go func() {
		in := <-q.C()
		in.(driver.StatusQuery).Reply <- driver.Snapshot{Now: 7}
	}()
	snap, ok := Ask(q, 5*time.Second, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} })
	if !ok || snap.Now != 7 {
		t.Fatalf("answer %v, %v", snap, ok)
	}
	if !q.Send(driver.Tick{}) { // the queue is full now
		t.Fatal("a send to an empty inbox failed")
	}
	if _, ok := Ask(q, 10*time.Millisecond, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} }); ok {
		t.Fatal("a query was answered while nobody read the inbox")
	}
	q.Close()
	if q.Send(driver.Tick{}) {
		t.Fatal("a send to a full, closed inbox went through")
	}
}
