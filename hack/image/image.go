package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// binaryPath is where the manager lives in the image, and its entrypoint.
	binaryPath = "manager"
	// user is the image's USER: distroless's nonroot user and group.
	user = "65532:65532"
)

// A Binary is the manager built for one platform.
type Binary struct {
	Platform v1.Platform
	Data     []byte
}

// buildIndex assembles the multi-platform image: for each binary an OCI
// image of one layer (rootFS and /manager) from scratch, and an OCI image
// index of them, sorted by platform. created is the one time everywhere:
// the layer's entries, the config's created and its history.
func buildIndex(bins []Binary, created time.Time, labels map[string]string) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	bins = append([]Binary(nil), bins...)
	sort.Slice(bins, func(i, j int) bool { return bins[i].Platform.String() < bins[j].Platform.String() })

	for i := 1; i < len(bins); i++ {
		if bins[i].Platform.String() == bins[i-1].Platform.String() {
			return nil, fmt.Errorf("platform %s twice", bins[i].Platform)
		}
	}

	// One goroutine per platform: compressing a layer is most of the time
	// (3 s for the amd64 manager), and the platforms share nothing.
	imgs := make([]v1.Image, len(bins))
	errs := make([]error, len(bins))
	var wg sync.WaitGroup
	for i, b := range bins {
		wg.Go(func() {
			imgs[i], errs[i] = buildImage(b, created, labels)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", b.Platform, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, b := range bins {
		img := imgs[i]
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        imageOnly{img},
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

// imageOnly is an image whose descriptor in an index has no artifactType:
// go-containerregistry would set the config's media type there, which
// marks an artifact; docker buildx and distroless's indexes write none.
type imageOnly struct{ v1.Image }

// ArtifactType is read by partial.Descriptor instead of the manifest.
func (imageOnly) ArtifactType() (string, error) { return "", nil }

// buildImage is the image of one platform.
func buildImage(b Binary, created time.Time, labels map[string]string) (v1.Image, error) {
	created = created.UTC().Truncate(time.Second)
	entries := append(rootFS(), Entry{Path: binaryPath, Mode: 0o755, Data: b.Data})
	var tarball bytes.Buffer
	if err := writeLayer(&tarball, entries, created); err != nil {
		return nil, err
	}
	layer, err := newLayer(tarball.Bytes())
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:       user,
			Entrypoint: []string{"/" + binaryPath},
			WorkingDir: "/",
			Labels:     labels,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "crucible hack/image: /manager, /etc/passwd, /etc/group (nonroot 65532), /home/nonroot, /tmp",
		},
	})
}

// gzipLayer is a layer whose bytes are all in memory: the tarball and its
// gzip form, both already fixed (go-containerregistry's tarball layer would
// compress again, at its own level).
type gzipLayer struct {
	tarball, compressed []byte
	digest, diffID      v1.Hash
}

var _ v1.Layer = (*gzipLayer)(nil)

func newLayer(tarball []byte) (*gzipLayer, error) {
	compressed, err := gzipTarball(tarball)
	if err != nil {
		return nil, err
	}
	l := &gzipLayer{tarball: tarball, compressed: compressed}
	if l.digest, _, err = v1.SHA256(bytes.NewReader(compressed)); err != nil {
		return nil, err
	}
	if l.diffID, _, err = v1.SHA256(bytes.NewReader(tarball)); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *gzipLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *gzipLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *gzipLayer) Size() (int64, error)     { return int64(len(l.compressed)), nil }
func (l *gzipLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}
func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.tarball)), nil
}

// writeLayout writes idx as an OCI image layout at dir, replacing what was
// there: index.json holds one descriptor, the image index, so `crane push
// dir <ref>` pushes the multi-platform image under that digest. The layout
// is written next to dir and renamed, so a failed build leaves no half
// layout and an old build leaves no stale blobs.
func writeLayout(dir string, idx v1.ImageIndex) error {
	dir = filepath.Clean(dir)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	top := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	top = mutate.AppendManifests(top, mutate.IndexAddendum{Add: idx})
	if _, err := layout.Write(tmp, top); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// readLayout is the image index a layout written by writeLayout holds.
func readLayout(dir string) (v1.ImageIndex, error) {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("%s: index.json should hold one image index, holds %d entries", dir, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}
