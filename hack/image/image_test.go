package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// fakeELF is the smallest ELF64 file debug/elf reads: a header and the
// program headers named, then payload. It stands in for the manager, which
// these tests do not build. A PT_NOTE segment holds the whole payload.
func fakeELF(t *testing.T, machine elf.Machine, typ elf.Type, progs []elf.ProgType, payload string) []byte {
	t.Helper()
	const ehsize, phsize = 64, 56
	off := uint64(ehsize + phsize*len(progs))
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type:      uint16(typ),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Phoff:     ehsize,
		Ehsize:    ehsize,
		Phentsize: phsize,
		Phnum:     uint16(len(progs)),
		Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if err := binary.Write(&buf, binary.LittleEndian, hdr); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		prog := elf.Prog64{Type: uint32(p)}
		if p == elf.PT_NOTE {
			prog.Off, prog.Filesz = off, uint64(len(payload))
		}
		if err := binary.Write(&buf, binary.LittleEndian, prog); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString(payload)
	return buf.Bytes()
}

func staticELF(t *testing.T, m elf.Machine) []byte {
	return fakeELF(t, m, elf.ET_EXEC, []elf.ProgType{elf.PT_LOAD, elf.PT_NOTE}, string(note("Go", 5, "not a build ID")))
}

// note is one ELF note, as a PT_NOTE segment holds it.
func note(name string, typ uint32, desc string) []byte {
	pad := func(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }
	var buf bytes.Buffer
	for _, n := range []uint32{uint32(len(name) + 1), uint32(len(desc)), typ} {
		_ = binary.Write(&buf, binary.LittleEndian, n)
	}
	buf.Write(pad(append([]byte(name), 0)))
	buf.Write(pad([]byte(desc)))
	return buf.Bytes()
}

