package handover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// The state's encoding since format 3, in place of encoding/gob (which
// made about 300 kB of pmtr's binary, all of whose pages count in its
// memory, and 30 kB of its heap at init). A value is written after its Go
// type, and read after the reader's own type:
//
//   - bool: one byte; signed integers: zig-zag varint; unsigned: varint;
//     floats: the varint of their bits;
//   - string and []byte: varint length, then the bytes, as they are (not
//     UTF-8 checked: a job's argument or output may be any bytes);
//   - slice: varint length, then the elements (empty reads back as nil, as
//     with gob); array: the elements;
//   - map: varint length, then key and value pairs by sorted key (the same
//     state gives the same bytes);
//   - pointer: 0 for nil, or 1 and the value;
//   - interface: the name of its type ("" for nil), then the value; only
//     the types given to the codec (the core's events);
//   - struct: each exported field that is not zero as its name, a byte for
//     its kind, its length (4 bytes, little-endian) and its value; then an
//     empty name. Fields of kind func and chan are not sent.
//
// As with gob, a reader leaves a field the writer did not send at its zero
// value and skips one it does not know (by its length), so a new field
// whose zero is a right default needs no new format; a field whose kind
// changed is an error that names it.

// codec knows the types an interface may hold, by name.
type codec struct{ types map[string]reflect.Type }

func newCodec(values ...any) codec {
	c := codec{types: map[string]reflect.Type{}}
	for _, v := range values {
		t := reflect.TypeOf(v)
		c.types[t.Name()] = t
	}
	return c
}

func (c codec) marshal(v any) ([]byte, error) {
	return c.put(nil, reflect.ValueOf(v))
}

func (c codec) unmarshal(b []byte, v any) error {
	d := decoder{c: c, b: b}
	if err := d.value(reflect.ValueOf(v).Elem()); err != nil {
		return err
	}
	if len(d.b) > 0 {
		return fmt.Errorf("%d bytes after the state", len(d.b))
	}
	return nil
}

func (c codec) put(b []byte, v reflect.Value) ([]byte, error) {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.AppendVarint(b, v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return binary.AppendUvarint(b, v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return binary.AppendUvarint(b, math.Float64bits(v.Float())), nil
	case reflect.String:
		return append(binary.AppendUvarint(b, uint64(v.Len())), v.String()...), nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return append(binary.AppendUvarint(b, uint64(v.Len())), v.Bytes()...), nil
		}
		b = binary.AppendUvarint(b, uint64(v.Len()))
		return c.putElems(b, v)
	case reflect.Array:
		return c.putElems(b, v)
	case reflect.Map:
		return c.putMap(b, v)
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, 0), nil
		}
		return c.put(append(b, 1), v.Elem())
	case reflect.Interface:
		return c.putInterface(b, v)
	case reflect.Struct:
		return c.putStruct(b, v)
	}
	return nil, fmt.Errorf("a value of type %s", v.Type())
}

