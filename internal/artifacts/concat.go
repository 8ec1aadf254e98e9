package artifacts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
)

const (
	// concatPartSize is the part of a joined object uploaded at a time, the
	// most S3 lets be the smallest: what Concat holds of its output.
	concatPartSize = 5 << 20

	// MaxLineBytes is the longest line Concat reads, its newline included.
	MaxLineBytes = 64 << 10
)

// ErrTooLarge is wrapped by Concat's error when the joined object would be
// longer than the maxBytes it was given.
var ErrTooLarge = errors.New("joined object too large")

// ErrNoObjects is wrapped by Concat's error when there is no object under
// its prefix: it writes nothing then.
var ErrNoObjects = errors.New("no objects to join")

// errUploadEnded stops Concat's reading of the parts when the upload ended
// first (it failed).
var errUploadEnded = errors.New("the upload ended")

// Concat implements Store.
func (s *s3Store) Concat(ctx context.Context, srcPrefix, dstKey, contentType string, maxBytes int64,
	keep func(line []byte) bool) (lines, n int64, err error) {
	if srcPrefix == "" {
		return 0, 0, errors.New("concat: refusing the empty prefix, which is the whole bucket")
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	// An upload of unknown length is a multipart upload, begun before the
	// first byte is read: ask first whether there is anything to join.
	switch found, err := s.anyUnder(ctx, srcPrefix); {
	case err != nil:
		return 0, 0, fmt.Errorf("joining %s: listing: %w", S3URI(s.bucket, srcPrefix), err)
	case !found:
		return 0, 0, fmt.Errorf("joining %s: %w", S3URI(s.bucket, srcPrefix), ErrNoObjects)
	}
	pr, pw := io.Pipe()
	type result struct {
		lines, bytes int64
		err          error
	}
	read := make(chan result, 1)
	go func() {
		var res result
		res.lines, res.bytes, res.err = s.joinLines(ctx, srcPrefix, pw, maxBytes, keep)
		// A nil error is io.EOF to the upload: the object is complete. Any
		// other fails the upload, and no object is written.
		pw.CloseWithError(res.err)
		read <- res
	}()
	_, err = s.client.PutObject(ctx, s.bucket, dstKey, pr, -1,
		minio.PutObjectOptions{ContentType: contentType, PartSize: concatPartSize})
	pr.CloseWithError(errUploadEnded)
	res := <-read
	if res.err != nil && !errors.Is(res.err, errUploadEnded) {
		return 0, 0, fmt.Errorf("joining %s into %s: %w", S3URI(s.bucket, srcPrefix), S3URI(s.bucket, dstKey), res.err)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("put %s: %w", S3URI(s.bucket, dstKey), describe(ctx, err))
	}
	return res.lines, res.bytes, nil
}

// anyUnder reports whether there is an object under prefix.
func (s *s3Store) anyUnder(ctx context.Context, prefix string) (bool, error) {
	for _, err := range s.list(ctx, prefix) {
		return err == nil, err
	}
	return false, nil
}

// joinLines writes to w the lines of the objects under prefix that keep
// keeps, in the order of their keys.
func (s *s3Store) joinLines(ctx context.Context, prefix string, w io.Writer, maxBytes int64,
	keep func([]byte) bool) (lines, n int64, err error) {
	var objects int64
	last := ""
	r := bufio.NewReaderSize(nil, MaxLineBytes)
	for o, err := range s.list(ctx, prefix) {
		if err != nil {
			return lines, n, fmt.Errorf("listing: %w", err)
		}
		if objects++; objects > s.limits.MaxObjects {
			return lines, n, fmt.Errorf("more than %d objects: %w", s.limits.MaxObjects, ErrTooManyObjects)
		}
		if o.Key <= last {
			return lines, n, fmt.Errorf("the store listed %q after %q, out of order", o.Key, last)
		}
		last = o.Key
		obj, err := s.client.GetObject(ctx, s.bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			return lines, n, fmt.Errorf("get %s: %w", o.Key, describe(ctx, err))
		}
		r.Reset(obj)
		l, b, err := copyLines(r, w, maxBytes-n, keep)
		lines, n = lines+l, n+b
		obj.Close() //nolint:errcheck // read only; what was read was checked
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return lines, n, fmt.Errorf("longer than %d bytes: %w", maxBytes, err)
			}
			return lines, n, fmt.Errorf("reading %s: %w", o.Key, describe(ctx, err))
		}
	}
	return lines, n, nil
}

// copyLines copies to w the lines of r that keep keeps (all when keep is
// nil), each ended by a newline (a last line without one gets one), at most
// room bytes of them. It skips a line longer than MaxLineBytes.
func copyLines(r *bufio.Reader, w io.Writer, room int64, keep func([]byte) bool) (lines, n int64, err error) {
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Not a line of any writer that keeps to the limit: read past
			// it, whatever its length, holding no more of it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return lines, n, err
			}
			if err != nil {
				return lines, n, nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return lines, n, err
		}
		if len(bytes.TrimSpace(line)) > 0 && (keep == nil || keep(line)) {
			size := int64(len(line))
			ended := line[len(line)-1] == '\n'
			if !ended {
				size++
			}
			if size > room-n {
				return lines, n, ErrTooLarge
			}
			if _, werr := w.Write(line); werr != nil {
				return lines, n, werr
			}
			if !ended {
				if _, werr := w.Write([]byte{'\n'}); werr != nil {
					return lines, n, werr
				}
			}
			lines, n = lines+1, n+size
		}
		if err != nil { // io.EOF
			return lines, n, nil
		}
	}
}

// Exists implements Store.
func (s *s3Store) Exists(ctx context.Context, key string) (bool, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	_, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	var resp minio.ErrorResponse
	if err == nil {
		return true, nil
	}
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusNotFound {
		return false, fmt.Errorf("stat %s: %w", S3URI(s.bucket, key), describe(ctx, err))
	}
	// A HEAD's 404 has no body to tell a missing object from a missing
	// bucket, which is the store's fault, not an answer.
	switch ok, err := s.client.BucketExists(ctx, s.bucket); {
	case err != nil:
		return false, fmt.Errorf("stat %s: %w", S3URI(s.bucket, key), describe(ctx, err))
	case !ok:
		return false, fmt.Errorf("stat %s: NoSuchBucket: the bucket does not exist", S3URI(s.bucket, key))
	}
	return false, nil
}
