package artifacts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

const (
	// maxParallelCopies bounds the objects one Copy copies at once: each
	// is a request the store serves from its own disks, so a few keep it
	// busy. A 1 GiB set (64 objects of 16 MiB, two parts each) copied on
	// versitygw on loopback, 2 cores, in 6.7 s one at a time, 3.7 s at 4,
	// 3.5 to 4.5 s at 8 and 4.3 s at 16; a remote store, where each request
	// waits longer for its answer, gains more from 8.
	maxParallelCopies = 8

	// maxCopySize is the largest object one CopyObject request copies
	// (S3's limit, 5 GiB); a larger one is copied in parts.
	maxCopySize = 5 << 30

	// maxParts is the most parts a multipart object has (S3's limit).
	maxParts = 10_000

	// abortTimeout bounds the request that abandons a multipart copy that
	// failed, made after the call's own deadline may have passed, so that
	// the store does not keep its parts.
	abortTimeout = 10 * time.Second
)

// Copy implements Store.
//
// Each object is copied by the store itself, keeping its ETag, so that the
// copy's manifest digest is the source's (see copyObject). An object that
// the destination already holds with the same key, size and ETag (an
// earlier call copied it) is skipped: the listing of the destination is
// read beside the source's, both in key order, one page of each at a time.
// Objects are copied maxParallelCopies at a time, as the source is listed;
// the first failure stops the call.
func (s *s3Store) Copy(ctx context.Context, srcPrefix, dstPrefix string) (objects, bytes int64, err error) {
	from, to := S3URI(s.bucket, srcPrefix), S3URI(s.bucket, dstPrefix)
	switch {
	case srcPrefix == "" || dstPrefix == "":
		return 0, 0, fmt.Errorf("copy objects under %s to %s: empty prefix, which is the whole bucket", from, to)
	case strings.HasPrefix(srcPrefix, dstPrefix) || strings.HasPrefix(dstPrefix, srcPrefix):
		return 0, 0, fmt.Errorf("copy objects under %s to %s: one prefix is under the other", from, to)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	var (
		copied, copiedBytes atomic.Int64
		once                sync.Once
		copyErr             error
		wg                  sync.WaitGroup
	)
	jobs := make(chan Object)
	for range maxParallelCopies {
		wg.Go(func() {
			for o := range jobs {
				if err := s.copyObject(ctx, o, dstPrefix+strings.TrimPrefix(o.Key, srcPrefix)); err != nil {
					once.Do(func() { copyErr = err })
					stop(err)
					continue
				}
				copied.Add(1)
				copiedBytes.Add(o.Size)
			}
		})
	}
	listErr := s.feedCopies(ctx, srcPrefix, dstPrefix, jobs)
	close(jobs)
	wg.Wait()
	objects, bytes = copied.Load(), copiedBytes.Load()
	// A failed copy stops the listing with its own error: report it once.
	if err := cmp.Or(copyErr, listErr); err != nil {
		return objects, bytes, fmt.Errorf("copy objects under %s to %s: %w", from, to, err)
	}
	return objects, bytes, nil
}

// feedCopies sends to jobs, as the listing comes, every object under
// srcPrefix that dstPrefix does not hold already. It stops, with
// ErrTooManyObjects, past Limits.MaxObjects objects.
func (s *s3Store) feedCopies(ctx context.Context, srcPrefix, dstPrefix string, jobs chan<- Object) error {
	held := newCursor(s.list(ctx, dstPrefix), dstPrefix)
	defer held.close()
	var n int64
	for o, err := range s.list(ctx, srcPrefix) {
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if n == s.limits.MaxObjects {
			return fmt.Errorf("%w: more than %d", ErrTooManyObjects, s.limits.MaxObjects)
		}
		n++
		have, err := held.find(strings.TrimPrefix(o.Key, srcPrefix))
		if err != nil {
			return fmt.Errorf("list the destination: %w", err)
		}
		if have != nil && have.Size == o.Size && strings.Trim(have.ETag, `"`) == strings.Trim(o.ETag, `"`) {
			continue
		}
		select {
		case jobs <- o:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// cursor walks a listing in key order, for a merge with another.
type cursor struct {
	next   func() (Object, error, bool)
	stop   func()
	prefix string
	cur    *Object // the first object not yet passed; nil at the end
	primed bool
}

func newCursor(listing iter.Seq2[Object, error], prefix string) *cursor {
	next, stop := iter.Pull2(listing)
	return &cursor{next: next, stop: stop, prefix: prefix}
}

func (c *cursor) close() { c.stop() }

// find returns the object of key (relative to the prefix), or nil, passing
// those before it. Keys asked must ascend, as a listing's do; a listing
// out of order costs copies made again, never one skipped.
func (c *cursor) find(key string) (*Object, error) {
	for !c.primed || (c.cur != nil && c.cur.Key < key) {
		c.primed = true
		o, err, ok := c.next()
		switch {
		case !ok:
			c.cur = nil
		case err != nil:
			return nil, err
		default:
			o.Key = strings.TrimPrefix(o.Key, c.prefix)
			c.cur = &o
		}
	}
	if c.cur != nil && c.cur.Key == key {
		return c.cur, nil
	}
	return nil, nil
}

// copyObject copies o (a full key) to dstKey within the bucket, keeping
// its ETag, which S3 computes from the bytes as they were uploaded: the
// MD5 of an object written by one PUT, and "<MD5 of the parts' MD5s>-<parts>"
// of a multipart upload. CopyObject gives the copy the MD5 of its bytes,
// which is the ETag of the first kind only (versitygw does the same as
// AWS), so a multipart object is copied part for part (copyParts). Each
// request copies o only if it still has the ETag it was listed with.
func (s *s3Store) copyObject(ctx context.Context, o Object, dstKey string) error {
	etag := strings.Trim(o.ETag, `"`)
	var err error
	switch parts := partCount(etag); {
	case parts > 0:
		err = s.copyParts(ctx, o, etag, dstKey, parts)
	case o.Size > maxCopySize:
		// Not written by S3 in one PUT, which takes at most 5 GiB, yet
		// without a multipart ETag: the store has ETags of its own, which
		// no copy keeps. ComposeObject copies it in parts of 5 GiB.
		_, err = s.client.ComposeObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: dstKey},
			minio.CopySrcOptions{Bucket: s.bucket, Object: o.Key, MatchETag: etag})
	default:
		_, err = s.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: dstKey},
			minio.CopySrcOptions{Bucket: s.bucket, Object: o.Key, MatchETag: etag})
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", S3URI(s.bucket, o.Key), S3URI(s.bucket, dstKey), describe(ctx, err))
	}
	return nil
}

