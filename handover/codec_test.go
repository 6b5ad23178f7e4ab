package handover

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"pmtr/core"
)

// filler sets every exported field it reaches to a value that is not zero
// (strings with bytes that are not UTF-8), so that a round trip of the
// result covers every field of the state, those added later included.
type filler struct {
	n      int
	events []reflect.Type
}

func (f *filler) fill(v reflect.Value, depth int) {
	f.n++
	if depth > 12 {
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(f.n%100) - 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(f.n%200) + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.String:
		v.SetString("s\xff\x00\n" + strconv.Itoa(f.n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		f.fill(s.Index(0), depth+1)
		f.fill(s.Index(1), depth+1)
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			f.fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k, depth+1)
			f.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Interface:
		e := reflect.New(f.events[f.n%len(f.events)]).Elem()
		f.fill(e, depth+1)
		v.Set(e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i), depth+1)
			}
		}
	}
}

func filled(t *testing.T, v any) {
	t.Helper()
	f := &filler{}
	for _, ty := range wire.types {
		f.events = append(f.events, ty)
	}
	f.fill(reflect.ValueOf(v).Elem(), 0)
}

// Every field of a state, each set, comes back as it was, strings byte
// for byte; and the same state gives the same bytes.
func TestEveryFieldRoundTrips(t *testing.T) {
	var s State
	filled(t, &s)
	for _, ty := range wire.types { // an event of every kind
		e := reflect.New(ty).Elem()
		(&filler{events: []reflect.Type{ty}}).fill(e, 0)
		s.Pending = append(s.Pending, Pending{Event: e.Interface().(core.Event)})
	}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip\n%+v\nwant\n%+v", got, s)
	}
	if again, _ := Encode(got); !bytes.Equal(again, b) {
		t.Fatal("the same state gave other bytes")
	}
	var rings []Ring
	filled(t, &rings)
	rb, err := EncodeRings(rings)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeRings(rb); err != nil || !reflect.DeepEqual(back, rings) {
		t.Fatalf("rings: %v\n%+v\nwant\n%+v", err, back, rings)
	}
}

// Every cut of a state's bytes is refused, and none panics.
func TestTruncatedStatesRefused(t *testing.T) {
	var s State
	filled(t, &s)
	raw, err := wire.marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(raw) {
		var got State
		if err := wire.unmarshal(raw[:n], &got); err == nil {
			t.Fatalf("%d of %d bytes read without error", n, len(raw))
		}
	}
	for i := range raw { // one byte changed: an error or another state, never a panic
		bad := bytes.Clone(raw)
		bad[i] ^= 0xa5
		var got State
		wire.unmarshal(bad, &got)
	}
}

type older struct {
	Name  string
	Gone  []int
	Count int32
	Inner struct{ A, B uint }
}

type newer struct {
	Name  string
	Count int64 // another size: still an integer
	Inner struct{ B uint }
	New   bool
}

type changed struct {
	Name  string
	Count string
}

// As with gob: a field the reader lacks is skipped, a field the writer
// lacked stays zero, integers change size; a field that changed kind is
// an error that names it.
func TestFieldsAddedRemovedChanged(t *testing.T) {
	o := older{Name: "a", Gone: []int{1, 2}, Count: -3}
	o.Inner.A, o.Inner.B = 4, 5
	raw, err := wire.marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var n newer
	if err := wire.unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	if n.Name != "a" || n.Count != -3 || n.Inner.B != 5 || n.New {
		t.Fatalf("%+v", n)
	}
	var c changed
	if err := wire.unmarshal(raw, &c); err == nil || !strings.Contains(err.Error(), "changed.Count: a string here, a int in the state") {
		t.Fatalf("kind changed: %v", err)
	}
}

// An interface holding a type the state may not hold is refused when
// written, and a name the reader does not know when read.
func TestInterfaceTypes(t *testing.T) {
	type other struct{ core.Exited }
	if _, err := Encode(State{Pending: []Pending{{Event: other{}}}}); err == nil || !strings.Contains(err.Error(), "not one the state may hold") {
		t.Fatalf("encode: %v", err)
	}
	raw, err := wire.marshal(Pending{Event: core.Shutdown{Signal: 15}})
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte("Shutdown"), []byte("Shutdowm"), 1)
	var p Pending
	if err := wire.unmarshal(raw, &p); err == nil || !strings.Contains(err.Error(), `"Shutdowm", which this pmtr does not know`) {
		t.Fatalf("decode: %v", err)
	}
}