func (c codec) putElems(b []byte, v reflect.Value) ([]byte, error) {
	var err error
	for i := range v.Len() {
		if b, err = c.put(b, v.Index(i)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (c codec) putMap(b []byte, v reflect.Value) ([]byte, error) {
	keys := v.MapKeys()
	switch v.Type().Key().Kind() {
	case reflect.String:
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
	default:
		return nil, fmt.Errorf("a map with keys of type %s", v.Type().Key())
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	var err error
	for _, k := range keys {
		if b, err = c.put(b, k); err == nil {
			b, err = c.put(b, v.MapIndex(k))
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (c codec) putInterface(b []byte, v reflect.Value) ([]byte, error) {
	if v.IsNil() {
		return append(b, 0), nil
	}
	e := v.Elem()
	if c.types[e.Type().Name()] != e.Type() {
		return nil, fmt.Errorf("a value of type %s in an interface: not one the state may hold", e.Type())
	}
	b = append(binary.AppendUvarint(b, uint64(len(e.Type().Name()))), e.Type().Name()...)
	return c.put(b, e)
}

func (c codec) putStruct(b []byte, v reflect.Value) ([]byte, error) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || fv.IsZero() || kindOf(f.Type) == 0 {
			continue
		}
		b = append(binary.AppendUvarint(b, uint64(len(f.Name))), f.Name...)
		b = append(b, kindOf(f.Type), 0, 0, 0, 0)
		at := len(b)
		var err error
		if b, err = c.put(b, fv); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		if len(b)-at > math.MaxUint32 {
			return nil, fmt.Errorf("%s.%s: over 4 GB", t.Name(), f.Name)
		}
		binary.LittleEndian.PutUint32(b[at-4:], uint32(len(b)-at))
	}
	return append(b, 0), nil
}

// kindOf is the kind a field is sent with: integers of any size alike; 0
// for what is not sent.
func kindOf(t reflect.Type) byte {
	switch k := t.Kind(); k {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return byte(reflect.Int)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return byte(reflect.Uint)
	case reflect.Float32:
		return byte(reflect.Float64)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return 0
	default:
		return byte(k)
	}
}

var errShort = errors.New("the state ends too soon")

// decoder reads a value from b, consuming it.
type decoder struct {
	c codec
	b []byte
}

func (d *decoder) uvarint() (uint64, error) {
	n, size := binary.Uvarint(d.b)
	if size <= 0 {
		return 0, errShort
	}
	d.b = d.b[size:]
	return n, nil
}

func (d *decoder) varint() (int64, error) {
	n, size := binary.Varint(d.b)
	if size <= 0 {
		return 0, errShort
	}
	d.b = d.b[size:]
	return n, nil
}

// length reads a count of elements of at least a byte each, or of bytes.
func (d *decoder) length() (int, error) {
	n, err := d.uvarint()
	if err == nil && n > uint64(len(d.b)) {
		err = errShort
	}
	return int(n), err
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.length()
	if err != nil {
		return nil, err
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b, nil
}

func (d *decoder) value(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		if len(d.b) == 0 || d.b[0] > 1 {
			return errShort
		}
		v.SetBool(d.b[0] == 1)
		d.b = d.b[1:]
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := d.varint()
		if err != nil {
			return err
		}
		if v.OverflowInt(n) {
			return fmt.Errorf("%d overflows %s", n, v.Type())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		if v.OverflowUint(n) {
			return fmt.Errorf("%d overflows %s", n, v.Type())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		v.SetFloat(math.Float64frombits(n))
	case reflect.String:
		b, err := d.bytes()
		if err != nil {
			return err
		}
		v.SetString(string(b))
	case reflect.Slice:
		return d.slice(v)
	case reflect.Array:
		for i := range v.Len() {
			if err := d.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		return d.mapValue(v)
	case reflect.Pointer:
		return d.pointer(v)
	case reflect.Interface:
		return d.iface(v)
	case reflect.Struct:
		return d.structValue(v)
	default:
		return fmt.Errorf("a value of type %s", v.Type())
	}
	return nil
}

func (d *decoder) slice(v reflect.Value) error {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		b, err := d.bytes()
		if err == nil && len(b) > 0 {
			v.SetBytes(append([]byte(nil), b...))
		}
		return err
	}
	n, err := d.length()
	if err != nil || n == 0 {
		return err
	}
	s := reflect.MakeSlice(v.Type(), n, n)
	for i := range n {
		if err := d.value(s.Index(i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (d *decoder) mapValue(v reflect.Value) error {
	n, err := d.length()
	if err != nil || n == 0 {
		return err
	}
	t := v.Type()
	m := reflect.MakeMapWithSize(t, n)
	for range n {
		k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		if err := d.value(k); err != nil {
			return err
		}
		if err := d.value(e); err != nil {
			return err
		}
		m.SetMapIndex(k, e)
	}
	v.Set(m)
	return nil
}

func (d *decoder) pointer(v reflect.Value) error {
	if len(d.b) == 0 || d.b[0] > 1 {
		return errShort
	}
	present := d.b[0] == 1
	d.b = d.b[1:]
	if !present {
		return nil
	}
	p := reflect.New(v.Type().Elem())
	if err := d.value(p.Elem()); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

func (d *decoder) iface(v reflect.Value) error {
	name, err := d.bytes()
	if err != nil || len(name) == 0 {
		return err
	}
	t, ok := d.c.types[string(name)]
	if !ok || !t.Implements(v.Type()) {
		return fmt.Errorf("a value of type %q, which this pmtr does not know", name)
	}
	e := reflect.New(t).Elem()
	if err := d.value(e); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	v.Set(e)
	return nil
}

func (d *decoder) structValue(v reflect.Value) error {
	t := v.Type()
	for {
		name, err := d.bytes()
		if err != nil || len(name) == 0 {
			return err
		}
		if len(d.b) < 5 {
			return errShort
		}
		kind, size := d.b[0], binary.LittleEndian.Uint32(d.b[1:5])
		d.b = d.b[5:]
		if uint64(size) > uint64(len(d.b)) {
			return errShort
		}
		body := d.b[:size]
		d.b = d.b[size:]
		f, ok := t.FieldByName(string(name))
		if !ok || !f.IsExported() || len(f.Index) != 1 || kindOf(f.Type) == 0 {
			continue // a field this pmtr does not have
		}
		if kindOf(f.Type) != kind {
			return fmt.Errorf("%s.%s: a %s here, a %s in the state", t.Name(), name, reflect.Kind(kindOf(f.Type)), reflect.Kind(kind))
		}
		fd := decoder{c: d.c, b: body}
		if err := fd.value(v.Field(f.Index[0])); err != nil {
			return fmt.Errorf("%s.%s: %w", t.Name(), name, err)
		}
		if len(fd.b) > 0 {
			return fmt.Errorf("%s.%s: %d bytes left over", t.Name(), name, len(fd.b))
		}
	}
}
