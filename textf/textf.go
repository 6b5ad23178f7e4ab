// Package textf formats text as fmt does, for the verbs pmtr's pure
// packages use (%s %d %q %v %t %c, with width, '-' and '0' flags), without
// importing os: fmt does, and core must not depend on any I/O package.
package textf

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
)

// Stringer is fmt.Stringer.
type Stringer interface{ String() string }

// Errorf is errors.New(Sprintf(format, args...)).
func Errorf(format string, args ...any) error { return errors.New(Sprintf(format, args...)) }

// Sprintf formats like fmt.Sprintf for the supported verbs.
func Sprintf(format string, args ...any) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		left, zero, width := false, false, 0
		for ; i < len(format) && (format[i] == '-' || format[i] == '0'); i++ {
			left, zero = left || format[i] == '-', zero || format[i] == '0'
		}
		for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
			width = width*10 + int(format[i]-'0')
		}
		if i >= len(format) {
			b.WriteString("%!(NOVERB)")
			break
		}
		verb := format[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if n >= len(args) {
			b.WriteString("%!" + string(verb) + "(MISSING)")
			continue
		}
		b.WriteString(pad(format1(verb, args[n]), width, left, zero && !left))
		n++
	}
	return b.String()
}

func pad(s string, width int, left, zero bool) string {
	if len(s) >= width {
		return s
	}
	fill := strings.Repeat(map[bool]string{true: "0", false: " "}[zero], width-len(s))
	switch {
	case left:
		return s + fill
	case zero && strings.HasPrefix(s, "-"):
		return "-" + fill + s[1:]
	}
	return fill + s
}

func format1(verb byte, arg any) string {
	switch verb {
	case 'q':
		if _, isInt := integer(arg); isInt { // a character, as fmt quotes it
			return strconv.QuoteRune(rune(reflect.ValueOf(arg).Convert(reflect.TypeFor[int64]()).Int()))
		}
		return strconv.Quote(plain(arg))
	case 'c':
		if r, ok := arg.(rune); ok {
			return string(r)
		}
		if r, ok := arg.(byte); ok {
			return string(rune(r))
		}
	case 'd':
		if s, ok := integer(arg); ok {
			return s
		}
	}
	return plain(arg)
}

// plain is %v (and %s, %t).
func plain(arg any) string {
	switch a := arg.(type) {
	case nil:
		return "<nil>"
	case error:
		return a.Error()
	case Stringer:
		return a.String()
	case string:
		return a
	case bool:
		return strconv.FormatBool(a)
	}
	if s, ok := integer(arg); ok {
		return s
	}
	v := reflect.ValueOf(arg)
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = plain(v.Index(i).Interface())
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.Pointer:
		if v.IsNil() {
			return "<nil>"
		}
		return "&" + plain(v.Elem().Interface())
	}
	return "%!v(" + v.Type().String() + ")"
}

func integer(arg any) (string, bool) {
	v := reflect.ValueOf(arg)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10), true
	}
	return "", false
}
