package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
)

// TestTuneConfigCompression checks what the manager's client really sends:
// it asks for gzip only when --kube-api-compression is set.
func TestTuneConfigCompression(t *testing.T) {
	for _, tc := range []struct {
		name        string
		compression bool
		wantGzip    bool
	}{
		{name: "default: no compression", compression: false, wantGzip: false},
		{name: "--kube-api-compression", compression: true, wantGzip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Accept-Encoding")
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()

			cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
			tuneConfig(cfg, options{kubeAPIQPS: -1, kubeAPIBurst: 7, kubeAPICompression: tc.compression})
			if cfg.QPS != -1 || cfg.Burst != 7 {
				t.Errorf("QPS, Burst = %v, %d; want -1, 7", cfg.QPS, cfg.Burst)
			}
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(srv.URL + "/api")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if gzip := got == "gzip"; gzip != tc.wantGzip {
				t.Errorf("Accept-Encoding = %q; want gzip: %v", got, tc.wantGzip)
			}
		})
	}
}
