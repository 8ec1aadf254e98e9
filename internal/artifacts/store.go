package artifacts

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Store is an artifact store: the operator records the manifest of what a
// trial wrote and deletes what retention does not keep. Each call ends
// within the store's Limits.Timeout, and holds one page of the listing at a
// time, whatever the store answers.
type Store interface {
	// Manifest returns the manifest of every object whose key starts with
	// prefix, at any depth, with keys relative to prefix. Pass a prefix
	// that ends in "/" (TrialPrefix), or "ns/e/a" also lists "ns/e/ab/...".
	// It computes the digest as the listing comes, and fails if the store
	// lists keys out of ascending byte order, which S3 guarantees, or, with
	// an error wrapping ErrTooManyObjects, past Limits.MaxObjects objects.
	Manifest(ctx context.Context, prefix string) (Manifest, error)

	// DeletePrefix deletes every object under prefix, each batch as it is
	// listed, and returns how many objects and bytes it deleted, on an
	// error too. It is idempotent: deleting an empty or already-deleted
	// prefix deletes nothing and returns 0, 0, nil. A prefix with more
	// objects than one call deletes within Limits.Timeout is deleted over
	// several calls. It refuses the empty prefix, which is the whole bucket.
	DeletePrefix(ctx context.Context, prefix string) (objects, bytes int64, err error)

	// Copy copies, within the bucket, every object under srcPrefix to
	// dstPrefix followed by its key relative to srcPrefix, by server-side
	// copies that keep each object's ETag (so the copy's Manifest is the
	// source's), several at a time, as the listing comes. It returns how
	// many objects and bytes it copied, on an error too. An object the
	// destination holds already with the same size and ETag is not copied
	// again, so a set larger than one call copies within Limits.Timeout is
	// copied over several calls, and copying again copies nothing. It
	// stops, with an error wrapping ErrTooManyObjects, past
	// Limits.MaxObjects objects, and refuses an empty prefix and prefixes
	// one under the other. Objects under dstPrefix that are not under
	// srcPrefix stay.
	Copy(ctx context.Context, srcPrefix, dstPrefix string) (objects, bytes int64, err error)

	// Put writes data, of the given content type, under key, replacing
	// what was there: the operator's own records beside a trial's
	// artifacts (its provenance), small enough for one request.
	Put(ctx context.Context, key string, data []byte, contentType string) error

	// Concat writes under dstKey, of the given content type, the lines of
	// the objects under srcPrefix, one object after the other in the order
	// of their keys, keeping those keep returns true for (all when keep is
	// nil) and skipping empty ones and those longer than MaxLineBytes;
	// each ends in a newline, a last line without one gets one. It returns how many lines and bytes it wrote.
	// It holds one line (at most MaxLineBytes) and one part of the upload
	// (5 MiB) at a time. It writes nothing, and returns an error, when the
	// object would be longer than maxBytes
	// (wrapping ErrTooLarge), past Limits.MaxObjects objects (wrapping
	// ErrTooManyObjects), when there is no object under srcPrefix (wrapping
	// ErrNoObjects), or when reading or writing fails. It refuses the empty
	// prefix.
	Concat(ctx context.Context, srcPrefix, dstKey, contentType string, maxBytes int64, keep func(line []byte) bool) (lines, bytes int64, err error)

	// Exists reports whether an object is stored under key.
	Exists(ctx context.Context, key string) (bool, error)
}

// ErrTooManyObjects is wrapped by Store.Manifest's error under a prefix with
// more than Limits.MaxObjects objects.
var ErrTooManyObjects = errors.New("too many objects")

// Limits bound what one Store call may cost the operator.
type Limits struct {
	// Timeout bounds each call, its retries included; DefaultTimeout if
	// zero or less.
	Timeout time.Duration
	// MaxObjects is the most objects Manifest summarises; DefaultMaxObjects
	// if zero or less.
	MaxObjects int64
}

const (
	// DefaultTimeout is Limits.Timeout's default. versitygw on loopback
	// lists 10,000 objects in 0.6 s and deletes them in 1.5 s, so a listing
	// of DefaultMaxObjects takes some 6 s, and a call deletes some 200,000
	// objects (a larger experiment is deleted over several calls).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxObjects is Limits.MaxObjects's default: 100 pages.
	DefaultMaxObjects = 100_000
)

