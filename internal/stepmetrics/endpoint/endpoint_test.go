package endpoint

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// fixture is a Handler over fakes, with a fake clock for its Limiter.
type fixture struct {
	handler *Handler
	auth    *fakeAuthenticator
	trials  *fakeTrials
	sink    *fakeSink
	clock   *clocktesting.FakePassiveClock
}

func newFixture(t testing.TB, rate stepmetrics.RateLimits) *fixture {
	t.Helper()
	f := &fixture{
		auth:   newFakeAuthenticator(),
		trials: newFakeTrials(),
		sink:   &fakeSink{},
		clock:  clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
	h, err := New(Options{
		Authenticator: f.auth,
		Trials:        f.trials,
		Sink:          f.sink,
		Limiter:       stepmetrics.NewLimiter(rate, f.clock),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	return f
}

// post sends a report to trial ns/name with token ("" for none).
func (f *fixture) post(name, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path(fixtureNS, name), strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// refusal decodes the JSON body of a refusal.
func refusal(t testing.TB, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return body
}

const goodBody = `{"step": 3, "metrics": {"loss": 0.5}}`

func TestAccepted(t *testing.T) {
	f := newFixture(t, stepmetrics.RateLimits{})
	rec := f.post("t1", tokenT1, goodBody)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("got %d %q, want 204 and no body", rec.Code, rec.Body.String())
	}
	want := []recorded{{Namespace: "ns", Trial: "t1", UID: "uid-1",
		Report: stepmetrics.Report{Step: 3, Metrics: map[string]float64{"loss": 0.5}}}}
	if diff := cmp.Diff(want, f.sink.received()); diff != "" {
		t.Errorf("the Sink received (-want +got):\n%s", diff)
	}
	// A retry of the same report is accepted and changes nothing.
	if rec := f.post("t1", tokenT1, goodBody); rec.Code != http.StatusNoContent {
		t.Errorf("a retry got %d %q", rec.Code, rec.Body.String())
	}
}

func TestRefused(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "crucible.dev", Resource: "trials"}, "t1")
	tests := []struct {
		name    string
		method  string
		path    string
		header  string // Authorization
		body    string
		setup   func(*fixture)
		status  int
		reason  string
		message string // a substring of the error
		headers map[string]string
	}{
		{
			name: "wrong method", method: http.MethodGet, header: "Bearer " + tokenT1,
			status: http.StatusMethodNotAllowed, reason: ReasonMethodNotAllowed, message: "method GET is not allowed",
			headers: map[string]string{"Allow": "POST"},
		},
		{
			name: "another path", path: "/v1/namespaces/ns/trials/t1", header: "Bearer " + tokenT1,
			status: http.StatusNotFound, reason: ReasonNotFound, message: `no endpoint at "/v1/namespaces/ns/trials/t1"`,
		},
		{
			name: "a path to clean is not redirected", path: "/v1/namespaces/ns/trials/x/../t1/metrics", header: "Bearer " + tokenT1,
			status: http.StatusNotFound, reason: ReasonNotFound, message: `no endpoint at "/v1/namespaces/ns/trials/x/../t1/metrics"`,
		},
		{
			name: "a name no trial can have", path: Path("ns", "T_1"), header: "Bearer " + tokenT1,
			status: http.StatusNotFound, reason: ReasonNotFound, message: `"T_1" not a Trial name`,
		},
		{
			name:   "no token",
			status: http.StatusUnauthorized, reason: ReasonUnauthenticated, message: "no bearer token",
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="crucible"`},
		},
		{
			name: "not a bearer token", header: "Basic dXNlcjpwYXNz",
			status: http.StatusUnauthorized, reason: ReasonUnauthenticated, message: "no bearer token",
		},
		{
			name: "invalid token", header: "Bearer nope",
			status: http.StatusUnauthorized, reason: ReasonUnauthenticated, message: "the token is not valid: unknown token",
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="crucible", error="invalid_token"`},
		},
		{
			name: "another trial's token", header: "Bearer token-t2",
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: `the token is for audience "crucible.dev/trial/ns/t2", not "crucible.dev/trial/ns/t1"`,
		},
		{
			name: "a ServiceAccount of another namespace",
			setup: func(f *fixture) {
				f.auth.add("other-ns", Audience("ns", "t1"), Identity{Namespace: "other", ServiceAccount: "sa", PodName: "p", PodUID: "u"})
			},
			header: "Bearer other-ns",
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: "the token's ServiceAccount other/sa is not in the trial's namespace ns",
		},
		{
			name: "a token bound to no Pod",
			setup: func(f *fixture) {
				f.auth.add("unbound", Audience("ns", "t1"), Identity{Namespace: "ns", ServiceAccount: "sa"})
			},
			header: "Bearer unbound",
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: "the token of ServiceAccount ns/sa is not bound to a Pod",
		},
		{
			name: "a Pod of another Job",
			setup: func(f *fixture) {
				f.auth.add("stray", Audience("ns", "t1"), Identity{Namespace: "ns", ServiceAccount: "sa", PodName: "t2-pod", PodUID: "pod-uid-2"})
			},
			header: "Bearer stray",
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: `the token's Pod t2-pod belongs to Job t2-job, not to trial ns/t1's Job "t1-job"`,
		},
		{
			name: "a Pod of no Job",
			setup: func(f *fixture) {
				f.trials.pods["ns/lone/u"] = ""
				f.auth.add("lone", Audience("ns", "t1"), Identity{Namespace: "ns", ServiceAccount: "sa", PodName: "lone", PodUID: "u"})
			},
			header: "Bearer lone",
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: `the token's Pod lone belongs to no Job, not to trial ns/t1's Job "t1-job"`,
		},
		{
			name:   "the Pod is gone",
			setup:  func(f *fixture) { delete(f.trials.pods, "ns/t1-pod/pod-uid-1") },
			header: "Bearer " + tokenT1,
			status: http.StatusForbidden, reason: ReasonForbidden,
			message: "the token's Pod t1-pod (UID pod-uid-1) no longer exists",
		},
		{
			name:   "unknown trial",
			setup:  func(f *fixture) { delete(f.trials.trials, "ns/t1") },
			header: "Bearer " + tokenT1,
			status: http.StatusNotFound, reason: ReasonNotFound, message: "trial ns/t1 not found",
		},
		{
			name:   "unknown trial, as a Kubernetes NotFound",
			setup:  func(f *fixture) { f.trials.err = notFound },
			header: "Bearer " + tokenT1,
			status: http.StatusNotFound, reason: ReasonNotFound, message: "trial ns/t1 not found",
		},
		{
			name: "ended trial", path: Path("ns", "gone"), header: "Bearer token-gone",
			status: http.StatusConflict, reason: ReasonTrialEnded, message: "trial ns/gone has ended; it takes no more reports",
		},
		{
			name: "too large by Content-Length", header: "Bearer " + tokenT1,
			body:   `{"step": 1, "metrics": {"loss": 0.5}}` + strings.Repeat(" ", stepmetrics.DefaultMaxBytes),
			status: http.StatusRequestEntityTooLarge, reason: "TooLarge", message: "at most 16384 are accepted",
		},
		{
			name: "malformed", header: "Bearer " + tokenT1, body: `{"step": 1, "metrics": {"loss": NaN}}`,
			status: http.StatusBadRequest, reason: "NonFinite", message: `metric "loss" is NaN`,
		},
		{
			name: "malformed step", header: "Bearer " + tokenT1, body: `{"step": -1, "metrics": {"loss": 1}}`,
			status: http.StatusBadRequest, reason: "BadStep", message: "step is -1",
		},
		{
			name:   "the Sink finds a conflict",
			setup:  func(f *fixture) { f.sink.err = &stepmetrics.StepError{Step: 1, Last: 5} },
			header: "Bearer " + tokenT1,
			status: http.StatusConflict, reason: ReasonStepConflict, message: "step 1 is before step 5, the last recorded",
		},
		{
			name:   "the trial ended before the Sink recorded",
			setup:  func(f *fixture) { f.sink.err = ErrTrialEnded },
			header: "Bearer " + tokenT1,
			status: http.StatusConflict, reason: ReasonTrialEnded, message: "trial ns/t1 has ended",
		},
		{
			name:   "the Sink fails",
			setup:  func(f *fixture) { f.sink.err = errors.New("etcd is on fire") },
			header: "Bearer " + tokenT1,
			status: http.StatusInternalServerError, reason: ReasonInternal, message: "could not record the report",
		},
		{
			name:   "the Authenticator cannot answer",
			setup:  func(f *fixture) { f.auth.err = errors.New("connection refused") },
			header: "Bearer " + tokenT1,
			status: http.StatusServiceUnavailable, reason: ReasonUnavailable, message: "could not check the token",
			headers: map[string]string{"Retry-After": "5"},
		},
		{
			name:   "Trials cannot answer",
			setup:  func(f *fixture) { f.trials.err = errors.New("cache not synced") },
			header: "Bearer " + tokenT1,
			status: http.StatusServiceUnavailable, reason: ReasonUnavailable, message: "could not read the trial",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, stepmetrics.RateLimits{})
			if tc.setup != nil {
				tc.setup(f)
			}
			method, path, body := http.MethodPost, Path("ns", "t1"), goodBody
			if tc.method != "" {
				method = tc.method
			}
			if tc.path != "" {
				path = tc.path
			}
			if tc.body != "" {
				body = tc.body
			}
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d %q, want %d", rec.Code, rec.Body.String(), tc.status)
			}
			got := refusal(t, rec)
			if got.Reason != tc.reason || !strings.Contains(got.Error, tc.message) {
				t.Errorf("body %+v, want reason %q and an error containing %q", got, tc.reason, tc.message)
			}
			for k, v := range tc.headers {
				if h := rec.Header().Get(k); h != v {
					t.Errorf("header %s: %q, want %q", k, h, v)
				}
			}
			if tc.setup == nil || tc.status != http.StatusConflict {
				if n := len(f.sink.received()); n != 0 {
					t.Errorf("the Sink received %d reports", n)
				}
			}
		})
	}
}

