package artifacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestNewS3StoreValidates(t *testing.T) {
	valid := S3Config{Endpoint: "s3.example.com:9000", Bucket: "artifacts", AccessKeyID: "a", SecretAccessKey: "s"}
	cases := []struct {
		name    string
		mutate  func(*S3Config)
		wantErr string // "" for no error
	}{
		{name: "valid", mutate: func(*S3Config) {}},
		{name: "valid without port or region", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com" }},
		{name: "valid insecure", mutate: func(c *S3Config) { c.Endpoint = "127.0.0.1:9000"; c.Insecure = true }},
		{name: "empty endpoint", mutate: func(c *S3Config) { c.Endpoint = "" }, wantErr: "empty endpoint"},
		{name: "http scheme", mutate: func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000" }, wantErr: "without a scheme"},
		{name: "https scheme", mutate: func(c *S3Config) { c.Endpoint = "https://s3.example.com" }, wantErr: "without a scheme"},
		{name: "path", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com/artifacts" }, wantErr: "without a path"},
		{name: "trailing slash", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com/" }, wantErr: "without a path"},
		{name: "empty bucket", mutate: func(c *S3Config) { c.Bucket = "" }, wantErr: "empty bucket"},
		{name: "invalid bucket", mutate: func(c *S3Config) { c.Bucket = "b?" }, wantErr: `bucket "b?"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			store, err := NewS3Store(cfg, Limits{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("NewS3Store(%+v) = %v; want no error", cfg, err)
			case tc.wantErr == "" && store == nil:
				t.Fatalf("NewS3Store(%+v) = nil, nil; want a store", cfg)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("NewS3Store(%+v) = no error; want one containing %q", cfg, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("NewS3Store(%+v) = %v; want an error containing %q", cfg, err, tc.wantErr)
			}
		})
	}
}

// Bounds on the heap in use while a store lists forever: the test binary,
// the fake server's pages and a few pages of the listing, or one page of
// the longest minio-go decodes whole.
const (
	listingHeapBound = 16 << 20
	pageHeapBound    = 64 << 20
)

// TestManifestHeapIsBoundedOnAnEndlessListing: a store that lists new keys
// forever costs a few pages of memory, until the object limit ends it.
// (Store.List, which returned every object, took 33 MiB for these 100,000
// objects and 97 for 300,000, and grew until the process ran out.)
func TestManifestHeapIsBoundedOnAnEndlessListing(t *testing.T) {
	st, _ := newFakeStore(t, &fakeS3{list: endlessListing("p/", 0, nil)}, Limits{Timeout: 5 * time.Minute})
	peak := heapPeak()
	began := time.Now()
	m, err := st.Manifest(t.Context(), "p/")
	took, p := time.Since(began), peak()
	t.Logf("Manifest of an endless listing: %v after %v; peak heap in use %.1f MiB", err, took.Round(time.Millisecond), float64(p)/(1<<20))
	if !errors.Is(err, ErrTooManyObjects) {
		t.Errorf("Manifest = %+v, %v; want an error wrapping ErrTooManyObjects", m, err)
	}
	if p > listingHeapBound {
		t.Errorf("peak heap in use %d MiB listing %d objects; want at most %d MiB", p>>20, DefaultMaxObjects, listingHeapBound>>20)
	}
}

// TestDeletePrefixDeletesAsItLists: DeletePrefix deletes each page as it
// comes, so an endless listing costs a few pages of memory and deletes
// until the timeout ends it; what it deleted is counted.
func TestDeletePrefixDeletesAsItLists(t *testing.T) {
	var listed, deleted atomic.Int64
	var interleaved atomic.Bool // a page was listed after a deletion
	fake := &fakeS3{
		list: endlessListing("p/", 0, func(n int) {
			if listed.Store(int64(n)); deleted.Load() > 0 {
				interleaved.Store(true)
			}
		}),
		delete: func(w http.ResponseWriter, r *http.Request) {
			keys, _ := deleteRequest(r)
			deleted.Add(int64(len(keys)))
			writeDeleted(w, keys)
		},
	}
	st, _ := newFakeStore(t, fake, Limits{Timeout: 3 * time.Second})
	peak := heapPeak()
	objects, bytes, err := st.DeletePrefix(t.Context(), "p/")
	p := peak()
	t.Logf("DeletePrefix of an endless listing: %d objects, %d bytes, %v; %d listed; peak heap in use %.1f MiB",
		objects, bytes, err, listed.Load(), float64(p)/(1<<20))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3s timeout") {
		t.Errorf("DeletePrefix error = %v; want the timeout's", err)
	}
	// The store may have deleted the last batch when the timeout ended the
	// wait for its answer: that batch is not counted.
	if objects == 0 || objects < deleted.Load()-maxDeleteBatch || objects > deleted.Load() || !interleaved.Load() {
		t.Errorf("DeletePrefix deleted %d objects, the store %d, interleaved with the listing: %v; want them deleted as listed, and counted",
			objects, deleted.Load(), interleaved.Load())
	}
	if p > listingHeapBound {
		t.Errorf("peak heap in use %d MiB; want at most %d MiB", p>>20, listingHeapBound>>20)
	}
}

// TestManifestHeapIsBoundedOnAnEndlessPage: minio-go decodes a page of
// the listing whole, so the size of a response and the number of its XML
// elements are bounded.
func TestManifestHeapIsBoundedOnAnEndlessPage(t *testing.T) {
	entries := map[string]string{
		"objects":                `<Contents><Key>p/checkpoint-000000000001.bin</Key><Size>1</Size><ETag>"9e107d9d372bb6826bd81d3542a419d6"</ETag></Contents>`,
		"empty elements":         `<Contents/>`,
		"elements in namespaces": `<s3:Contents xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"/>`,
	}
	for name, entry := range entries {
		t.Run(name, func(t *testing.T) {
			page := []byte(strings.Repeat(entry, 1000))
			endlessPage := func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `<ListBucketResult><Name>runs</Name><IsTruncated>false</IsTruncated>`)
				for r.Context().Err() == nil {
					if _, err := w.Write(page); err != nil {
						return
					}
				}
			}
			st, _ := newFakeStore(t, &fakeS3{list: endlessPage}, Limits{})
			peak := heapPeak()
			m, err := st.Manifest(t.Context(), "p/")
			p := peak()
			t.Logf("Manifest of an endless page: %v; peak heap in use %.1f MiB", err, float64(p)/(1<<20))
			if err == nil || !strings.Contains(err.Error(), "s3://runs/p/: reading the store's answer: the store's response is longer than 8 MiB or 24576 XML elements") {
				t.Errorf("Manifest of an endless page = %+v, %v; want an error that says the answer is too long", m, err)
			}
			if p > pageHeapBound {
				t.Errorf("peak heap in use %d MiB; want at most %d MiB", p>>20, pageHeapBound>>20)
			}
		})
	}
}

// TestLimitedBodyCountsElements: a page as long as a page may be reads whole.
func TestLimitedBodyCountsElements(t *testing.T) {
	var page strings.Builder
	page.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>`)
	for range 1000 {
		page.WriteString(`<Contents><Key>` + strings.Repeat("%E6%A8%A1", 341) + `</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>` +
			`<ETag>&quot;9e107d9d372bb6826bd81d3542a419d6-10000&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>` +
			`<ChecksumType>FULL_OBJECT</ChecksumType><Size>5497558138880</Size><StorageClass>INTELLIGENT_TIERING</StorageClass>` +
			`<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>webfile</DisplayName></Owner>` +
			`<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress><RestoreExpiryDate>2026-01-02T00:00:00.000Z</RestoreExpiryDate></RestoreStatus></Contents>`)
	}
	page.WriteString(`</ListBucketResult>`)
	// As encoding/xml reads, through a 4 KiB buffer, and a byte at a time,
	// which splits every end tag's "</".
	for name, r := range map[string]func(io.Reader) io.Reader{
		"4 KiB":  func(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 4096) },
		"1 byte": iotest.OneByteReader,
	} {
		body := &limitedBody{ReadCloser: io.NopCloser(strings.NewReader(page.String()))}
		n, err := io.Copy(io.Discard, r(body))
		t.Logf("%s reads: a page of 1000 objects with the longest keys and every field: %.1f MB, %d elements", name, float64(n)/1e6, body.elements)
		if err != nil || body.elements != 14_000+2 {
			t.Errorf("%s reads of a page of 1000 objects with every field: %d elements, %v; want 14002 (and <?xml, ListBucketResult), no error", name, body.elements, err)
		}
	}
}

// TestStoreCallsHaveADeadline: a store that never answers, or answers
// slowly forever, costs each call its timeout, and the error says so.
func TestStoreCallsHaveADeadline(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	// The server notices the client has gone, and ends r's context, once
	// it has read r's body.
	stall := func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}
	cases := map[string]*fakeS3{
		"no answer":     {list: stall},
		"slow, endless": {list: endlessListing("p/", 50*time.Millisecond, nil)},
		"no answer to deletes": {
			pages:  [][]Object{{{Key: "p/a", Size: 1}}},
			delete: stall,
		},
	}
	for name, fake := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, _ := newFakeStore(t, fake, Limits{Timeout: timeout})
			calls := map[string]func() error{
				"Manifest": func() error { _, err := st.Manifest(t.Context(), "p/"); return err },
				"DeletePrefix": func() error {
					_, _, err := st.DeletePrefix(t.Context(), "p/")
					return err
				},
			}
			for call, f := range calls {
				if call == "Manifest" && fake.delete != nil {
					continue // lists at once
				}
				began := time.Now()
				err := f()
				took := time.Since(began)
				t.Logf("%s: %v in %v", call, err, took.Round(time.Millisecond))
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not done within the operator's 500ms timeout") {
					t.Errorf("%s error = %v; want one that says the store did not answer within the timeout", call, err)
				}
				if took > timeout+time.Second {
					t.Errorf("%s took %v; want about the %v timeout", call, took, timeout)
				}
			}
		})
	}
}

func TestManifestStopsPastMaxObjects(t *testing.T) {
	var pages [][]Object
	for p := range 3 {
		var page []Object
		for i := range 4 {
			page = append(page, Object{Key: fmt.Sprintf("p/%d-%d", p, i), Size: 1, ETag: "e"})
		}
		pages = append(pages, page)
	}
	for _, tc := range []struct {
		max     int64
		wantErr bool
	}{{max: 11, wantErr: true}, {max: 12}, {max: 13}} {
		st, _ := newFakeStore(t, &fakeS3{pages: pages}, Limits{MaxObjects: tc.max})
		m, err := st.Manifest(t.Context(), "p/")
		switch {
		case tc.wantErr && !errors.Is(err, ErrTooManyObjects):
			t.Errorf("MaxObjects %d: Manifest of 12 objects = %+v, %v; want an error wrapping ErrTooManyObjects", tc.max, m, err)
		case tc.wantErr && !strings.Contains(err.Error(), "s3://runs/p/: too many objects: more than 11"):
			t.Errorf("MaxObjects %d: Manifest error %q does not say where and how many", tc.max, err)
		case !tc.wantErr && (err != nil || m.Objects != 12):
			t.Errorf("MaxObjects %d: Manifest of 12 objects = %+v, %v; want 12 objects", tc.max, m, err)
		}
	}
}

// TestManifestEqualsNewManifest: the manifest computed as the listing
// comes is the one of the objects listed, across pages, with keys relative
// to the prefix, quotes trimmed from ETags, and keys that are not UTF-8.
func TestManifestEqualsNewManifest(t *testing.T) {
	pages := [][]Object{
		{{Key: "p/a", Size: 1, ETag: "e1"}, {Key: "p/a b+c", Size: 2, ETag: "e2"}},
		{{Key: "p/a.tar", Size: 3, ETag: "e3-2"}, {Key: "p/a/x", Size: 4, ETag: "e4"}},
		{{Key: "p/bad\xfe", Size: 5, ETag: "e5"}, {Key: "p/bad\xff", Size: 6, ETag: "e6"}, {Key: "p/模型", Size: 7, ETag: "e7"}},
	}
	var rel []Object
	for _, page := range pages {
		for _, o := range page {
			o.Key = strings.TrimPrefix(o.Key, "p/")
			rel = append(rel, o)
		}
	}
	st, _ := newFakeStore(t, &fakeS3{pages: pages}, Limits{})
	got, err := st.Manifest(t.Context(), "p/")
	if err != nil {
		t.Fatal(err)
	}
	if want := NewManifest(rel); got != want {
		t.Errorf("Manifest = %+v; want %+v, NewManifest of the listing", got, want)
	}
}

// TestManifestRefusesAnUnsortedListing: S3 lists keys in ascending byte
// order, and the digest is computed as they come; a store that lists them
// otherwise is refused rather than summarised wrongly.
func TestManifestRefusesAnUnsortedListing(t *testing.T) {
	cases := map[string][][]Object{
		"across pages": {{{Key: "p/b"}, {Key: "p/c"}}, {{Key: "p/a"}}},
		"in a page":    {{{Key: "p/b"}, {Key: "p/a"}}},
		"twice":        {{{Key: "p/a"}}, {{Key: "p/a"}}},
		// "a/x" after "a.tar" in bytes ('.' < '/'), not as a directory walk
		// would list them.
		"walk order": {{{Key: "p/a/x"}, {Key: "p/a.tar"}}},
	}
	for name, pages := range cases {
		t.Run(name, func(t *testing.T) {
			st, _ := newFakeStore(t, &fakeS3{pages: pages}, Limits{})
			m, err := st.Manifest(t.Context(), "p/")
			if err == nil || !strings.Contains(err.Error(), "out of the ascending byte order S3 lists keys in") {
				t.Errorf("Manifest of %v = %+v, %v; want an error that says the listing is out of order", pages, m, err)
			}
		})
	}
}

// TestStoreErrorsSayWhy: every error names where it failed and why: the
// transport's error, the timeout, or the S3 error code and HTTP status,
// which minio-go's ErrorResponse leaves out of its message.
func TestStoreErrorsSayWhy(t *testing.T) {
	t.Parallel() // with the other tests that do not measure the heap
	respond := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	s3Err := func(code, message string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + message +
			`</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`
	}
	refused := func() string { // a loopback port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return addr
	}()

	cases := []struct {
		name string
		list http.HandlerFunc // nil: refused
		want []string
		code string // of the minio.ErrorResponse wrapped, if any
	}{
		{name: "connection refused", want: []string{"connection refused"}},
		{name: "no such bucket", list: respond(http.StatusNotFound, s3Err("NoSuchBucket", "The specified bucket does not exist")),
			want: []string{"NoSuchBucket (HTTP 404): The specified bucket does not exist"}, code: "NoSuchBucket"},
		{name: "access denied", list: respond(http.StatusForbidden, s3Err("AccessDenied", "Access Denied")),
			want: []string{"AccessDenied (HTTP 403): Access Denied"}, code: "AccessDenied"},
		{name: "forbidden without a body", list: respond(http.StatusForbidden, ""),
			want: []string{"AccessDenied (HTTP 403): Access Denied."}, code: "AccessDenied"},
		{name: "signature", list: respond(http.StatusForbidden, s3Err("SignatureDoesNotMatch", "")),
			want: []string{"SignatureDoesNotMatch (HTTP 403): The request signature we calculated does not match"}, code: "SignatureDoesNotMatch"},
		{name: "slow down", list: respond(http.StatusServiceUnavailable, s3Err("SlowDown", "Please reduce your request rate.")),
			want: []string{"SlowDown (HTTP 503): Please reduce your request rate."}, code: "SlowDown"},
		{name: "error without a message", list: respond(http.StatusBadRequest, "<Error><Code>Weird</Code></Error>"),
			want: []string{"Weird (HTTP 400): Error response code Weird."}, code: "Weird"},
		{name: "error without a code", list: respond(http.StatusServiceUnavailable, "<Error></Error>"),
			want: []string{"HTTP 503 Service Unavailable"}},
		{name: "not S3", list: respond(http.StatusBadGateway, "<html>bad gateway</html>"),
			want: []string{"HTTP 502 Bad Gateway: <html>bad gateway</html>"}},
		{name: "empty 500", list: respond(http.StatusInternalServerError, ""),
			want: []string{"HTTP 500 Internal Server Error"}},
		{name: "not XML", list: respond(http.StatusOK, "{}"), want: []string{"reading the store's answer: EOF"}},
		{name: "bad XML", list: respond(http.StatusOK, "<ListBucketResult><"), want: []string{"reading the store's answer: XML syntax error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var st Store
			if tc.list == nil {
				st = newTestStore(t, refused, Limits{})
			} else {
				st, _ = newFakeStore(t, &fakeS3{list: tc.list}, Limits{})
			}
			_, mErr := st.Manifest(t.Context(), "p/")
			_, _, dErr := st.DeletePrefix(t.Context(), "p/")
			for call, err := range map[string]error{"Manifest": mErr, "DeletePrefix": dErr} {
				t.Logf("%s: %v", call, err)
				if err == nil {
					t.Fatalf("%s = no error; want one", call)
				}
				for _, want := range append([]string{"s3://runs/p/: "}, tc.want...) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s error %q does not say %q", call, err, want)
					}
				}
				var resp minio.ErrorResponse
				if tc.code != "" && (!errors.As(err, &resp) || resp.Code != tc.code) {
					t.Errorf("%s error %q does not wrap an S3 %s error", call, err, tc.code)
				}
			}
		})
	}

	t.Run("object not deleted", func(t *testing.T) {
		fake := &fakeS3{
			pages: [][]Object{{{Key: "p/a", Size: 1}, {Key: "p/held", Size: 2}}},
			delete: respond(http.StatusOK, `<DeleteResult><Deleted><Key>p/a</Key></Deleted>`+
				`<Error><Key>p/held</Key><Code>AccessDenied</Code><Message>Access Denied because object protected by object lock.</Message></Error></DeleteResult>`),
		}
		st, _ := newFakeStore(t, fake, Limits{})
		objects, bytes, err := st.DeletePrefix(t.Context(), "p/")
		t.Logf("DeletePrefix: %v", err)
		want := "delete objects under s3://runs/p/: delete s3://runs/p/held: AccessDenied: Access Denied because object protected by object lock."
		if objects != 1 || bytes != 1 || err == nil || err.Error() != want {
			t.Errorf("DeletePrefix = %d, %d, %v; want 1, 1, %q", objects, bytes, err, want)
		}
	})
}