// partCount is the number of parts in a multipart ETag ("<32 hex>-<n>"),
// or 0.
func partCount(etag string) int {
	md5, n, ok := strings.Cut(etag, "-")
	if !ok || len(md5) != 32 || strings.Trim(md5, "0123456789abcdefABCDEF") != "" {
		return 0
	}
	parts, err := strconv.Atoi(n)
	if err != nil || parts < 1 || parts > maxParts {
		return 0
	}
	return parts
}

// byteRange is a part of an object.
type byteRange struct{ start, length int64 }

// copyParts copies the multipart object o into a multipart upload of
// dstKey with the same parts: part i of the copy is the byte range part i
// of o has, which a HEAD request with partNumber=i tells. Each part's MD5,
// and so the ETag, is then o's. A store that does not tell part sizes
// (the sizes do not add up to o's, or it refuses partNumber) gets a plain
// copy, whose ETag is its own.
func (s *s3Store) copyParts(ctx context.Context, o Object, etag, dstKey string, n int) error {
	ranges, info, err := s.partRanges(ctx, o, etag, n)
	if errors.Is(err, errNoPartSizes) {
		src := minio.CopySrcOptions{Bucket: s.bucket, Object: o.Key, MatchETag: etag}
		dst := minio.CopyDestOptions{Bucket: s.bucket, Object: dstKey}
		if o.Size > maxCopySize {
			_, err = s.client.ComposeObject(ctx, dst, src)
		} else {
			_, err = s.client.CopyObject(ctx, dst, src)
		}
		return err
	}
	if err != nil {
		return err
	}
	core := minio.Core{Client: s.client}
	uploadID, err := core.NewMultipartUpload(ctx, s.bucket, dstKey,
		minio.PutObjectOptions{ContentType: info.ContentType, UserMetadata: info.UserMetadata})
	if err != nil {
		return err
	}
	abort := func() {
		// With a deadline of its own: ctx may be what ended.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_ = core.AbortMultipartUpload(actx, s.bucket, dstKey, uploadID)
	}
	parts := make([]minio.CompletePart, len(ranges))
	ifMatch := map[string]string{"x-amz-copy-source-if-match": etag}
	for i, r := range ranges {
		length := r.length
		if length == 0 {
			length = -1 // an empty object's only part: no range
		}
		if parts[i], err = core.CopyObjectPart(ctx, s.bucket, o.Key, s.bucket, dstKey, uploadID, i+1, r.start, length, ifMatch); err != nil {
			abort()
			return err
		}
	}
	if _, err := core.CompleteMultipartUpload(ctx, s.bucket, dstKey, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		abort()
		return err
	}
	return nil
}

// errNoPartSizes means the store did not tell the sizes of an object's
// parts.
var errNoPartSizes = errors.New("the store does not tell the sizes of the object's parts")

// partRanges asks the store for the byte ranges of o's n parts, and the
// content type and user metadata of o.
func (s *s3Store) partRanges(ctx context.Context, o Object, etag string, n int) ([]byteRange, minio.ObjectInfo, error) {
	ranges := make([]byteRange, n)
	var first minio.ObjectInfo
	var start int64
	for i := range n {
		info, err := s.client.StatObject(ctx, s.bucket, o.Key, minio.StatObjectOptions{PartNumber: i + 1})
		if err != nil {
			var resp minio.ErrorResponse
			if errors.As(err, &resp) && (resp.StatusCode == http.StatusBadRequest ||
				resp.StatusCode == http.StatusNotImplemented || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
				return nil, first, errNoPartSizes
			}
			return nil, first, err
		}
		if got := strings.Trim(info.ETag, `"`); got != etag {
			return nil, first, fmt.Errorf("the object changed while it was being copied: ETag %s, listed with %s", got, etag)
		}
		if i == 0 {
			first = info
		}
		ranges[i] = byteRange{start: start, length: info.Size}
		start += info.Size
	}
	if start != o.Size {
		return nil, first, errNoPartSizes
	}
	return ranges, first, nil
}
