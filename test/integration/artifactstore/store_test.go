// Package artifactstore_test tests internal/artifacts' S3 store against a
// real S3 server: versitygw from bin/ (make s3-assets), one per test.
package artifactstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/test/s3server"
)

const (
	// bucket is the bucket each test's server has.
	bucket = "artifacts"
	// lockedBucket is a bucket with S3 Object Lock, whose objects a legal
	// hold keeps from deletion.
	lockedBucket = "locked-artifacts"
	// storePrefix is the store's configured prefix, as the operator passes
	// it to TrialPrefix.
	storePrefix = "runs"
	// unreachableBound is the most a call to a stopped server may take. The
	// store tries 3 times with at most 1 s between tries, so a refused
	// connection fails within a few seconds; the bound is generous for
	// loaded CI machines.
	unreachableBound = 30 * time.Second
)

// env is one test's S3 server, a client of its own to seed and check the
// bucket with, and the store under test.
type env struct {
	srv    *s3server.Server
	client *minio.Client
	bucket string
	store  artifacts.Store
}

// newEnv starts a server with an empty bucket and a store over it.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, bucket, minio.MakeBucketOptions{})
}

// newEnvWith starts a server, makes bucket with opts, and builds a store
// over it.
func newEnvWith(t *testing.T, bucket string, opts minio.MakeBucketOptions) *env {
	t.Helper()
	srv := s3server.StartT(t, t.TempDir())
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	opts.Region = srv.Region
	if err := client.MakeBucket(t.Context(), bucket, opts); err != nil {
		t.Fatalf("MakeBucket %s: %v", bucket, err)
	}
	return &env{srv: srv, client: client, bucket: bucket, store: newStore(t, srv, bucket, srv.Region)}
}

// newStore is a store over bucket of srv, as the operator would build it,
// with the default limits.
func newStore(t *testing.T, srv *s3server.Server, bucket, region string) artifacts.Store {
	t.Helper()
	return newStoreWith(t, srv, bucket, region, artifacts.Limits{})
}

func newStoreWith(t *testing.T, srv *s3server.Server, bucket, region string, limits artifacts.Limits) artifacts.Store {
	t.Helper()
	store, err := artifacts.NewS3Store(artifacts.S3Config{
		Endpoint:        srv.Host(),
		Bucket:          bucket,
		Region:          region,
		Insecure:        true,
		AccessKeyID:     srv.AccessKey,
		SecretAccessKey: srv.SecretKey,
	}, limits)
	if err != nil {
		t.Fatalf("NewS3Store: %v", err)
	}
	return store
}

