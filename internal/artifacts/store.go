package artifacts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Store is an artifact store: the operator lists what a trial wrote and
// deletes what retention does not keep.
type Store interface {
	// List returns every object whose key starts with prefix, at any depth,
	// with Keys relative to prefix, in the store's order. Pass a prefix that
	// ends in "/" (TrialPrefix, ExperimentPrefix), or "ns/e/a" also lists
	// "ns/e/ab/...".
	List(ctx context.Context, prefix string) ([]Object, error)

	// DeletePrefix deletes every object under prefix and returns how many
	// objects and bytes it deleted, on an error too. It is idempotent:
	// deleting an empty or already-deleted prefix deletes nothing and
	// returns 0, 0, nil. It refuses the empty prefix, which is the whole
	// bucket.
	DeletePrefix(ctx context.Context, prefix string) (objects, bytes int64, err error)
}

// S3Config is how to reach an S3-compatible store.
type S3Config struct {
	// Endpoint is host[:port], without a scheme or a path.
	Endpoint string
	// Bucket is the bucket the artifacts are in. NewS3Store does not create
	// it.
	Bucket string
	// Region is the bucket's region; if empty, it is asked of the store.
	Region string
	// Insecure is plain HTTP instead of TLS, for local stores only.
	Insecure bool
	// AccessKeyID and SecretAccessKey are static credentials, signed with
	// AWS Signature Version 4.
	AccessKeyID     string
	SecretAccessKey string
}

const (
	// s3MaxRetries is how many times a request is tried, counting the first
	// (minio-go's default is 10). With minio-go's backoff (200 ms doubling,
	// at most 1 s), a refused connection fails within a few seconds.
	s3MaxRetries = 3

	// s3DialTimeout bounds each attempt to connect (minio-go's default is
	// 30 s), so that a host that drops packets also fails in seconds.
	s3DialTimeout = 5 * time.Second

	// maxDeleteBatch is the most keys one S3 DeleteObjects request may name.
	maxDeleteBatch = 1000
)

// NewS3Store returns a Store over cfg.Bucket: path-style requests signed
// with cfg's static credentials, each tried at most s3MaxRetries times. It
// checks cfg but does not connect.
func NewS3Store(cfg S3Config) (Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", cfg.Endpoint, err)
	}
	transport.DialContext = (&net.Dialer{Timeout: s3DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       !cfg.Insecure,
		Transport:    transport,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   s3MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", cfg.Endpoint, err)
	}
	return &s3Store{client: client, bucket: cfg.Bucket}, nil
}

// validate says what is wrong with cfg, if anything.
func (cfg S3Config) validate() error {
	switch {
	case cfg.Endpoint == "":
		return errors.New("artifact store: empty endpoint")
	case strings.Contains(cfg.Endpoint, "://"):
		return fmt.Errorf("artifact store endpoint %q: want host[:port] without a scheme (set Insecure for plain HTTP)", cfg.Endpoint)
	case strings.ContainsAny(cfg.Endpoint, "/?#"):
		return fmt.Errorf("artifact store endpoint %q: want host[:port] without a path", cfg.Endpoint)
	case cfg.Bucket == "":
		return fmt.Errorf("artifact store %s: empty bucket", cfg.Endpoint)
	}
	if err := s3utils.CheckValidBucketName(cfg.Bucket); err != nil {
		return fmt.Errorf("artifact store %s: bucket %q: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	return nil
}

// s3Store is a Store over one bucket of an S3-compatible store.
type s3Store struct {
	client *minio.Client
	bucket string
}

// List implements Store.
func (s *s3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	objs, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list objects under %s: %w", S3URI(s.bucket, prefix), err)
	}
	for i := range objs {
		objs[i].Key = strings.TrimPrefix(objs[i].Key, prefix)
	}
	return objs, nil
}

// DeletePrefix implements Store. It lists prefix, then deletes what it
// listed with RemoveObjects, one DeleteObjects request per 1000 objects. It
// goes on past objects that could not be deleted, and returns the first such
// error, but stops at a batch of which none could be (the store is likely
// unreachable). On a versioned bucket it deletes the current versions only:
// S3 keeps the others, under delete markers.
func (s *s3Store) DeletePrefix(ctx context.Context, prefix string) (objects, bytes int64, err error) {
	where := S3URI(s.bucket, prefix)
	if prefix == "" {
		return 0, 0, fmt.Errorf("delete objects under %s: empty prefix, which is the whole bucket", where)
	}
	objs, err := s.list(ctx, prefix)
	if err != nil {
		return 0, 0, fmt.Errorf("delete objects under %s: list: %w", where, err)
	}
	var firstErr error
	for batch := range slices.Chunk(objs, maxDeleteBatch) {
		n, b, err := s.deleteBatch(ctx, batch)
		objects += n
		bytes += b
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err != nil && n == 0 {
			break
		}
	}
	if firstErr != nil {
		return objects, bytes, fmt.Errorf("delete objects under %s: %w", where, firstErr)
	}
	return objects, bytes, nil
}

// list returns the objects under prefix, with full keys.
func (s *s3Store) list(ctx context.Context, prefix string) ([]Object, error) {
	fetchOwner := false
	opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, FetchOwner: &fetchOwner}
	var objs []Object
	for info := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if info.Err != nil {
			return nil, info.Err
		}
		objs = append(objs, Object{Key: info.Key, Size: info.Size, ETag: info.ETag})
	}
	// minio-go ends the listing without an error if ctx ends between two
	// pages: do not take what came before for the whole listing.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return objs, nil
}

// deleteBatch deletes batch (full keys, at most maxDeleteBatch objects) with
// one RemoveObjects call, and returns how many of its objects and bytes were
// deleted and the first error.
func (s *s3Store) deleteBatch(ctx context.Context, batch []Object) (objects, bytes int64, err error) {
	keys := make(chan minio.ObjectInfo, len(batch))
	for _, o := range batch {
		keys <- minio.ObjectInfo{Key: o.Key}
	}
	close(keys)
	// RemoveObjects reports failures only, possibly twice for one key; ""
	// names none (the response could not be read). Read them all: minio-go
	// blocks until they are.
	failed := make(map[string]bool)
	for e := range s.client.RemoveObjects(ctx, s.bucket, keys, minio.RemoveObjectsOptions{}) {
		if err == nil {
			err = fmt.Errorf("delete %s: %w", S3URI(s.bucket, e.ObjectName), e.Err)
		}
		failed[e.ObjectName] = true
	}
	if failed[""] {
		return 0, 0, err // which objects went is unknown: count none
	}
	for _, o := range batch {
		if !failed[o.Key] {
			objects++
			bytes += o.Size
		}
	}
	return objects, bytes, err
}
