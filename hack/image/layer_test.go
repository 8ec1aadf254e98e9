package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var epoch = time.Unix(1700000000, 0).UTC()

// header is what a test compares of a tar entry.
type header struct {
	Name     string
	Typeflag byte
	Mode     int64
	UID, GID int
	Size     int64
}

func readHeaders(t *testing.T, layer []byte) []*tar.Header {
	t.Helper()
	var hdrs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, hdr)
	}
}

func layerBytes(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeLayer(&buf, entries, epoch); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The entries come out sorted, each directory before its children, the
// missing parents added as 0755 root directories, modes and owners as given.
func TestWriteLayerSortsEntriesAndAddsParents(t *testing.T) {
	entries := []Entry{
		{Path: "tmp", Dir: true, Mode: 0o1777},
		{Path: "manager", Mode: 0o755, Data: []byte("binary")},
		{Path: "home/nonroot", Dir: true, Mode: 0o700, UID: nonroot, GID: nonroot},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/sbin/nologin\n")},
		{Path: "etc-old/x", Mode: 0o600, Data: []byte("x")},
		{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\n")},
	}
	var got []header
	for _, h := range readHeaders(t, layerBytes(t, entries)) {
		got = append(got, header{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size})
	}
	want := []header{
		{"etc/", tar.TypeDir, 0o755, 0, 0, 0},
		{"etc-old/", tar.TypeDir, 0o755, 0, 0, 0},
		{"etc-old/x", tar.TypeReg, 0o600, 0, 0, 1},
		{"etc/group", tar.TypeReg, 0o644, 0, 0, 10},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, 28},
		{"home/", tar.TypeDir, 0o755, 0, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o700, nonroot, nonroot, 0},
		{"manager", tar.TypeReg, 0o755, 0, 0, 6},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0, 0},
	}
	// Sorted by path, a directory comes before its children (a prefix sorts
	// first), though not always right before them: '-' < '/' puts etc-old
	// between etc and etc/group.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, h := range got {
		if parent := parentDir(h.Name); parent != "" && !seen[parent] {
			t.Errorf("%s comes before its parent %s", h.Name, parent)
		}
		seen[h.Name] = true
	}
}

func parentDir(name string) string {
	name = strings.TrimSuffix(name, "/")
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return ""
	}
	return name[:i+1]
}

// Every header carries the one time, no access or change time, no owner
// names, no PAX records: nothing of the machine or the moment of the build.
func TestWriteLayerFixesTimesAndOwners(t *testing.T) {
	for _, h := range readHeaders(t, layerBytes(t, append(rootFS(), Entry{Path: "manager", Mode: 0o755, Data: []byte("m")}))) {
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: ModTime %s, want %s", h.Name, h.ModTime, epoch)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: AccessTime %s ChangeTime %s, want none", h.Name, h.AccessTime, h.ChangeTime)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner names %q:%q, want none", h.Name, h.Uname, h.Gname)
		}
		if len(h.PAXRecords) != 0 || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: format %s, PAX records %v; want USTAR and none", h.Name, h.Format, h.PAXRecords)
		}
	}
}

// The same entries give the same bytes, in whatever order they come, before
// and after compression; and the gzip header carries no time and no name.
func TestWriteLayerIsReproducible(t *testing.T) {
	entries := append(rootFS(), Entry{Path: "manager", Mode: 0o755, Data: bytes.Repeat([]byte("go"), 1<<16)})
	reversed := make([]Entry, len(entries))
	for i, e := range entries {
		reversed[len(entries)-1-i] = e
	}
	a, b := layerBytes(t, entries), layerBytes(t, reversed)
	if !bytes.Equal(a, b) {
		t.Fatal("the same entries in another order gave other bytes")
	}
	za, err := gzipTarball(a)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := gzipTarball(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, zb) {
		t.Fatal("the same tarball compressed twice gave other bytes")
	}
	zr, err := gzip.NewReader(bytes.NewReader(za))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" || zr.Comment != "" {
		t.Errorf("gzip header: ModTime %s Name %q Comment %q, want none", zr.ModTime, zr.Name, zr.Comment)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, a) {
		t.Error("gzip round trip changed the tarball")
	}

	// A later time changes the bytes: the time is really in the layer.
	var later bytes.Buffer
	if err := writeLayer(&later, entries, epoch.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, later.Bytes()) {
		t.Error("another time gave the same bytes")
	}
}

func TestWriteLayerRejects(t *testing.T) {
	tests := map[string][]Entry{
		"absolute path":       {{Path: "/etc/passwd", Mode: 0o644}},
		"parent reference":    {{Path: "../etc", Mode: 0o644}},
		"unclean path":        {{Path: "etc//passwd", Mode: 0o644}},
		"trailing slash":      {{Path: "etc/", Dir: true, Mode: 0o755}},
		"empty path":          {{Path: "", Mode: 0o644}},
		"setuid":              {{Path: "manager", Mode: 0o4755}},
		"file type bits":      {{Path: "manager", Mode: 0o100755}},
		"directory with data": {{Path: "etc", Dir: true, Mode: 0o755, Data: []byte("x")}},
		"twice":               {{Path: "manager", Mode: 0o755}, {Path: "manager", Mode: 0o644}},
		"file as parent":      {{Path: "etc", Mode: 0o644}, {Path: "etc/passwd", Mode: 0o644}},
	}
	for name, entries := range tests {
		t.Run(name, func(t *testing.T) {
			if err := writeLayer(io.Discard, entries, epoch); err == nil {
				t.Error("writeLayer accepted it")
			}
		})
	}
}
