package dashboard

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

func TestLoopbackHosts(t *testing.T) {
	loopback := []string{"localhost", "127.0.0.1", "::1"}
	tests := []struct {
		address string
		want    []string
	}{
		{"127.0.0.1:8080", loopback},
		{"localhost:0", loopback},
		{"[::1]:8080", loopback},
		{"127.0.0.2:8080", append(loopback, "127.0.0.2")},
		{":8080", nil},
		{"0.0.0.0:8080", nil},
		{"10.0.0.5:8080", nil},
		{"dashboard.example:80", nil},
		{"no-port", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, LoopbackHosts(tt.address)); diff != "" {
			t.Errorf("LoopbackHosts(%q) (-want +got):\n%s", tt.address, diff)
		}
	}
}

// TestServe starts the server on a free port, reads a page, and stops it
// by cancelling its context. The API server is never called.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, &rest.Config{Host: "http://127.0.0.1:1"}, Options{
			Address:      "127.0.0.1:0",
			AllowedHosts: LoopbackHosts("127.0.0.1:0"),
			Listening:    func(url string) { urls <- url },
		})
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Serve returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not listen within 10 s")
	}
	resp, err := http.Get(url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
		t.Errorf("GET /healthz: %d %q", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop within 10 s of its context's end")
	}
}
