// Package logsafe makes text from outside (datagrams, names from the
// network, file contents) fit for one log line: control bytes escaped, so a
// line can never become two or drive a terminal, and the length capped.
package logsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is how many bytes of outside text a log line carries.
const Max = 200

// Text escapes s (\n, \r, \t, \e, \\, \xNN for other control bytes and
// invalid UTF-8) and cuts it to Max bytes, marking a cut with "...".
func Text(s string) string { return Cap(s, Max) }

// Cap is Text with a limit of max bytes.
func Cap(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(escape(r, s[i], size))
		i += size
	}
	return b.String()
}

func escape(r rune, first byte, size int) string {
	switch {
	case r == utf8.RuneError && size <= 1:
		return `\x` + hex2(first)
	case r == '\\':
		return `\\`
	case r == '\n':
		return `\n`
	case r == '\r':
		return `\r`
	case r == '\t':
		return `\t`
	case r == 0x1b:
		return `\e`
	case r < 0x20 || r == 0x7f:
		return `\x` + hex2(byte(r))
	case r >= 0x80 && r < 0xa0: // C1 controls
		return `\u00` + hex2(byte(r))
	}
	return string(r)
}

func hex2(c byte) string {
	s := strconv.FormatUint(uint64(c), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// ShortWords shortens every run of non-space bytes longer than max to its
// first max bytes and "...(N bytes)", so a huge token in a message does not
// drown it.
func ShortWords(s string, max int) string {
	if len(s) <= max {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != ' ' {
			j++
		}
		if w := s[i:j]; len(w) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			b.WriteString(w[:cut] + "...(" + strconv.Itoa(len(w)) + " bytes)")
		} else {
			b.WriteString(w)
		}
		if j < len(s) {
			b.WriteByte(' ')
		}
		i = j + 1
	}
	return b.String()
}