// put writes key with size bytes of content and returns what PutObject
// reports, as an Object with a full key.
func (e *env) put(t *testing.T, key string, size int) artifacts.Object {
	t.Helper()
	data := bytes.Repeat([]byte{byte(len(key))}, size)
	info, err := e.client.PutObject(t.Context(), e.bucket, key, bytes.NewReader(data), int64(size), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	return artifacts.Object{Key: info.Key, Size: info.Size, ETag: info.ETag}
}

// putMany writes n small objects "<prefix>obj-NNNN" (NNNN from 0) in parallel
// and returns their total size.
func (e *env) putMany(t *testing.T, prefix string, n int) (total int64) {
	t.Helper()
	const workers = 16
	sizes := make([]int64, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				key := fmt.Sprintf("%sobj-%04d", prefix, i)
				data := bytes.Repeat([]byte{'x'}, i%7)
				_, errs[i] = e.client.PutObject(t.Context(), e.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
				sizes[i] = int64(len(data))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	for _, s := range sizes {
		total += s
	}
	return total
}

// keys lists the whole bucket with the test's own client, sorted.
func (e *env) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for obj := range e.client.ListObjects(t.Context(), e.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("ListObjects: %v", obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	slices.Sort(keys)
	return keys
}

// manifest is e.store.Manifest, failing the test on an error.
func (e *env) manifest(t *testing.T, prefix string) artifacts.Manifest {
	t.Helper()
	m, err := e.store.Manifest(t.Context(), prefix)
	if err != nil {
		t.Fatalf("Manifest(%q): %v", prefix, err)
	}
	return m
}

// stat is the objects under prefix as the test's own client lists them
// and StatObject reports them, with keys relative to prefix.
func (e *env) stat(t *testing.T, prefix string) []artifacts.Object {
	t.Helper()
	var objs []artifacts.Object
	for obj := range e.client.ListObjects(t.Context(), e.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("ListObjects: %v", obj.Err)
		}
		st, err := e.client.StatObject(t.Context(), e.bucket, obj.Key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("StatObject %s: %v", obj.Key, err)
		}
		objs = append(objs, artifacts.Object{Key: strings.TrimPrefix(st.Key, prefix), Size: st.Size, ETag: st.ETag})
	}
	return objs
}

func sortByKey(objs []artifacts.Object) {
	slices.SortFunc(objs, func(a, b artifacts.Object) int { return strings.Compare(a.Key, b.Key) })
}

// relative returns objs with prefix cut from their keys, sorted by key.
func relative(objs []artifacts.Object, prefix string) []artifacts.Object {
	out := make([]artifacts.Object, len(objs))
	for i, o := range objs {
		o.Key = strings.TrimPrefix(o.Key, prefix)
		out[i] = o
	}
	sortByKey(out)
	return out
}

func TestManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trialA := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	trialAB := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "ab", "ab-uid")

	var written []artifacts.Object // under trialA, full keys
	for key, size := range map[string]int{
		"model/weights.bin":        2048,
		"metrics.json":             17,
		"logs/rank-0/stdout.txt":   100,
		"a/b/c/d/e/deep.txt":       1,
		"empty":                    0,
		"模型 é/weights (1).bin":     5,
		"with+plus&amp=eq?q#h.txt": 3,
		// "model.bin" sorts between "model/..." and "model-2" in bytes
		// ('-' < '.' < '/'), not as a directory walk would list them.
		"model.bin": 6,
		"model-2":   7,
	} {
		written = append(written, e.put(t, trialA+key, size))
	}
	// One multipart object, whose ETag is not an MD5 but "<hex>-<parts>".
	const partSize = 5 << 20
	data := bytes.Repeat([]byte{'m'}, partSize+1)
	info, err := e.client.PutObject(t.Context(), e.bucket, trialA+"model/big.bin", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{PartSize: partSize})
	if err != nil {
		t.Fatalf("PutObject (multipart): %v", err)
	}
	if !strings.HasSuffix(info.ETag, "-2") {
		t.Fatalf("multipart PutObject: ETag %q, want one ending in -2", info.ETag)
	}
	written = append(written, artifacts.Object{Key: info.Key, Size: info.Size, ETag: info.ETag})
	// Neighbours that a prefix without its final "/" would take in.
	e.put(t, trialAB+"model/weights.bin", 10)
	e.put(t, strings.TrimSuffix(trialA, "/")+".tar", 4) // "runs/ns/exp/a.tar"
	e.put(t, artifacts.ExperimentPrefix(storePrefix, "ns", "exp", "exp-uid")+"summary.json", 8)
	e.put(t, artifacts.TrialPrefix(storePrefix, "ns2", "exp", "exp-uid", "a", "a-uid")+"metrics.json", 9)

	got := e.manifest(t, trialA)

	t.Run("of relative keys, sizes and ETags as StatObject reports them", func(t *testing.T) {
		if diff := cmp.Diff(artifacts.NewManifest(e.stat(t, trialA)), got); diff != "" {
			t.Errorf("Manifest(%q) mismatch (-StatObject +Manifest):\n%s", trialA, diff)
		}
	})

	t.Run("equals the one of what was written", func(t *testing.T) {
		want := artifacts.NewManifest(relative(written, trialA))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Manifest mismatch (-PutObject +Manifest):\n%s", diff)
		}
		if want.Objects != int64(len(written)) {
			t.Errorf("manifest counts %d objects; want %d", want.Objects, len(written))
		}
	})

	t.Run("experiment prefix holds both trials", func(t *testing.T) {
		// "a.tar" sorts before "a/..." in bytes ('.' < '/'): the store must
		// list it first, or Manifest refuses the listing.
		exp := artifacts.ExperimentPrefix(storePrefix, "ns", "exp", "exp-uid")
		want := artifacts.NewManifest(e.stat(t, exp))
		if diff := cmp.Diff(want, e.manifest(t, exp)); diff != "" {
			t.Errorf("Manifest(%q) mismatch (-StatObject +Manifest):\n%s", exp, diff)
		}
		if n := int64(len(written)) + 3; want.Objects != n {
			t.Errorf("Manifest(%q) counts %d objects; want %d", exp, want.Objects, n)
		}
	})

	t.Run("empty prefix lists nothing", func(t *testing.T) {
		p := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "never-ran", "never-ran-uid")
		if m, err := e.store.Manifest(t.Context(), p); err != nil || m != artifacts.NewManifest(nil) {
			t.Errorf("Manifest(%q) = %+v, %v; want no objects, no error", p, m, err)
		}
	})

	t.Run("store without a region asks the server for it", func(t *testing.T) {
		m, err := newStore(t, e.srv, e.bucket, "").Manifest(t.Context(), trialA)
		if err != nil {
			t.Fatalf("Manifest(%q) without a region: %v", trialA, err)
		}
		if diff := cmp.Diff(got, m); diff != "" {
			t.Errorf("Manifest(%q) without a region mismatch (-with +without):\n%s", trialA, diff)
		}
	})
}

func TestDeletePrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trialA := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	trialAB := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "ab", "ab-uid")
	exp := artifacts.ExperimentPrefix(storePrefix, "ns", "exp", "exp-uid")

	var wantBytes int64
	for key, size := range map[string]int{"model/weights.bin": 4096, "metrics.json": 20, "logs/x/y/z.txt": 7, "empty": 0} {
		wantBytes += e.put(t, trialA+key, size).Size
	}
	kept := []string{
		trialAB + "model/weights.bin",
		strings.TrimSuffix(trialA, "/") + ".tar",
		exp + "summary.json",
		artifacts.TrialPrefix(storePrefix, "ns2", "exp", "exp-uid", "a", "a-uid") + "metrics.json",
	}
	for _, key := range kept {
		e.put(t, key, 3)
	}
	slices.Sort(kept)

	objects, bytes, err := e.store.DeletePrefix(t.Context(), trialA)
	if err != nil || objects != 4 || bytes != wantBytes {
		t.Fatalf("DeletePrefix(%q) = %d, %d, %v; want 4, %d, nil", trialA, objects, bytes, err, wantBytes)
	}
	if diff := cmp.Diff(kept, e.keys(t)); diff != "" {
		t.Errorf("bucket after DeletePrefix(%q) mismatch (-want +got):\n%s", trialA, diff)
	}
	if m := e.manifest(t, trialA); m.Objects != 0 {
		t.Errorf("Manifest(%q) after DeletePrefix = %+v; want nothing", trialA, m)
	}

	t.Run("idempotent", func(t *testing.T) {
		for _, p := range []string{trialA, artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "never-ran", "never-ran-uid")} {
			objects, bytes, err := e.store.DeletePrefix(t.Context(), p)
			if err != nil || objects != 0 || bytes != 0 {
				t.Errorf("DeletePrefix(%q) = %d, %d, %v; want 0, 0, nil", p, objects, bytes, err)
			}
		}
	})

	t.Run("refuses the whole bucket", func(t *testing.T) {
		objects, bytes, err := e.store.DeletePrefix(t.Context(), "")
		if err == nil || objects != 0 || bytes != 0 {
			t.Errorf(`DeletePrefix("") = %d, %d, %v; want 0, 0 and an error`, objects, bytes, err)
		}
		if diff := cmp.Diff(kept, e.keys(t)); diff != "" {
			t.Errorf(`bucket after DeletePrefix("") mismatch (-want +got):\n%s`, diff)
		}
	})
}

