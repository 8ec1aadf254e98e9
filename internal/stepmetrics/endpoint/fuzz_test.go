package endpoint

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// FuzzHandler sends the Handler arbitrary bodies, tokens and trial names
// and checks that it never panics, answers only the documented statuses,
// explains every refusal in a JSON body, and hands the Sink only reports
// within the limits.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		goodBody,
		`{"step": 1e12, "metrics": {"a": 1, "b": -2.5e-300}}`,
		`{"step": 1, "metrics": {"loss": NaN}}`,
		`{"step": -Infinity, "metrics": {}}`,
		`{"step": "1", "metrics": {"a": "b"}}`,
		`{"step": 1, "metrics": {"a": {"b": [1, 2, {"c": null}]}}}`,
		`{"step": 1, "step": 2}`,
		`[{"step": 1}]`,
		`{"step": 1, "metrics": {"\u0000\ud800": 1}}`,
		`{"step"`,
		"",
		"\xff\xfe",
	}
	for _, s := range seeds {
		f.Add([]byte(s), tokenT1, "t1")
	}
	f.Add([]byte(goodBody), "token-t2", "t1")
	f.Add([]byte(goodBody), "", "t1")
	f.Add([]byte(goodBody), tokenT1, "gone")
	f.Add([]byte(goodBody), tokenT1, "a/b/../t1")
	f.Add([]byte(goodBody), "token-t1 x", "%2e%2e")

	fx := newFixture(f, stepmetrics.RateLimits{PerSecond: math.MaxFloat64, Burst: math.MaxInt32})
	allowed := map[int]bool{
		http.StatusNoContent: true, http.StatusBadRequest: true, http.StatusUnauthorized: true,
		http.StatusForbidden: true, http.StatusNotFound: true, http.StatusMethodNotAllowed: true,
		http.StatusConflict: true, http.StatusRequestEntityTooLarge: true, http.StatusTooManyRequests: true,
	}
	f.Fuzz(func(t *testing.T, body []byte, token, name string) {
		before := len(fx.sink.received())
		req := &http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Path: Path(fixtureNS, name)},
			Header:        http.Header{"Authorization": {"Bearer " + token}},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		}
		req = req.WithContext(t.Context())
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)

		if !allowed[rec.Code] {
			t.Fatalf("status %d %q", rec.Code, rec.Body.String())
		}
		got := fx.sink.received()
		switch rec.Code {
		case http.StatusNoContent:
			if len(got) != before+1 {
				t.Fatalf("204 but the Sink received %d reports, had %d", len(got), before)
			}
			r := got[len(got)-1].Report
			if r.Step < 0 || r.Step > stepmetrics.MaxStep || len(r.Metrics) == 0 || len(r.Metrics) > stepmetrics.DefaultMaxMetrics {
				t.Fatalf("the Sink received %+v", r)
			}
			for k, v := range r.Metrics {
				if k == "" || len(k) > metrics.MaxNameLength || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("the Sink received metric %q = %v", k, v)
				}
			}
		default:
			if len(got) != before {
				t.Fatalf("status %d but the Sink received a report", rec.Code)
			}
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Reason == "" {
				t.Fatalf("status %d with body %q: %v", rec.Code, rec.Body.String(), err)
			}
		}
	})
}
