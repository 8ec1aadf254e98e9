package artifacts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strconv"
	"strings"

	"github.com/crucible-dev/crucible/internal/canonjson"
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
	w.line = canonjson.AppendString(w.line, o.Key)
	w.line = append(w.line, ',')
	w.line = strconv.AppendInt(w.line, o.Size, 10)
	w.line = append(w.line, ',')
	w.line = canonjson.AppendString(w.line, strings.Trim(o.ETag, `"`))
	w.line = append(w.line, "]\n"...)
	w.h.Write(w.line) // never fails
}

// manifest is the manifest of the objects added so far.
func (w *manifestWriter) manifest() Manifest {
	m := w.m
	m.Digest = "sha256:" + hex.EncodeToString(w.h.Sum(nil))
	return m
}