// TestPagination: S3 lists and deletes at most 1000 keys per request.
func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 1100
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "many", "many-uid")
	sibling := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "many2", "many2-uid")
	wantBytes := e.putMany(t, trial, n)
	e.putMany(t, sibling, 5)

	m := e.manifest(t, trial)
	if m.Objects != n || m.Bytes != wantBytes {
		t.Errorf("Manifest(%q) = %+v; want %d objects, %d bytes", trial, m, n, wantBytes)
	}
	if diff := cmp.Diff(artifacts.NewManifest(e.stat(t, trial)), m); diff != "" {
		t.Errorf("Manifest(%q) mismatch (-StatObject +Manifest):\n%s", trial, diff)
	}
	for limit, wantErr := range map[int64]bool{n - 1: true, n: false} {
		_, err := newStoreWith(t, e.srv, e.bucket, e.srv.Region, artifacts.Limits{MaxObjects: limit}).Manifest(t.Context(), trial)
		if errors.Is(err, artifacts.ErrTooManyObjects) != wantErr {
			t.Errorf("Manifest(%q) of %d objects with MaxObjects %d: %v; want ErrTooManyObjects: %v", trial, n, limit, err, wantErr)
		}
	}

	objects, bytes, err := e.store.DeletePrefix(t.Context(), trial)
	if err != nil || objects != n || bytes != wantBytes {
		t.Fatalf("DeletePrefix(%q) = %d, %d, %v; want %d, %d, nil", trial, objects, bytes, err, n, wantBytes)
	}
	if left := e.keys(t); len(left) != 5 || !strings.HasPrefix(left[0], sibling) || !strings.HasPrefix(left[4], sibling) {
		t.Errorf("bucket after DeletePrefix(%q) holds %d keys %q; want the 5 of %q", trial, len(left), left, sibling)
	}
}

// TestDeletePrefixGoesPastUndeletable: an object the store refuses to delete
// (here, under a legal hold) is reported, and the others, in its batch of
// 1000 and in the next, are deleted and counted.
func TestDeletePrefixGoesPastUndeletable(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, lockedBucket, minio.MakeBucketOptions{ObjectLocking: true})
	const n = 1100
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "held", "held-uid")
	total := e.putMany(t, trial, n)
	held := trial + "obj-0001" // 1 byte
	on, off := minio.LegalHoldEnabled, minio.LegalHoldDisabled
	if err := e.client.PutObjectLegalHold(t.Context(), e.bucket, held, minio.PutObjectLegalHoldOptions{Status: &on}); err != nil {
		t.Fatalf("PutObjectLegalHold %s: %v", held, err)
	}

	objects, bytes, err := e.store.DeletePrefix(t.Context(), trial)
	if err == nil || objects != n-1 || bytes != total-1 {
		t.Fatalf("DeletePrefix(%q) with %s held = %d, %d, %v; want %d, %d and an error", trial, held, objects, bytes, err, n-1, total-1)
	}
	t.Logf("DeletePrefix with an object held: %v", err)
	checkErr(t, "DeletePrefix", err, artifacts.S3URI(e.bucket, held), "AccessDenied")
	if diff := cmp.Diff([]string{held}, e.keys(t)); diff != "" {
		t.Errorf("bucket after DeletePrefix(%q) mismatch (-want +got):\n%s", trial, diff)
	}

	if err := e.client.PutObjectLegalHold(t.Context(), e.bucket, held, minio.PutObjectLegalHoldOptions{Status: &off}); err != nil {
		t.Fatalf("PutObjectLegalHold %s: %v", held, err)
	}
	objects, bytes, err = e.store.DeletePrefix(t.Context(), trial)
	if err != nil || objects != 1 || bytes != 1 {
		t.Errorf("DeletePrefix(%q) once released = %d, %d, %v; want 1, 1, nil", trial, objects, bytes, err)
	}
}

func TestMissingBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const missing = "no-such-bucket"
	store := newStore(t, e.srv, missing, e.srv.Region)
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	where := artifacts.S3URI(missing, trial)

	m, err := store.Manifest(t.Context(), trial)
	if err == nil {
		t.Fatalf("Manifest on a missing bucket = %+v, nil; want an error", m)
	}
	checkErr(t, "Manifest", err, where, "NoSuchBucket")

	objects, bytes, err := store.DeletePrefix(t.Context(), trial)
	if err == nil || objects != 0 || bytes != 0 {
		t.Fatalf("DeletePrefix on a missing bucket = %d, %d, %v; want 0, 0 and an error", objects, bytes, err)
	}
	checkErr(t, "DeletePrefix", err, where, "NoSuchBucket")

	if exists, err := e.client.BucketExists(t.Context(), missing); err != nil || exists {
		t.Errorf("BucketExists(%s) = %v, %v after List and DeletePrefix; want false: the store must not create buckets", missing, exists, err)
	}
}

func TestStoppedServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	put := e.put(t, trial+"model.bin", 64)
	put.Key = "model.bin"
	want := artifacts.NewManifest([]artifacts.Object{put})
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// A deadline far above the bound, so that the store's own retry bound,
	// not the context, ends the calls.
	ctx, cancel := context.WithTimeout(t.Context(), 2*unreachableBound)
	defer cancel()
	began := time.Now()
	m, err := e.store.Manifest(ctx, trial)
	took := time.Since(began)
	t.Logf("Manifest on a stopped server: %v in %v", err, took)
	if err == nil {
		t.Fatalf("Manifest on a stopped server = %+v, nil; want an error", m)
	}
	checkErr(t, "Manifest", err, artifacts.S3URI(bucket, trial), "")
	checkCause(t, "Manifest", err, "connection refused")
	if took > unreachableBound {
		t.Errorf("Manifest on a stopped server took %v; want at most %v", took, unreachableBound)
	}

	began = time.Now()
	objects, bytes, err := e.store.DeletePrefix(ctx, trial)
	took = time.Since(began)
	t.Logf("DeletePrefix on a stopped server: %v in %v", err, took)
	if err == nil || objects != 0 || bytes != 0 {
		t.Fatalf("DeletePrefix on a stopped server = %d, %d, %v; want 0, 0 and an error", objects, bytes, err)
	}
	checkErr(t, "DeletePrefix", err, artifacts.S3URI(bucket, trial), "")
	checkCause(t, "DeletePrefix", err, "connection refused")
	if took > unreachableBound {
		t.Errorf("DeletePrefix on a stopped server took %v; want at most %v", took, unreachableBound)
	}

	// The same store works again once the server is back.
	if err := e.srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, e.manifest(t, trial)); diff != "" {
		t.Errorf("Manifest after Restart mismatch (-want +got):\n%s", diff)
	}
	objects, bytes, err = e.store.DeletePrefix(t.Context(), trial)
	if err != nil || objects != 1 || bytes != 64 {
		t.Errorf("DeletePrefix after Restart = %d, %d, %v; want 1, 64, nil", objects, bytes, err)
	}
}

func TestNewS3StoreRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := artifacts.S3Config{Endpoint: "127.0.0.1:9000", Bucket: bucket, Insecure: true, AccessKeyID: "a", SecretAccessKey: "s"}
	cases := []struct {
		name    string
		mutate  func(*artifacts.S3Config)
		wantErr string
	}{
		{name: "scheme", mutate: func(c *artifacts.S3Config) { c.Endpoint = "http://127.0.0.1:9000" }, wantErr: "without a scheme"},
		{name: "empty bucket", mutate: func(c *artifacts.S3Config) { c.Bucket = "" }, wantErr: "empty bucket"},
		{name: "empty endpoint", mutate: func(c *artifacts.S3Config) { c.Endpoint = "" }, wantErr: "empty endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			if _, err := artifacts.NewS3Store(cfg, artifacts.Limits{}); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewS3Store(%+v) = %v; want an error containing %q", cfg, err, tc.wantErr)
			}
		})
	}
}

// checkErr checks that err says where it failed and, if code is not empty,
// wraps an S3 error with that code and says so.
func checkErr(t *testing.T, op string, err error, where, code string) {
	t.Helper()
	if !strings.Contains(err.Error(), where) {
		t.Errorf("%s error %q does not name %s", op, err, where)
	}
	if code == "" {
		return
	}
	checkCause(t, op, err, code)
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.Code != code {
		t.Errorf("%s error %q does not wrap an S3 %s error", op, err, code)
	}
}

// checkCause checks that err's message says why it failed.
func checkCause(t *testing.T, op string, err error, cause string) {
	t.Helper()
	if !strings.Contains(err.Error(), cause) {
		t.Errorf("%s error %q does not say %q", op, err, cause)
	}
}

