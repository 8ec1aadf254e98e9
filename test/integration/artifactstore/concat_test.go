package artifactstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/crucible-dev/crucible/internal/artifacts"
)

// putString writes data under key.
func (e *env) putString(t *testing.T, key, data string) {
	t.Helper()
	if _, err := e.client.PutObject(t.Context(), e.bucket, key, strings.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

// get reads key, and reports whether it exists.
func (e *env) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	obj, err := e.client.GetObject(t.Context(), e.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code == "NoSuchKey" {
		return "", false
	}
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return string(data), true
}

// TestConcat: Concat joins the lines of a prefix's objects in key order
// into one object, keeps the lines its filter keeps, and writes nothing when
// it cannot write all of it.
func TestConcat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chunks := "runs/ns/exp/uid/a/a-uid.steps/"
	// Written out of order; listed, and joined, in key order. The last
	// line of a chunk may lack its newline; empty lines are dropped.
	e.putString(t, chunks+"0000000000010.jsonl", `{"step":10}`+"\n"+`{"step":11}`)
	e.putString(t, chunks+"0000000000000.jsonl", `{"step":0}`+"\n\n"+`{"step":1}`+"\n")
	e.putString(t, chunks+"0000000000002.jsonl", `{"step":1}`+"\n"+`{"step":2}`+"\n")
	// Beside the prefix: never joined.
	e.putString(t, "runs/ns/exp/uid/a/a-uid.steps-other/x.jsonl", `{"step":99}`+"\n")
	dst := "runs/ns/exp/uid/a/a-uid/metrics.jsonl"

	lines, n, err := e.store.Concat(t.Context(), chunks, dst, "application/jsonl", 1<<20, nil)
	want := `{"step":0}` + "\n" + `{"step":1}` + "\n" + `{"step":1}` + "\n" + `{"step":2}` + "\n" + `{"step":10}` + "\n" + `{"step":11}` + "\n"
	if err != nil || lines != 6 || n != int64(len(want)) {
		t.Fatalf("Concat = %d, %d, %v; want 6, %d, nil", lines, n, err, len(want))
	}
	if got, _ := e.get(t, dst); got != want {
		t.Errorf("joined %q; want %q", got, want)
	}
	if ok, err := e.store.Exists(t.Context(), dst); !ok || err != nil {
		t.Errorf("Exists(joined) = %v, %v; want true, nil", ok, err)
	}

	t.Run("keep drops the lines it refuses", func(t *testing.T) {
		seen := map[string]bool{}
		keep := func(line []byte) bool {
			k := string(bytes.TrimSpace(line))
			if seen[k] {
				return false
			}
			seen[k] = true
			return true
		}
		lines, _, err := e.store.Concat(t.Context(), chunks, dst, "application/jsonl", 1<<20, keep)
		if err != nil || lines != 5 {
			t.Fatalf("Concat = %d lines, %v; want 5, nil", lines, err)
		}
		got, _ := e.get(t, dst)
		if strings.Count(got, `{"step":1}`) != 1 {
			t.Errorf("joined %q; want step 1 once", got)
		}
	})

	t.Run("an object larger than a part is uploaded in parts", func(t *testing.T) {
		big := "runs/ns/exp/uid/b/b-uid.steps/"
		line := fmt.Sprintf(`{"step":0,"pad":%q}`, strings.Repeat("x", 1000)) + "\n"
		for i := range 12 { // 12 chunks of 512 KiB: 6 MiB, two parts
			e.putString(t, fmt.Sprintf("%s%013d.jsonl", big, i), strings.Repeat(line, 512*1024/len(line)))
		}
		dst := "runs/ns/exp/uid/b/b-uid/metrics.jsonl"
		lines, n, err := e.store.Concat(t.Context(), big, dst, "application/jsonl", 64<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := e.get(t, dst)
		if int64(len(got)) != n || lines != int64(12*(512*1024/len(line))) || n <= 5<<20 {
			t.Errorf("joined %d bytes, Concat said %d lines, %d bytes; want over 5 MiB", len(got), lines, n)
		}
	})

	t.Run("too large: nothing is written", func(t *testing.T) {
		dst := "runs/ns/exp/uid/a/a-uid/small.jsonl"
		_, _, err := e.store.Concat(t.Context(), chunks, dst, "application/jsonl", 20, nil)
		if !errors.Is(err, artifacts.ErrTooLarge) {
			t.Fatalf("Concat over maxBytes: %v; want ErrTooLarge", err)
		}
		if _, ok := e.get(t, dst); ok {
			t.Errorf("%s was written", dst)
		}
		if ok, err := e.store.Exists(t.Context(), dst); ok || err != nil {
			t.Errorf("Exists(unwritten) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("a line too long is skipped, however long", func(t *testing.T) {
		long := "runs/ns/exp/uid/c/c-uid.steps/"
		e.putString(t, long+"0000000000000.jsonl", `{"step":0}`+"\n"+strings.Repeat("y", 3*artifacts.MaxLineBytes)+"\n"+`{"step":1}`+"\n")
		e.putString(t, long+"0000000000002.jsonl", `{"step":2}`+"\n"+strings.Repeat("z", artifacts.MaxLineBytes+1))
		dst := "runs/ns/exp/uid/c/c-uid/metrics.jsonl"
		lines, _, err := e.store.Concat(t.Context(), long, dst, "application/jsonl", 1<<20, nil)
		if err != nil || lines != 3 {
			t.Fatalf("Concat with long lines = %d lines, %v; want 3, nil", lines, err)
		}
		want := `{"step":0}` + "\n" + `{"step":1}` + "\n" + `{"step":2}` + "\n"
		if got, _ := e.get(t, dst); got != want {
			t.Errorf("joined %q; want %q", got, want)
		}
	})

	t.Run("too many objects", func(t *testing.T) {
		limited := newStoreWith(t, e.srv, e.bucket, e.srv.Region, artifacts.Limits{MaxObjects: 2})
		_, _, err := limited.Concat(t.Context(), chunks, "runs/x.jsonl", "application/jsonl", 1<<20, nil)
		if !errors.Is(err, artifacts.ErrTooManyObjects) {
			t.Errorf("Concat of 3 objects with MaxObjects 2: %v; want ErrTooManyObjects", err)
		}
	})

	t.Run("no objects: nothing is written", func(t *testing.T) {
		dst := "runs/empty.jsonl"
		_, _, err := e.store.Concat(t.Context(), "runs/none/", dst, "application/jsonl", 1<<20, nil)
		if !errors.Is(err, artifacts.ErrNoObjects) {
			t.Fatalf("Concat of nothing: %v; want ErrNoObjects", err)
		}
		if _, ok := e.get(t, dst); ok {
			t.Errorf("%s was written", dst)
		}
	})

	t.Run("refuses the whole bucket", func(t *testing.T) {
		if _, _, err := e.store.Concat(t.Context(), "", "x", "text/plain", 1, nil); err == nil {
			t.Error("Concat of the empty prefix: nil error")
		}
	})

	t.Run("a missing bucket is an error, not a missing object", func(t *testing.T) {
		other := newStore(t, e.srv, "no-such-bucket", e.srv.Region)
		ok, err := other.Exists(t.Context(), dst)
		if ok || err == nil {
			t.Errorf("Exists in a missing bucket = %v, %v; want false and an error", ok, err)
		}
	})
}
