package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// digestOf is the digest of the given lines, hashed as the package
// documentation says: sha256 over their concatenation.
func digestOf(lines ...string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// goldenObjects exercise every escaping rule and the ordering.
var goldenObjects = []Object{
	{Key: "model/weights.bin", Size: 1048576, ETag: `"9e107d9d372bb6826bd81d3542a419d6"`},
	{Key: "metrics.json", Size: 0, ETag: "d41d8cd98f00b204e9800998ecf8427e"},
	{Key: "logs/line\nbreak \"quoted\" \\ tab\t.txt", Size: 42, ETag: "abc-2"},
	{Key: "模型/权重 é.bin", Size: 7, ETag: "e1"},
	{Key: "ctl\x01\x1f<>&\u2028.bin", Size: 3, ETag: "ff"},
}

// goldenLines are the lines of goldenObjects, written out by hand from the
// documented format. Note the order: by key bytes, "c" < "l" < "me" < "mo" <
// the UTF-8 of 模.
var goldenLines = []string{
	`["ctl\u0001\u001f<>&` + "\u2028" + `.bin",3,"ff"]` + "\n",
	`["logs/line\nbreak \"quoted\" \\ tab\t.txt",42,"abc-2"]` + "\n",
	`["metrics.json",0,"d41d8cd98f00b204e9800998ecf8427e"]` + "\n",
	`["model/weights.bin",1048576,"9e107d9d372bb6826bd81d3542a419d6"]` + "\n",
	`["模型/权重 é.bin",7,"e1"]` + "\n",
}

func TestManifestFormat(t *testing.T) {
	want := Manifest{Objects: 5, Bytes: 1048576 + 0 + 42 + 7 + 3, Digest: digestOf(goldenLines...)}
	if diff := cmp.Diff(want, NewManifest(goldenObjects)); diff != "" {
		t.Errorf("NewManifest mismatch (-want +got):\n%s", diff)
	}
}

// TestManifestGolden pins the format: users recompute digests independently
// and operators of later versions check recorded ones. The hex was computed
// by the Python recipe of the package documentation, not by this package.
// If this test fails, the format changed: do not update the hex.
func TestManifestGolden(t *testing.T) {
	const want = "sha256:17a0f47d5900ee5d0142a0ea18d0521f214f7c325a59caffea9b5040ac22ff43"
	if got := NewManifest(goldenObjects).Digest; got != want {
		t.Errorf("NewManifest(goldenObjects).Digest = %s; want %s", got, want)
	}
}

// TestManifestGoldenInvalidUTF8 pins the lines of keys that are not UTF-8.
// The hex was computed by the Python recipe of the package documentation.
func TestManifestGoldenInvalidUTF8(t *testing.T) {
	objs := []Object{
		{Key: "a\xff", Size: 1, ETag: "e"},
		{Key: "a\xfe/\xe6\xa8", Size: 2, ETag: "f"},         // a truncated 模
		{Key: "\xed\xa0\x80 surrogate", Size: 3, ETag: "g"}, // an encoded surrogate
		{Key: "a\uFFFD", Size: 4, ETag: "h"},                // a real U+FFFD
		{Key: `a\udcff`, Size: 5, ETag: "i"},                // the escape, as text
		{Key: "\xc3\xa9\xc3", Size: 6, ETag: "j"},           // é, then a lone lead byte
	}
	const want = "sha256:b389c11598f61c85afc66681f488eb22b9fc7e6c5f5c05b0220158db141cf25c"
	if got := NewManifest(objs).Digest; got != want {
		t.Errorf("NewManifest(%q).Digest = %s; want %s", keys(objs), got, want)
	}
}

// TestManifestDistinguishesInvalidUTF8: keys that differ only in bytes
// that are not UTF-8, or in such a byte and what it was once written as,
// have different digests.
func TestManifestDistinguishesInvalidUTF8(t *testing.T) {
	ks := []string{"a\xff", "a\xfe", "a\uFFFD", `a\udcff`, "a\xff\xfe", "a\xfe\xff", "a\xc3", "a\xc3\xa9"}
	seen := map[string]string{}
	for _, k := range ks {
		d := NewManifest([]Object{{Key: k, Size: 1, ETag: "e"}}).Digest
		if other, ok := seen[d]; ok {
			t.Errorf("keys %q and %q have the same digest %s", other, k, d)
		}
		seen[d] = k
	}
}

func TestManifestSingleObject(t *testing.T) {
	// The example of the package documentation.
	got := NewManifest([]Object{{Key: "model/weights.bin", Size: 1048576, ETag: "9e107d9d372bb6826bd81d3542a419d6"}})
	want := Manifest{
		Objects: 1,
		Bytes:   1048576,
		Digest:  digestOf(`["model/weights.bin",1048576,"9e107d9d372bb6826bd81d3542a419d6"]` + "\n"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewManifest mismatch (-want +got):\n%s", diff)
	}
}

func TestManifestEmpty(t *testing.T) {
	// sha256 of the empty string.
	want := Manifest{Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	for name, objs := range map[string][]Object{"nil": nil, "empty": {}} {
		if diff := cmp.Diff(want, NewManifest(objs)); diff != "" {
			t.Errorf("NewManifest(%s) mismatch (-want +got):\n%s", name, diff)
		}
	}
}

func TestManifestIsOrderIndependent(t *testing.T) {
	want := NewManifest(goldenObjects)
	// Every rotation of the list and of its reverse.
	for _, base := range [][]Object{goldenObjects, reversed(goldenObjects)} {
		for i := range base {
			objs := append(slices.Clone(base[i:]), base[:i]...)
			if diff := cmp.Diff(want, NewManifest(objs)); diff != "" {
				t.Errorf("NewManifest(%v) mismatch (-want +got):\n%s", keys(objs), diff)
			}
		}
	}
}

func TestManifestDoesNotModifyInput(t *testing.T) {
	objs := reversed(goldenObjects)
	before := slices.Clone(objs)
	NewManifest(objs)
	if diff := cmp.Diff(before, objs); diff != "" {
		t.Errorf("NewManifest modified its input (-before +after):\n%s", diff)
	}
}

func TestManifestSortsByKeyNotByLine(t *testing.T) {
	// As lines, `["a!"` sorts before `["a"` ('!' < '"') and `["a\n` before
	// `["a\u0001` ('n' < 'u'); as keys, the other way round.
	cases := []struct {
		name  string
		objs  []Object
		lines []string
	}{
		{
			name:  "closing quote",
			objs:  []Object{{Key: "a!", Size: 1, ETag: "x"}, {Key: "a", Size: 2, ETag: "y"}},
			lines: []string{`["a",2,"y"]` + "\n", `["a!",1,"x"]` + "\n"},
		},
		{
			name:  "escapes",
			objs:  []Object{{Key: "a\n", Size: 1, ETag: "x"}, {Key: "a\x01", Size: 2, ETag: "y"}},
			lines: []string{`["a\u0001",2,"y"]` + "\n", `["a\n",1,"x"]` + "\n"},
		},
		{
			name:  "ties by size then etag",
			objs:  []Object{{Key: "k", Size: 2, ETag: "a"}, {Key: "k", Size: 1, ETag: "b"}, {Key: "k", Size: 1, ETag: "a"}},
			lines: []string{`["k",1,"a"]` + "\n", `["k",1,"b"]` + "\n", `["k",2,"a"]` + "\n"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := NewManifest(tc.objs).Digest, digestOf(tc.lines...); got != want {
				t.Errorf("NewManifest(%v).Digest = %s; want %s, the digest of %q", keys(tc.objs), got, want, tc.lines)
			}
		})
	}
}

func TestManifestETagQuotes(t *testing.T) {
	quoted := NewManifest([]Object{{Key: "k", Size: 1, ETag: `"abc"`}})
	bare := NewManifest([]Object{{Key: "k", Size: 1, ETag: "abc"}})
	if quoted != bare {
		t.Errorf("a quoted ETag gives %v, a bare one %v; want the same", quoted, bare)
	}
	if want := digestOf(`["k",1,"abc"]` + "\n"); bare.Digest != want {
		t.Errorf("Digest = %s; want %s", bare.Digest, want)
	}
}

func TestManifestDistinguishes(t *testing.T) {
	// Pairs that a careless encoding (concatenation, unescaped separators,
	// a set of keys only) would confuse.
	cases := []struct {
		name string
		a, b []Object
	}{
		{name: "size", a: []Object{{Key: "k", Size: 1, ETag: "e"}}, b: []Object{{Key: "k", Size: 2, ETag: "e"}}},
		{name: "etag", a: []Object{{Key: "k", Size: 1, ETag: "e"}}, b: []Object{{Key: "k", Size: 1, ETag: "f"}}},
		{name: "key", a: []Object{{Key: "k", Size: 1, ETag: "e"}}, b: []Object{{Key: "K", Size: 1, ETag: "e"}}},
		{
			name: "key forging a line break",
			a:    []Object{{Key: "a", Size: 1, ETag: "e"}, {Key: "b", Size: 1, ETag: "e"}},
			b:    []Object{{Key: "a\",1,\"e\"]\n[\"b", Size: 1, ETag: "e"}},
		},
		{
			name: "key and etag boundary",
			a:    []Object{{Key: `k","x`, Size: 1, ETag: "e"}},
			b:    []Object{{Key: "k", Size: 1, ETag: `x","e`}},
		},
		{name: "duplicate object", a: []Object{{Key: "k", Size: 1, ETag: "e"}}, b: []Object{{Key: "k", Size: 1, ETag: "e"}, {Key: "k", Size: 1, ETag: "e"}}},
		{name: "one object or none", a: nil, b: []Object{{Key: "", Size: 0, ETag: ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if da, db := NewManifest(tc.a).Digest, NewManifest(tc.b).Digest; da == db {
				t.Errorf("NewManifest(%v) and NewManifest(%v) have the same digest %s", tc.a, tc.b, da)
			}
		})
	}
}

func reversed(objs []Object) []Object {
	r := slices.Clone(objs)
	slices.Reverse(r)
	return r
}

func keys(objs []Object) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return fmt.Sprintf("%q", ks)
}