// TestPut: a record written beside a trial's artifacts is stored byte for
// byte, replaces an older one, and stays out of the trial's manifest.
func TestPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	e.put(t, trial+"model.bin", 10)
	before := e.manifest(t, trial)
	key := strings.TrimSuffix(trial, "/") + ".provenance.intoto.jsonl"

	for _, data := range []string{`{"first":1}` + "\n", `{"second":2}` + "\n"} {
		if err := e.store.Put(t.Context(), key, []byte(data), "application/jsonl"); err != nil {
			t.Fatalf("Put: %v", err)
		}
		obj, err := e.client.GetObject(t.Context(), e.bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != data {
			t.Errorf("stored %q; want %q", got, data)
		}
		if st, err := obj.Stat(); err != nil || st.ContentType != "application/jsonl" {
			t.Errorf("content type %q (%v); want application/jsonl", st.ContentType, err)
		}
	}
	if after := e.manifest(t, trial); after != before {
		t.Errorf("the trial's manifest changed with the record beside it: %+v, was %+v", after, before)
	}

	t.Run("a missing bucket says so", func(t *testing.T) {
		other := newStore(t, e.srv, "no-such-bucket", e.srv.Region)
		err := other.Put(t.Context(), key, []byte("x"), "text/plain")
		if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Errorf("Put to a missing bucket: %v; want NoSuchBucket", err)
		}
	})
}

