// Package canonjson writes JSON the one way the operator's frozen digests
// write it: strings as the artifact manifest and the dataset digest write
// them, so that a few lines of Python or JavaScript recompute those digests
// byte for byte, and whole documents re-encoded with sorted keys as the spec
// digest and the provenance statement are. Golden files in those packages
// guard every byte.
package canonjson

import "unicode/utf8"

// AppendString appends s as a JSON string the way RFC 8785 writes it:
// only '"', '\' and control characters are escaped, the five with a short
// form by it. encoding/json differs: it also escapes U+2028 and U+2029 (and,
// by default, '<', '>' and '&'), which Python and JavaScript do not.
//
// A byte of s that is not part of valid UTF-8 is written as \udcXX, the
// lone surrogate U+DC00+byte that Python's "surrogateescape" error handler
// decodes it to (PEP 383). No valid UTF-8 string is written with such an
// escape (it holds no surrogate, and a '\' of its own is written as \\), so
// two strings are never written alike, and a valid string is written as
// before invalid bytes were escaped. (They used to be written as U+FFFD, the
// way encoding/json writes them, which made "a\xff" and "a\xfe" alike.)
func AppendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'u', 'd', 'c', hexDigits[s[0]>>4], hexDigits[s[0]&0xf])
		case r == '"', r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return append(b, '"')
}
