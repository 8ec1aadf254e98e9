package modelversion

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// fakeStore is an in-memory bucket behind an Opener, that fails as told.
// The S3 store itself is tested against a real S3 server in
// test/integration/artifactstore; here it only feeds the reconciler.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string]artifacts.Object // by full key

	// openErr fails OpenS3; copyErr, manifestErr and deleteErr the calls.
	openErr, copyErr, manifestErr, deleteErr error
	// copyLimit, when above zero, is how many objects one Copy copies
	// before it fails with copyErr.
	copyLimit int

	opened  []string // the namespaces opened in
	copies  [][2]string
	deleted []string
}

func newFakeStore(keys map[string]int64) *fakeStore {
	s := &fakeStore{objects: map[string]artifacts.Object{}}
	for k, size := range keys {
		s.objects[k] = artifacts.Object{Key: k, Size: size, ETag: fmt.Sprintf("etag-%d", size)}
	}
	return s
}

func (s *fakeStore) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	panic("not used by the ModelVersion reconciler")
}

func (s *fakeStore) OpenS3(_ context.Context, namespace string, _ *crucible.S3ArtifactStore) (artifacts.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = append(s.opened, namespace)
	if s.openErr != nil {
		return nil, s.openErr
	}
	return s, nil
}

// under is the objects under prefix, by key, with keys relative to it.
func (s *fakeStore) under(prefix string) []artifacts.Object {
	var out []artifacts.Object
	for k, o := range s.objects {
		if rel, ok := strings.CutPrefix(k, prefix); ok {
			o.Key = rel
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b artifacts.Object) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (s *fakeStore) Concat(context.Context, string, string, string, int64, func([]byte) bool) (int64, int64, error) {
	panic("not used by the ModelVersion reconciler")
}

func (s *fakeStore) Exists(context.Context, string) (bool, error) {
	panic("not used by the ModelVersion reconciler")
}

func (s *fakeStore) Manifest(_ context.Context, prefix string) (artifacts.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.manifestErr != nil {
		return artifacts.Manifest{}, s.manifestErr
	}
	return artifacts.NewManifest(s.under(prefix)), nil
}

func (s *fakeStore) DeletePrefix(_ context.Context, prefix string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleteErr != nil {
		return 0, 0, s.deleteErr
	}
	s.deleted = append(s.deleted, prefix)
	var objects, bytes int64
	for _, o := range s.under(prefix) {
		delete(s.objects, prefix+o.Key)
		objects++
		bytes += o.Size
	}
	return objects, bytes, nil
}

func (s *fakeStore) Copy(_ context.Context, src, dst string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.copies = append(s.copies, [2]string{src, dst})
	if s.copyErr != nil && s.copyLimit == 0 {
		return 0, 0, s.copyErr
	}
	var objects, bytes int64
	for _, o := range s.under(src) {
		if have, ok := s.objects[dst+o.Key]; ok && have.Size == o.Size && have.ETag == o.ETag {
			continue
		}
		if s.copyLimit > 0 && objects == int64(s.copyLimit) {
			return objects, bytes, s.copyErr
		}
		s.objects[dst+o.Key] = artifacts.Object{Key: dst + o.Key, Size: o.Size, ETag: o.ETag}
		objects++
		bytes += o.Size
	}
	return objects, bytes, nil
}

func (s *fakeStore) Put(context.Context, string, []byte, string) error {
	panic("not used by the ModelVersion reconciler")
}

// keys is every key in the bucket, sorted.
func (s *fakeStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objects {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