// TestCopy: Copy copies a prefix within the bucket by server-side copies
// that keep every object's ETag, a multipart object's included, so that
// the copy's manifest is the source's; it copies nothing the destination
// holds already, and nothing beside the source prefix.
func TestCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trialA := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "a", "a-uid")
	trialAB := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "ab", "ab-uid")
	model := artifacts.ModelVersionPrefix(storePrefix, "ns", "resnet", 1)

	var wantBytes int64
	for key, size := range map[string]int{
		"model/weights.bin":    4096,
		"metrics.json":         17,
		"a/b/c/deep.txt":       1,
		"empty":                0,
		"模型 é/weights (1).bin": 5,
		"with+plus&amp=eq?q#h": 3,
		"model.bin":            6,
	} {
		wantBytes += e.put(t, trialA+key, size).Size
	}
	// A multipart object of two parts and one of three, whose ETags are
	// "<hex>-2" and "<hex>-3", with a content type of their own.
	const partSize = 5 << 20
	for key, size := range map[string]int{"model/big.bin": partSize + 7, "model/bigger.bin": 2*partSize + 1} {
		data := bytes.Repeat([]byte{byte(size)}, size)
		info, err := e.client.PutObject(t.Context(), e.bucket, trialA+key, bytes.NewReader(data), int64(size),
			minio.PutObjectOptions{PartSize: partSize, ContentType: "application/x-safetensors"})
		if err != nil || !strings.Contains(info.ETag, "-") {
			t.Fatalf("multipart PutObject %s: %v, ETag %q", key, err, info.ETag)
		}
		wantBytes += int64(size)
	}
	e.put(t, trialAB+"model/weights.bin", 10)
	e.put(t, strings.TrimSuffix(trialA, "/")+".tar", 4)
	source := e.manifest(t, trialA)

	objects, copied, err := e.store.Copy(t.Context(), trialA, model)
	if err != nil || objects != 9 || copied != wantBytes {
		t.Fatalf("Copy = %d, %d, %v; want 9, %d, nil", objects, copied, err, wantBytes)
	}
	if got := e.manifest(t, model); got != source {
		t.Errorf("manifest of the copy %+v; want the source's %+v", got, source)
	}
	if diff := cmp.Diff(e.stat(t, trialA), e.stat(t, model)); diff != "" {
		t.Errorf("the copy's objects, as StatObject reports them (-source +copy):\n%s", diff)
	}
	st, err := e.client.StatObject(t.Context(), e.bucket, model+"model/bigger.bin", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "application/x-safetensors" {
		t.Errorf("the multipart copy's content type %q (%v); want the source's", st.ContentType, err)
	}
	obj, err := e.client.GetObject(t.Context(), e.bucket, model+"model/bigger.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data, err := io.ReadAll(obj); err != nil || !bytes.Equal(data, bytes.Repeat([]byte{byte((2*partSize + 1) % 256)}, 2*partSize+1)) {
		t.Errorf("the multipart copy's bytes differ from the source's (%v)", err)
	}
	for _, k := range e.keys(t) {
		if strings.HasPrefix(k, model) && !strings.HasPrefix(strings.Replace(k, model, trialA, 1), trialA) {
			t.Errorf("copied %s, which is not under %s", k, trialA)
		}
	}
	if n := len(e.stat(t, model)); n != 9 {
		t.Errorf("the copy holds %d objects; want 9, and none of the neighbours", n)
	}

	t.Run("again copies nothing", func(t *testing.T) {
		objects, bytes, err := e.store.Copy(t.Context(), trialA, model)
		if err != nil || objects != 0 || bytes != 0 {
			t.Errorf("Copy again = %d, %d, %v; want 0, 0, nil", objects, bytes, err)
		}
	})

	t.Run("goes on where a copy stopped", func(t *testing.T) {
		for _, k := range []string{"model/big.bin", "metrics.json"} {
			if err := e.client.RemoveObject(t.Context(), e.bucket, model+k, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		e.put(t, model+"model.bin", 1) // another size: copied again
		objects, bytes, err := e.store.Copy(t.Context(), trialA, model)
		if err != nil || objects != 3 || bytes != partSize+7+17+6 {
			t.Errorf("Copy after 3 objects of the copy went or changed = %d, %d, %v; want 3, %d, nil", objects, bytes, err, partSize+7+17+6)
		}
		if got := e.manifest(t, model); got != source {
			t.Errorf("manifest of the copy %+v; want the source's %+v", got, source)
		}
	})

	t.Run("refuses the whole bucket and prefixes one under the other", func(t *testing.T) {
		for _, p := range [][2]string{{"", model}, {trialA, ""}, {trialA, trialA + "copy/"}, {model, artifacts.NamespacePrefix(storePrefix, "ns")}} {
			if objects, _, err := e.store.Copy(t.Context(), p[0], p[1]); err == nil || objects != 0 {
				t.Errorf("Copy(%q, %q) = %d, %v; want an error", p[0], p[1], objects, err)
			}
		}
	})

	t.Run("an empty prefix copies nothing", func(t *testing.T) {
		never := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "never-ran", "u")
		objects, bytes, err := e.store.Copy(t.Context(), never, artifacts.ModelVersionPrefix(storePrefix, "ns", "resnet", 2))
		if err != nil || objects != 0 || bytes != 0 {
			t.Errorf("Copy of an empty prefix = %d, %d, %v; want 0, 0, nil", objects, bytes, err)
		}
	})
}

// TestCopyPagesAndLimits: Copy copies more than a page of the listing, and
// stops past Limits.MaxObjects; a stopped server fails it within the bound.
func TestCopyPagesAndLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 1100
	trial := artifacts.TrialPrefix(storePrefix, "ns", "exp", "exp-uid", "many", "many-uid")
	total := e.putMany(t, trial, n)

	limited := newStoreWith(t, e.srv, e.bucket, e.srv.Region, artifacts.Limits{MaxObjects: 1000})
	objects, _, err := limited.Copy(t.Context(), trial, artifacts.ModelVersionPrefix(storePrefix, "ns", "m", 1))
	if !errors.Is(err, artifacts.ErrTooManyObjects) || objects != 1000 {
		t.Errorf("Copy of %d objects with MaxObjects 1000 = %d, %v; want 1000 copied and ErrTooManyObjects", n, objects, err)
	}

	model := artifacts.ModelVersionPrefix(storePrefix, "ns", "m", 2)
	began := time.Now()
	objects, bytes, err := e.store.Copy(t.Context(), trial, model)
	t.Logf("Copy of %d small objects: %v", n, time.Since(began))
	if err != nil || objects != n || bytes != total {
		t.Fatalf("Copy = %d, %d, %v; want %d, %d, nil", objects, bytes, err, n, total)
	}
	if got, want := e.manifest(t, model), e.manifest(t, trial); got != want {
		t.Errorf("manifest of the copy %+v; want the source's %+v", got, want)
	}

	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*unreachableBound)
	defer cancel()
	began = time.Now()
	_, _, err = e.store.Copy(ctx, trial, artifacts.ModelVersionPrefix(storePrefix, "ns", "m", 3))
	took := time.Since(began)
	t.Logf("Copy on a stopped server: %v in %v", err, took)
	if err == nil || took > unreachableBound {
		t.Fatalf("Copy on a stopped server = %v in %v; want an error within %v", err, took, unreachableBound)
	}
	checkErr(t, "Copy", err, artifacts.S3URI(bucket, trial), "")
	checkCause(t, "Copy", err, "connection refused")
}