func binaries(t *testing.T) []Binary {
	return []Binary{
		{Platform: amd64, Data: staticELF(t, elf.EM_X86_64)},
		{Platform: arm64, Data: staticELF(t, elf.EM_AARCH64)},
	}
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Two builds of the same binaries at the same time have the same digest,
// whatever order the platforms come in; another time, binary or label, not.
func TestBuildIndexIsReproducible(t *testing.T) {
	bins := binaries(t)
	build := func(bins []Binary, at int64, labels map[string]string) v1.Hash {
		t.Helper()
		idx, err := buildIndex(bins, epoch.Add(time.Duration(at)*time.Second), labels)
		if err != nil {
			t.Fatal(err)
		}
		return digest(t, idx)
	}
	first := build(bins, 0, nil)
	if again := build([]Binary{bins[1], bins[0]}, 0, nil); again != first {
		t.Errorf("the same binaries in another order: %s, then %s", first, again)
	}
	if later := build(bins, 1, nil); later == first {
		t.Error("another time gave the same digest")
	}
	other := []Binary{bins[0], {Platform: arm64, Data: append(staticELF(t, elf.EM_AARCH64), 'x')}}
	if d := build(other, 0, nil); d == first {
		t.Error("another binary gave the same digest")
	}
	if d := build(bins, 0, map[string]string{"org.opencontainers.image.revision": "abc"}); d == first {
		t.Error("a label gave the same digest")
	}
}

func TestBuildIndexConfig(t *testing.T) {
	labels := map[string]string{"org.opencontainers.image.revision": "abc"}
	idx, err := buildIndex(binaries(t), epoch, labels)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s", m.MediaType)
	}
	var platforms []string
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
		if d.ArtifactType != "" || d.MediaType != "application/vnd.oci.image.manifest.v1+json" {
			t.Errorf("%s: descriptor media type %s, artifactType %q; want an OCI image manifest, no artifactType", d.Platform, d.MediaType, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		want := v1.Config{User: "65532:65532", Entrypoint: []string{"/manager"}, WorkingDir: "/", Labels: labels}
		if diff := cmp.Diff(want, cfg.Config); diff != "" {
			t.Errorf("%s config (-want +got):\n%s", d.Platform, diff)
		}
		if !cfg.Created.Equal(epoch) || len(cfg.History) != 1 || !cfg.History[0].Created.Equal(epoch) {
			t.Errorf("%s: created %s, history %v; want %s everywhere", d.Platform, cfg.Created, cfg.History, epoch)
		}
		if cfg.OS != d.Platform.OS || cfg.Architecture != d.Platform.Architecture {
			t.Errorf("%s: config for %s/%s", d.Platform, cfg.OS, cfg.Architecture)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	if _, err := buildIndex(append(binaries(t), binaries(t)[0]), epoch, nil); err == nil {
		t.Error("a platform twice was accepted")
	}
}

// writeLayout replaces the layout: the second build's blobs only, and
// readLayout gives back the index that was written.
func TestWriteLayoutReplaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "image")
	first, err := buildIndex(binaries(t), epoch, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := buildIndex(binaries(t)[:1], epoch, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []v1.ImageIndex{first, second} {
		if err := writeLayout(dir, idx); err != nil {
			t.Fatal(err)
		}
		got, err := readLayout(dir)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, got) != digest(t, idx) {
			t.Errorf("read back %s, wrote %s", digest(t, got), digest(t, idx))
		}
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	// The second index: itself, one manifest, its config and its layer.
	if len(blobs) != 4 {
		t.Errorf("%d blobs after the second build, want 4 (stale blobs left?)", len(blobs))
	}
	if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary layout is left: %v", err)
	}
}

func TestVerifyIndex(t *testing.T) {
	idx, err := buildIndex(binaries(t), epoch, nil)
	if err != nil {
		t.Fatal(err)
	}
	report, err := verifyIndex(idx, []string{"/work/main"})
	if err != nil {
		t.Fatalf("a good image: %v", err)
	}
	if len(report) != 2 {
		t.Errorf("report %q, want a line per platform", report)
	}
}

func TestVerifyImageRejects(t *testing.T) {
	withLayer := func(entries ...Entry) func(*testing.T, v1.Image) v1.Image {
		return func(t *testing.T, img v1.Image) v1.Image {
			var buf bytes.Buffer
			if err := writeLayer(&buf, entries, epoch); err != nil {
				t.Fatal(err)
			}
			l, err := newLayer(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: epoch}}})
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	withConfig := func(f func(*v1.Config)) func(*testing.T, v1.Image) v1.Image {
		return func(t *testing.T, img v1.Image) v1.Image {
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			cfg = cfg.DeepCopy()
			f(&cfg.Config)
			img, err = mutate.ConfigFile(img, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	tests := []struct {
		name    string
		binary  []byte
		mutate  func(*testing.T, v1.Image) v1.Image
		forbid  string
		wantErr string
	}{
		{name: "a shell", mutate: withLayer(Entry{Path: "bin/sh", Mode: 0o755, Data: []byte("sh")}), wantErr: "shell: /bin/sh"},
		{name: "busybox", mutate: withLayer(Entry{Path: "usr/bin/busybox", Mode: 0o755}), wantErr: "shell"},
		{name: "another executable", mutate: withLayer(Entry{Path: "usr/bin/curl", Mode: 0o755}), wantErr: "executable other than"},
		{name: "root user", mutate: withConfig(func(c *v1.Config) { c.User = "" }), wantErr: "User"},
		{name: "shell entrypoint", mutate: withConfig(func(c *v1.Config) { c.Entrypoint = []string{"/bin/sh", "-c", "/manager"} }), wantErr: "Entrypoint"},
		{name: "a command", mutate: withConfig(func(c *v1.Config) { c.Cmd = []string{"--help"} }), wantErr: "Cmd"},
		{name: "dynamically linked", binary: fakeELF(t, elf.EM_X86_64, elf.ET_EXEC, []elf.ProgType{elf.PT_INTERP, elf.PT_LOAD, elf.PT_DYNAMIC}, ""), wantErr: "interpreter"},
		{name: "dynamic section", binary: fakeELF(t, elf.EM_X86_64, elf.ET_EXEC, []elf.ProgType{elf.PT_LOAD, elf.PT_DYNAMIC}, ""), wantErr: "dynamic section"},
		{name: "PIE", binary: fakeELF(t, elf.EM_X86_64, elf.ET_DYN, nil, ""), wantErr: "ELF type"},
		{name: "a Go build ID", binary: fakeELF(t, elf.EM_X86_64, elf.ET_EXEC, []elf.ProgType{elf.PT_LOAD, elf.PT_NOTE}, string(note("Go", 4, "LgAkouMz5Mtu1lxqCx9Z/fu6dQpmWQkc2xPUyhYzw"))), wantErr: "Go build ID"},
		{name: "a GNU build ID", binary: fakeELF(t, elf.EM_X86_64, elf.ET_EXEC, []elf.ProgType{elf.PT_NOTE}, string(note("GNU", 3, "0123456789abcdef0123"))), wantErr: "GNU build ID"},
		{name: "another machine", binary: staticELF(t, elf.EM_AARCH64), wantErr: "ELF machine"},
		{name: "not ELF", binary: []byte("#!/bin/sh\n"), wantErr: "not ELF"},
		{name: "a build path", binary: fakeELF(t, elf.EM_X86_64, elf.ET_EXEC, nil, "/work/main/cmd/main.go"), forbid: "/work/main", wantErr: "build path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Binary{Platform: amd64, Data: staticELF(t, elf.EM_X86_64)}
			if tt.binary != nil {
				b.Data = tt.binary
			}
			img, err := buildImage(b, epoch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				img = tt.mutate(t, img)
			}
			_, err = verifyImage(img, amd64, []string{tt.forbid})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("verifyImage: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