// TestTooLargeChunked sends a body over the limit without a Content-Length.
func TestTooLargeChunked(t *testing.T) {
	f := newFixture(t, stepmetrics.RateLimits{})
	req := httptest.NewRequest(http.MethodPost, Path("ns", "t1"), io.MultiReader(
		strings.NewReader(`{"step": 1, "metrics": {"a": 1}}`), strings.NewReader(strings.Repeat(" ", 1<<20))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+tokenT1)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d %q, want 413", rec.Code, rec.Body.String())
	}
	if got := refusal(t, rec); got.Error != "report is more than 16384 bytes; send fewer or shorter metrics" {
		t.Errorf("error %q", got.Error)
	}
}

func TestRateLimited(t *testing.T) {
	f := newFixture(t, stepmetrics.RateLimits{PerSecond: 0.5, Burst: 2})
	for i := range 2 {
		body := `{"step": ` + string(rune('0'+i)) + `, "metrics": {"loss": 1}}`
		if rec := f.post("t1", tokenT1, body); rec.Code != http.StatusNoContent {
			t.Fatalf("report %d: %d %q", i, rec.Code, rec.Body.String())
		}
	}
	rec := f.post("t1", tokenT1, `{"step": 2, "metrics": {"loss": 1}}`)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("got %d with Retry-After %q, want 429 with 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := refusal(t, rec); got.Error != "trial ns/t1 reports faster than 0.5 a second (bursts of 2); retry after 2 s" {
		t.Errorf("error %q", got.Error)
	}
	// Another trial is not slowed down.
	if rec := f.post("t2", "token-t2", goodBody); rec.Code != http.StatusNoContent {
		t.Errorf("trial t2: %d %q", rec.Code, rec.Body.String())
	}
	f.clock.SetTime(f.clock.Now().Add(2 * time.Second))
	if rec := f.post("t1", tokenT1, `{"step": 2, "metrics": {"loss": 1}}`); rec.Code != http.StatusNoContent {
		t.Errorf("after Retry-After: %d %q", rec.Code, rec.Body.String())
	}
}

func TestNewRequiresInterfaces(t *testing.T) {
	_, err := New(Options{Trials: newFakeTrials()})
	if err == nil || err.Error() != "endpoint options lack Authenticator, Sink" {
		t.Errorf("New = %v", err)
	}
}

func TestAudienceAndPath(t *testing.T) {
	if got := Audience("team-a", "sweep-0003"); got != "crucible.dev/trial/team-a/sweep-0003" {
		t.Errorf("Audience = %q", got)
	}
	if got := Path("team-a", "sweep-0003"); got != "/v1/namespaces/team-a/trials/sweep-0003/metrics" {
		t.Errorf("Path = %q", got)
	}
}
