package s3server

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestServer runs versitygw from bin/ (make s3-assets): bucket, objects,
// listing, then the server down and back with its data.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	began := time.Now()
	srv, err := Start(ctx, dir)
	if err != nil {
		t.Fatal(err) // names `make s3-assets` when bin/versitygw is missing
	}
	t.Logf("versitygw up on %s in %v (args: %s)", srv.Endpoint, time.Since(began), strings.Join(srv.Args(), " "))
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") || srv.AccessKey == "" || srv.SecretKey == "" || srv.Region == "" || srv.Dir != dir {
		t.Fatalf("server fields: %+v", srv)
	}

	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	const bucket = "artifacts"
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}

	objects := map[string][]byte{
		"trial-0/model.bin":    bytes.Repeat([]byte{0xAB}, 3<<20+17), // > one 1 MiB I/O buffer
		"trial-0/metrics.json": []byte(`{"loss":0.25}`),
		"trial-1/empty":        {},
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range objects {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		data := objects[k]
		info, err := client.PutObject(ctx, bucket, k, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			t.Fatalf("PutObject %s: %v", k, err)
		}
		if want := md5hex(data); info.ETag != want {
			t.Errorf("PutObject %s: ETag %q, want the MD5 %q", k, info.ETag, want)
		}
	}

	checkObjects := func(when string) {
		t.Helper()
		var got []string
		for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err != nil {
				t.Fatalf("%s: ListObjects: %v", when, obj.Err)
			}
			data, ok := objects[obj.Key]
			switch {
			case !ok:
				t.Errorf("%s: unexpected object %q", when, obj.Key)
			case obj.Size != int64(len(data)):
				t.Errorf("%s: %s: size %d, want %d", when, obj.Key, obj.Size, len(data))
			case obj.ETag != md5hex(data):
				t.Errorf("%s: %s: ETag %q, want %q", when, obj.Key, obj.ETag, md5hex(data))
			}
			t.Logf("%s: %s size=%d etag=%s", when, obj.Key, obj.Size, obj.ETag)
			got = append(got, obj.Key)
		}
		if !slices.Equal(got, keys) {
			t.Errorf("%s: listed %q, want %q", when, got, keys)
		}
		for _, k := range keys {
			r, err := client.GetObject(ctx, bucket, k, minio.GetObjectOptions{})
			if err != nil {
				t.Fatalf("%s: GetObject %s: %v", when, k, err)
			}
			var buf bytes.Buffer
			_, err = buf.ReadFrom(r)
			_ = r.Close()
			if err != nil {
				t.Fatalf("%s: GetObject %s: %v", when, k, err)
			}
			if !bytes.Equal(buf.Bytes(), objects[k]) {
				t.Errorf("%s: GetObject %s: %d bytes differ from the %d put", when, k, buf.Len(), len(objects[k]))
			}
		}
	}
	checkObjects("before stop")

	// The objects are plain files under Dir.
	if fi, err := os.Stat(filepath.Join(dir, bucket, "trial-0", "metrics.json")); err != nil || fi.Size() != int64(len(objects["trial-0/metrics.json"])) {
		t.Errorf("object file on disk: %v, %v", fi, err)
	}

	// Down: a request fails, at once (the client does not retry).
	began = time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("stopped in %v", time.Since(began))
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	reqCtx, reqCancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = client.StatObject(reqCtx, bucket, keys[0], minio.StatObjectOptions{})
	reqCancel()
	if err == nil {
		t.Fatal("StatObject succeeded on a stopped server")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StatObject on a stopped server hung until the deadline: %v", err)
	}
	t.Logf("while stopped: %v", err)

	// Back, on the same endpoint, credentials and data.
	endpoint := srv.Endpoint
	began = time.Now()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("restarted in %v", time.Since(began))
	if srv.Endpoint != endpoint {
		t.Fatalf("Restart moved the endpoint from %s to %s", endpoint, srv.Endpoint)
	}
	checkObjects("after restart")

	// DeleteObjects (multi-object delete), then the bucket is empty.
	objCh := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objCh <- minio.ObjectInfo{Key: k}
	}
	close(objCh)
	for e := range client.RemoveObjects(ctx, bucket, objCh, minio.RemoveObjectsOptions{}) {
		t.Errorf("RemoveObjects %s: %v", e.ObjectName, e.Err)
	}
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("after RemoveObjects: listed %q (err %v)", obj.Key, obj.Err)
	}
}

// TestMissingBinary: without the binary, Start fails (it does not skip) and
// the error says how to build it.
func TestMissingBinary(t *testing.T) {
	_, err := binaryIn(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make s3-assets") {
		t.Errorf("binaryIn(empty dir): %v, want an error naming make s3-assets", err)
	}

	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "versitygw"))
	_, err = Start(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make s3-assets") {
		t.Errorf("Start with a missing $%s: %v, want an error naming make s3-assets", EnvBinary, err)
	}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
