package artifacts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Object is one stored object.
type Object struct {
	// Key is the object's key relative to the prefix it was listed under.
	Key string
	// Size is its size in bytes.
	Size int64
	// ETag is its ETag as the store reports it, without surrounding quotes.
	ETag string
}

// Manifest summarises what a trial wrote.
type Manifest struct {
	// Objects is how many objects there are.
	Objects int64
	// Bytes is their total size.
	Bytes int64
	// Digest is "sha256:<64 hex>" over their keys, sizes and ETags, in the
	// format the package documentation gives.
	Digest string
}

// NewManifest computes the manifest of objs, in any order. objs is not
// modified.
func NewManifest(objs []Object) Manifest {
	sorted := make([]Object, len(objs))
	for i, o := range objs {
		o.ETag = strings.Trim(o.ETag, `"`)
		sorted[i] = o
	}
	slices.SortFunc(sorted, func(a, b Object) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Size, b.Size), strings.Compare(a.ETag, b.ETag))
	})
	w := newManifestWriter()
	for _, o := range sorted {
		w.add(o)
	}
	return w.manifest()
}

// manifestWriter computes a Manifest from objects added in its order, so
// that a listing need not be held to be summarised.
type manifestWriter struct {
	m    Manifest
	h    hash.Hash
	line []byte
}

func newManifestWriter() *manifestWriter {
	return &manifestWriter{h: sha256.New()}
}

// add adds o, whose Key and Size are not before the last added ones'.
func (w *manifestWriter) add(o Object) {
	w.m.Objects++
	w.m.Bytes += o.Size
	w.line = append(w.line[:0], '[')
	w.line = appendJSONString(w.line, o.Key)
	w.line = append(w.line, ',')
	w.line = strconv.AppendInt(w.line, o.Size, 10)
	w.line = append(w.line, ',')
	w.line = appendJSONString(w.line, strings.Trim(o.ETag, `"`))
	w.line = append(w.line, "]\n"...)
	w.h.Write(w.line) // never fails
}

// manifest is the manifest of the objects added so far.
func (w *manifestWriter) manifest() Manifest {
	m := w.m
	m.Digest = "sha256:" + hex.EncodeToString(w.h.Sum(nil))
	return m
}

// appendJSONString appends s as a JSON string the way RFC 8785 writes it:
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
func appendJSONString(b []byte, s string) []byte {
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