// withDefaults is l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = DefaultMaxObjects
	}
	return l
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

	// maxResponseBytes and maxResponseElements bound each response, as
	// minio-go decodes a page of a listing whole: an endless page would
	// otherwise take memory until the timeout. A page of 1000 objects is at
	// most about 3.5 MB (keys of 1024 bytes, percent-encoded to at most
	// 3072, and some 350 bytes of date, ETag, size and storage class each)
	// and 14,000 elements (Contents, Key, LastModified, ETag, Size,
	// StorageClass, two checksum fields, Owner with ID and DisplayName,
	// RestoreStatus with two fields; S3 sends 8 of them without
	// fetch-owner and optional attributes). Elements are counted as
	// minio-go decodes each Contents into a 592-byte ObjectInfo however
	// short: 8 MiB of <Contents/> would take 450 MB; 24 Ki of them peak at
	// 44 MiB of heap (TestManifestHeapIsBoundedOnAnEndlessPage).
	maxResponseBytes    = 8 << 20
	maxResponseElements = 24 << 10
)

// NewS3Store returns a Store over cfg.Bucket: path-style requests signed
// with cfg's static credentials, each tried at most s3MaxRetries times, each
// call bounded by limits. It checks cfg but does not connect.
func NewS3Store(cfg S3Config, limits Limits) (Store, error) {
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
		Transport:    limitedBodies{transport},
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   s3MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", cfg.Endpoint, err)
	}
	return &s3Store{client: client, bucket: cfg.Bucket, limits: limits.withDefaults()}, nil
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
	limits Limits
}

// Manifest implements Store.
func (s *s3Store) Manifest(ctx context.Context, prefix string) (Manifest, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	w := newManifestWriter()
	var last string
	for o, err := range s.list(ctx, prefix) {
		switch {
		case err != nil: // the listing's
		case w.m.Objects == s.limits.MaxObjects:
			err = fmt.Errorf("%w: more than %d", ErrTooManyObjects, s.limits.MaxObjects)
		case w.m.Objects > 0 && o.Key <= last:
			err = fmt.Errorf("the store listed %q after %q, out of the ascending byte order S3 lists keys in", o.Key, last)
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("list objects under %s: %w", S3URI(s.bucket, prefix), err)
		}
		last = o.Key
		o.Key = strings.TrimPrefix(o.Key, prefix)
		w.add(o)
	}
	return w.manifest(), nil
}

// DeletePrefix implements Store. It deletes each batch of 1000 listed
// objects with RemoveObjects, in one DeleteObjects request, before it lists
// more. It goes on past objects that could not be deleted, and returns the
// first such error, but stops at a batch of which none could be (the store
// is likely unreachable). On a versioned bucket it deletes the current
// versions only: S3 keeps the others, under delete markers.
func (s *s3Store) DeletePrefix(ctx context.Context, prefix string) (objects, bytes int64, err error) {
	where := S3URI(s.bucket, prefix)
	if prefix == "" {
		return 0, 0, fmt.Errorf("delete objects under %s: empty prefix, which is the whole bucket", where)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var deleteErr, listErr error
	batch := make([]Object, 0, maxDeleteBatch)
	// deleteBatch deletes batch and says whether to go on.
	deleteBatch := func() bool {
		n, b, err := s.deleteBatch(ctx, batch)
		objects, bytes, batch = objects+n, bytes+b, batch[:0]
		deleteErr = cmp.Or(deleteErr, err)
		return err == nil || n > 0
	}
	for o, err := range s.list(ctx, prefix) {
		if err != nil {
			listErr = fmt.Errorf("list: %w", err)
			break
		}
		if batch = append(batch, o); len(batch) == maxDeleteBatch && !deleteBatch() {
			break
		}
	}
	if len(batch) > 0 && listErr == nil {
		deleteBatch()
	}
	if err := errors.Join(deleteErr, listErr); err != nil {
		return objects, bytes, fmt.Errorf("delete objects under %s: %w", where, err)
	}
	return objects, bytes, nil
}

// Put implements Store.
func (s *s3Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType, DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("put %s: %w", S3URI(s.bucket, key), describe(ctx, err))
	}
	return nil
}

