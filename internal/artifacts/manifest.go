package artifacts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
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

	m := Manifest{Objects: int64(len(sorted))}
	h := sha256.New()
	var line []byte
	for _, o := range sorted {
		m.Bytes += o.Size
		line = append(line[:0], '[')
		line = appendJSONString(line, o.Key)
		line = append(line, ',')
		line = strconv.AppendInt(line, o.Size, 10)
		line = append(line, ',')
		line = appendJSONString(line, o.ETag)
		line = append(line, "]\n"...)
		h.Write(line) // never fails
	}
	m.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return m
}

// appendJSONString appends s as a JSON string the way RFC 8785 writes it:
// only '"', '\' and control characters are escaped, the five with a short
// form by it. encoding/json differs: it also escapes U+2028 and U+2029 (and,
// by default, '<', '>' and '&'), which Python and JavaScript do not.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s { // an invalid byte comes as utf8.RuneError, U+FFFD
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			if r < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}
