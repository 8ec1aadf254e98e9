package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// shells are names no file of the image may have: the manager needs none,
// and an image without one gives `kubectl exec` nothing to run.
var shells = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox"}

// elfMachines is the ELF machine a binary for each GOARCH declares.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// verifyIndex checks what make test-image promises of every image in idx:
// the blobs match their digests (validate.Index), and each image passes
// verifyImage for the platform its descriptor names.
func verifyIndex(idx v1.ImageIndex, forbidden []string) ([]string, error) {
	if err := validate.Index(idx); err != nil {
		return nil, fmt.Errorf("invalid index: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) == 0 {
		return nil, errors.New("the index lists no image")
	}
	var report []string
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			return nil, fmt.Errorf("manifest %s: no platform", desc.Digest)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, err
		}
		size, err := verifyImage(img, *desc.Platform, forbidden)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", desc.Platform, desc.Digest, err)
		}
		report = append(report, fmt.Sprintf("%s %s: ok, /manager static ELF, %d bytes compressed", desc.Platform, desc.Digest, size))
	}
	return report, nil
}

// verifyImage checks one image: the config (platform, user, entrypoint, no
// shell in Cmd), every layer entry (no shell, no other executable, every
// time equal to the config's created), and /manager (a statically linked
// ELF executable for the platform, without a build ID, without the
// forbidden strings: the build's absolute paths, which -trimpath keeps out). It returns the
// image's compressed layer size.
func verifyImage(img v1.Image, p v1.Platform, forbidden []string) (int64, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return 0, err
	}
	switch {
	case cfg.OS != p.OS || cfg.Architecture != p.Architecture:
		return 0, fmt.Errorf("config is for %s/%s", cfg.OS, cfg.Architecture)
	case cfg.Config.User != user:
		return 0, fmt.Errorf("config User is %q, want %q", cfg.Config.User, user)
	case !slices.Equal(cfg.Config.Entrypoint, []string{"/" + binaryPath}):
		return 0, fmt.Errorf("config Entrypoint is %q, want [/%s]", cfg.Config.Entrypoint, binaryPath)
	case len(cfg.Config.Cmd) != 0:
		return 0, fmt.Errorf("config Cmd is %q, want none", cfg.Config.Cmd)
	case cfg.Config.WorkingDir != "/":
		return 0, fmt.Errorf("config WorkingDir is %q, want /", cfg.Config.WorkingDir)
	}
	created := cfg.Created.UTC()
	for _, h := range cfg.History {
		if !h.Created.UTC().Equal(created) {
			return 0, fmt.Errorf("history created %s, config created %s", h.Created.UTC(), created)
		}
	}

	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var manager []byte
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		size += n
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		data, err := checkLayer(rc, created)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, err
		}
		if data != nil {
			manager = data
		}
	}
	if manager == nil {
		return 0, fmt.Errorf("no /%s in the layers", binaryPath)
	}
	if err := checkStaticELF(manager, p.Architecture); err != nil {
		return 0, fmt.Errorf("/%s: %w", binaryPath, err)
	}
	for _, s := range forbidden {
		if s != "" && bytes.Contains(manager, []byte(s)) {
			return 0, fmt.Errorf("/%s contains the build path %q (built without -trimpath?)", binaryPath, s)
		}
	}
	return size, nil
}

// checkLayer reads one layer's tar stream and returns the manager's bytes
// if the layer holds it. Every entry must be a directory or a regular file
// (no links, no devices), carry the image's created time, and be no shell;
// the manager is the one executable file.
func checkLayer(r io.Reader, created time.Time) ([]byte, error) {
	var manager []byte
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return manager, nil
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if slices.Contains(shells, path.Base(name)) {
			return nil, fmt.Errorf("the layers hold a shell: /%s", name)
		}
		if !hdr.ModTime.UTC().Equal(created) {
			return nil, fmt.Errorf("/%s: time %s, want the image's created %s", name, hdr.ModTime.UTC(), created)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			if name == binaryPath {
				if hdr.Mode&0o777 != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 {
					return nil, fmt.Errorf("/%s: mode %#o owner %d:%d, want 0755 0:0", name, hdr.Mode, hdr.Uid, hdr.Gid)
				}
				if manager, err = io.ReadAll(tr); err != nil {
					return nil, err
				}
			} else if hdr.Mode&0o111 != 0 {
				return nil, fmt.Errorf("/%s: an executable other than /%s", name, binaryPath)
			}
		default:
			return nil, fmt.Errorf("/%s: tar type %q, want only directories and regular files", name, hdr.Typeflag)
		}
	}
}

// checkStaticELF fails unless data is an ELF executable for goarch that
// asks for no dynamic loader and no shared library, and carries no build ID.
func checkStaticELF(data []byte, goarch string) error {
	want, ok := elfMachines[goarch]
	if !ok {
		return fmt.Errorf("no ELF machine known for %s", goarch)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not ELF: %w", err)
	}
	defer f.Close() //nolint:errcheck // a file over bytes.Reader: Close has nothing to fail on
	if f.Machine != want {
		return fmt.Errorf("ELF machine %s, want %s for %s", f.Machine, want, goarch)
	}
	if f.Type != elf.ET_EXEC {
		return fmt.Errorf("ELF type %s, want %s (a static, non-PIE executable)", f.Type, elf.ET_EXEC)
	}
	for _, prog := range f.Progs {
		switch prog.Type {
		case elf.PT_INTERP:
			return errors.New("dynamically linked: it names a program interpreter (built with cgo?)")
		case elf.PT_DYNAMIC:
			return errors.New("dynamically linked: it has a dynamic section")
		case elf.PT_NOTE:
			if err := checkNotes(prog, f.ByteOrder); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNotes fails if a note segment carries a build ID: Go's (built
// without -ldflags=-buildid=, it changes with the build cache's inputs) or
// GNU's (an external linker's).
func checkNotes(prog *elf.Prog, order binary.ByteOrder) error {
	data, err := io.ReadAll(prog.Open())
	if err != nil {
		return err
	}
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(data) >= 12 {
		namesz, descsz, typ := order.Uint32(data), order.Uint32(data[4:]), order.Uint32(data[8:])
		data = data[12:]
		if len(data) < align(namesz)+align(descsz) {
			return errors.New("a truncated ELF note")
		}
		name := strings.TrimRight(string(data[:namesz]), "\x00")
		data = data[align(namesz)+align(descsz):]
		if descsz > 0 && (name == "Go" && typ == goBuildIDNote || name == "GNU" && typ == gnuBuildIDNote) {
			return fmt.Errorf("it carries a %s build ID (built without -ldflags=-buildid=?)", name)
		}
	}
	return nil
}

// The note types of build IDs: cmd/link's ELF_NOTE_GOBUILDID_TAG and
// NT_GNU_BUILD_ID.
const (
	goBuildIDNote  = 4
	gnuBuildIDNote = 3
)