// withTimeout bounds ctx by the store's timeout, with a cause that says so.
func (s *s3Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.limits.Timeout,
		fmt.Errorf("not done within the operator's %v timeout: %w", s.limits.Timeout, context.DeadlineExceeded))
}

// list yields the objects under prefix, with full keys, in the store's
// order, one page at a time; on an error it yields the error and ends.
func (s *s3Store) list(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		fetchOwner := false
		opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, FetchOwner: &fetchOwner}
		for info := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
			if info.Err != nil {
				yield(Object{}, describe(ctx, info.Err))
				return
			}
			if !yield(Object{Key: info.Key, Size: info.Size, ETag: info.ETag}, nil) {
				return
			}
		}
		// minio-go ends the listing without an error if ctx ends between two
		// pages: do not take what came before for the whole listing.
		if ctx.Err() != nil {
			yield(Object{}, context.Cause(ctx))
		}
	}
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
		if err == nil && e.ObjectName == "" {
			err = fmt.Errorf("delete %d objects: %w", len(batch), describe(ctx, e.Err))
		} else if err == nil {
			err = fmt.Errorf("delete %s: %w", S3URI(s.bucket, e.ObjectName), describe(ctx, e.Err))
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

// describe returns err with what minio-go leaves out of its message: why
// ctx ended, if it did (minio-go then returns ctx.Err() alone), or the S3
// error code and HTTP status of an error response.
func describe(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var resp minio.ErrorResponse
	var syntax *xml.SyntaxError
	switch {
	case errors.As(err, &resp):
		return s3Error{resp}
	case errors.As(err, &syntax), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errResponseTooLong):
		return fmt.Errorf("reading the store's answer: %w", err)
	}
	return err
}

// s3Error is an S3 error response whose message has its code and HTTP
// status: "NoSuchBucket (HTTP 404): The specified bucket does not exist."
// minio-go's ErrorResponse has only the text, which may be empty.
type s3Error struct{ resp minio.ErrorResponse }

func (e s3Error) Unwrap() error { return e.resp }

func (e s3Error) Error() string {
	r := e.resp
	status := "HTTP " + strconv.Itoa(r.StatusCode)
	switch {
	case r.Code == "" && r.Message == "":
		return status + " " + http.StatusText(r.StatusCode)
	case strings.HasPrefix(r.Code, strconv.Itoa(r.StatusCode)+" "): // not an S3 error: minio-go sets Code to the status line
		if r.Message == r.Code {
			return "HTTP " + r.Code
		}
		return "HTTP " + r.Code + ": " + r.Message
	case r.StatusCode == 0: // in a 200 response (DeleteObjects), or made by minio-go
		return r.Code + ": " + r.Error()
	default: // r.Error() is the Message, or minio-go's text for the Code
		return r.Code + " (" + status + "): " + r.Error()
	}
}

// limitedBodies fails the read of a response body past maxResponseBytes
// or maxResponseElements.
type limitedBodies struct{ http.RoundTripper }

func (t limitedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err == nil {
		resp.Body = &limitedBody{ReadCloser: resp.Body}
	}
	return resp, err
}

var errResponseTooLong = fmt.Errorf("the store's response is longer than %d MiB or %d XML elements",
	maxResponseBytes>>20, maxResponseElements)

type limitedBody struct {
	io.ReadCloser
	bytes, elements int
	afterLT         bool // the last byte read was '<'
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		read := p[:n]
		starts := bytes.Count(read, []byte("<")) - bytes.Count(read, []byte("</")) // an element starts with "<" but not "</"
		if b.afterLT && read[0] == '/' {
			starts--
		}
		b.afterLT = read[n-1] == '<'
		b.bytes += n
		b.elements += starts
	}
	if b.bytes > maxResponseBytes || b.elements > maxResponseElements {
		return n, errResponseTooLong
	}
	return n, err
}
