package artifacts

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testBucket is the bucket of the fake S3 servers.
const testBucket = "runs"

// fakeS3 is an S3 API over HTTP, enough of it for minio-go's ListObjectsV2
// and DeleteObjects, whose answers a test chooses: unlike versitygw it can
// list forever, stall, or answer what no S3 server would.
type fakeS3 struct {
	// list answers a ListObjectsV2 request; by default listPages(pages).
	list http.HandlerFunc
	// delete answers a DeleteObjects request; by default deleteAll.
	delete http.HandlerFunc
	// pages is the listing of the default list: page i is pages[i].
	pages [][]Object
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch q := r.URL.Query(); {
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		if f.list != nil {
			f.list(w, r)
			return
		}
		listPages(f.pages)(w, r)
	case r.Method == http.MethodPost && q.Has("delete"):
		if f.delete != nil {
			f.delete(w, r)
			return
		}
		deleteAll(w, r)
	default:
		http.Error(w, "not faked: "+r.Method+" "+r.URL.String(), http.StatusNotImplemented)
	}
}

// newFakeStore serves h on loopback and returns a store over it, with the
// given limits, and the server's host:port.
func newFakeStore(t *testing.T, h http.Handler, limits Limits) (Store, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	return newTestStore(t, host, limits), host
}

func newTestStore(t *testing.T, host string, limits Limits) Store {
	t.Helper()
	// A region, so that minio-go does not ask for the bucket's location.
	st, err := NewS3Store(S3Config{Endpoint: host, Bucket: testBucket, Region: "us-east-1", Insecure: true,
		AccessKeyID: "AK", SecretAccessKey: "SK"}, limits)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// listPages answers with pages[token], the continuation token being the
// page's index.
func listPages(pages [][]Object) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("continuation-token"))
		if i >= len(pages) {
			writePage(w, nil, "")
			return
		}
		next := ""
		if i+1 < len(pages) {
			next = strconv.Itoa(i + 1)
		}
		writePage(w, pages[i], next)
	}
}

// endlessListing lists prefix+"<12 digits>" keys, 1000 a page, and never
// ends; each page takes delay. served is called with the number of the
// objects listed so far.
func endlessListing(prefix string, delay time.Duration, served func(n int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("continuation-token"))
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		page := make([]Object, 1000)
		for i := range page {
			n := from + i
			page[i] = Object{Key: fmt.Sprintf("%scheckpoints/epoch-%04d/step-%09d/model-00001-of-00008.safetensors", prefix, n/10_000, n),
				Size: int64(n), ETag: "9e107d9d372bb6826bd81d3542a419d6"}
		}
		writePage(w, page, strconv.Itoa(from+len(page)))
		if served != nil {
			served(from + len(page))
		}
	}
}

// writePage writes a ListObjectsV2 answer with objs, URL-encoded as
// minio-go asks, truncated if next is not empty.
func writePage(w http.ResponseWriter, objs []Object, next string) {
	page := fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
		`<Name>%s</Name><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>%t</IsTruncated>`,
		testBucket, len(objs), next != "")
	if next != "" {
		page = fmt.Appendf(page, "<NextContinuationToken>%s</NextContinuationToken>", next)
	}
	for _, o := range objs {
		page = fmt.Appendf(page, `<Contents><Key>%s</Key><Size>%d</Size><ETag>&quot;%s&quot;</ETag></Contents>`,
			url.QueryEscape(o.Key), o.Size, o.ETag)
	}
	page = append(page, "</ListBucketResult>"...)
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(page)
}

// deleteAll answers a DeleteObjects request: every key deleted.
func deleteAll(w http.ResponseWriter, r *http.Request) {
	keys, err := deleteRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeDeleted(w, keys)
}

// writeDeleted writes a DeleteObjects answer: keys deleted.
func writeDeleted(w http.ResponseWriter, keys []string) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for _, k := range keys {
		b.WriteString("<Deleted><Key>")
		_ = xml.EscapeText(&b, []byte(k))
		b.WriteString("</Key></Deleted>")
	}
	b.WriteString("</DeleteResult>")
	_, _ = w.Write(b.Bytes())
}

// deleteRequest is the keys a DeleteObjects request names.
func deleteRequest(r *http.Request) ([]string, error) {
	var req struct {
		Objects []struct{ Key string } `xml:"Object"`
	}
	if err := xml.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, err
	}
	keys := make([]string, len(req.Objects))
	for i, o := range req.Objects {
		keys[i] = o.Key
	}
	return keys, nil
}

// heapPeak samples the heap in use (runtime.MemStats.HeapInuse, read
// without stopping the world) every few milliseconds until the returned
// function is called, which returns the highest sample.
func heapPeak() func() uint64 {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			peak = max(peak, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		cancel()
		wg.Wait()
		return peak
	}
}
