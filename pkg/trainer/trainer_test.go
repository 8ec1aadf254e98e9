package trainer

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
)

// The fixture: trial ns/t1, Job t1-job, Pod t1-pod; the Authenticator
// accepts the tokens in tokens for the trial's audience.
type fakes struct {
	mu      sync.Mutex
	tokens  map[string]bool
	seen    []string // tokens presented, in order
	reports []stepmetrics.Report
}

func (f *fakes) Authenticate(_ context.Context, token, audience string) (endpoint.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, token)
	if !f.tokens[token] {
		return endpoint.Identity{}, fmt.Errorf("%w: unknown token", endpoint.ErrUnauthenticated)
	}
	if audience != endpoint.Audience("ns", "t1") {
		return endpoint.Identity{}, fmt.Errorf("%w: the token is for another trial", endpoint.ErrForbidden)
	}
	return endpoint.Identity{Namespace: "ns", ServiceAccount: "default", PodName: "t1-pod", PodUID: "pod-uid"}, nil
}

func (f *fakes) Lookup(_ context.Context, namespace, name string) (endpoint.TrialInfo, error) {
	if namespace+"/"+name != "ns/t1" {
		return endpoint.TrialInfo{}, endpoint.ErrNotFound
	}
	return endpoint.TrialInfo{UID: "uid-1", JobName: "t1-job"}, nil
}

func (f *fakes) PodJob(_ context.Context, _, podName, _ string) (string, error) {
	if podName != "t1-pod" {
		return "", endpoint.ErrNotFound
	}
	return "t1-job", nil
}

func (f *fakes) Record(_ context.Context, _, _, _ string, r stepmetrics.Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

func (f *fakes) received() ([]stepmetrics.Report, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stepmetrics.Report(nil), f.reports...), append([]string(nil), f.seen...)
}

// server is the endpoint behind a TLS test server, with the environment a
// trial's Pod gets.
type server struct {
	fakes     *fakes
	srv       *httptest.Server
	url       string
	caFile    string
	tokenFile string
	// before, when set, answers a request instead of the endpoint if it
	// returns true.
	mu     sync.Mutex
	before func(w http.ResponseWriter, r *http.Request) bool
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{fakes: &fakes{tokens: map[string]bool{"token-1": true, "token-2": true}}}
	h, err := endpoint.New(endpoint.Options{Authenticator: s.fakes, Trials: s.fakes, Sink: s.fakes})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		before := s.before
		s.mu.Unlock()
		if before != nil && before(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	dir := t.TempDir()
	s.caFile = filepath.Join(dir, "ca.crt")
	s.tokenFile = filepath.Join(dir, "token")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	s.setToken(t, "token-1")
	s.url = s.srv.URL + endpoint.Path("ns", "t1")
	return s
}

func (s *server) setToken(t *testing.T, token string) {
	t.Helper()
	if err := os.WriteFile(s.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *server) setBefore(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = f
}

// setEnv sets the environment a trial's Pod gets.
func (s *server) setEnv(t *testing.T) {
	t.Setenv(EnvURL, s.url)
	t.Setenv(EnvCA, s.caFile)
	t.Setenv(EnvTokenFile, s.tokenFile)
}

// tooManyOnce answers the first request with 429 and Retry-After: 0.
func tooManyOnce(count *int) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		*count++
		if *count > 1 {
			return false
		}
		w.Header().Set("Retry-After", "0")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error": "slow down", "reason": "RateLimited"}`))
		return true
	}
}

func TestReport(t *testing.T) {
	s := newServer(t)
	s.setEnv(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Enabled() {
		t.Fatal("FromEnv with the URL set is not enabled")
	}
	if err := c.Report(t.Context(), 1, map[string]float64{"loss": 0.5, "acc": 0.25}); err != nil {
		t.Fatal(err)
	}
	// The token rotates: the next report reads the new one.
	s.setToken(t, "token-2")
	if err := c.Report(t.Context(), 2, map[string]float64{"loss": 0.4}); err != nil {
		t.Fatal(err)
	}
	reports, tokens := s.fakes.received()
	want := []stepmetrics.Report{
		{Step: 1, Metrics: map[string]float64{"loss": 0.5, "acc": 0.25}},
		{Step: 2, Metrics: map[string]float64{"loss": 0.4}},
	}
	if diff := cmp.Diff(want, reports); diff != "" {
		t.Errorf("the Sink received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"token-1", "token-2"}, tokens); diff != "" {
		t.Errorf("tokens presented (-want +got):\n%s", diff)
	}
}

func TestReportRefused(t *testing.T) {
	s := newServer(t)
	s.setToken(t, "stolen")
	c, err := New(Config{URL: s.url, CAFile: s.caFile, TokenFile: s.tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Report(t.Context(), 1, map[string]float64{"loss": 0.5})
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Report = %v, want a *StatusError", err)
	}
	want := &StatusError{StatusCode: http.StatusUnauthorized, Reason: "Unauthenticated",
		Message: "the token is not valid: unknown token", RetryAfter: se.RetryAfter}
	if diff := cmp.Diff(want, se); diff != "" {
		t.Errorf("StatusError (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != "crucible: step metrics endpoint answered 401 Unauthorized: the token is not valid: unknown token" {
		t.Errorf("Error() = %q", got)
	}
}

func TestReportRetriesOnceAfter429(t *testing.T) {
	s := newServer(t)
	c, err := New(Config{URL: s.url, CAFile: s.caFile, TokenFile: s.tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	s.setBefore(tooManyOnce(&count))
	if err := c.Report(t.Context(), 1, map[string]float64{"loss": 0.5}); err != nil {
		t.Fatalf("Report after one 429: %v", err)
	}
	if reports, _ := s.fakes.received(); count != 2 || len(reports) != 1 {
		t.Errorf("%d requests and %d reports recorded, want 2 and 1", count, len(reports))
	}

	// Twice told to slow down: the second answer is returned.
	s.setBefore(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", http.StatusTooManyRequests)
		return true
	})
	err = c.Report(t.Context(), 2, map[string]float64{"loss": 0.5})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests || se.Message != "busy" {
		t.Errorf("Report = %v, want the second 429", err)
	}
}

func TestReportWaitRespectsContext(t *testing.T) {
	s := newServer(t)
	c, err := New(Config{URL: s.url, CAFile: s.caFile, TokenFile: s.tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("training ended")
	s.setBefore(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		cancel(stop) // the trainer gives up while Report waits
		return true
	})
	if err := c.Report(ctx, 1, map[string]float64{"loss": 0.5}); !errors.Is(err, stop) {
		t.Errorf("Report = %v, want the context's cause", err)
	}
}

func TestReportChecksItsInput(t *testing.T) {
	c, err := New(Config{URL: "https://example.invalid/x", TokenFile: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step    int64
		metrics map[string]float64
		want    string
	}{
		{step: -1, metrics: map[string]float64{"a": 1}, want: "crucible: step -1 is negative"},
		{step: 1, metrics: nil, want: "crucible: a report needs at least one metric"},
		{step: 1, metrics: map[string]float64{"a": nan()}, want: `crucible: metric "a" is NaN; metrics must be finite`},
	} {
		if err := c.Report(t.Context(), tc.step, tc.metrics); err == nil || err.Error() != tc.want {
			t.Errorf("Report(%d, %v) = %v, want %q", tc.step, tc.metrics, err, tc.want)
		}
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func TestFromEnvOutsideCrucible(t *testing.T) {
	t.Setenv(EnvURL, "")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Enabled() {
		t.Error("FromEnv without a URL is enabled")
	}
	if err := c.Report(t.Context(), -5, nil); err != nil {
		t.Errorf("the no-op Report = %v", err)
	}
	var none *Client
	if err := none.Report(t.Context(), 1, map[string]float64{"a": 1}); err != nil || none.Enabled() {
		t.Errorf("a nil Client reports: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{cfg: Config{URL: "http://example.com/x", TokenFile: "t"}, want: `crucible: CRUCIBLE_METRICS_URL is "http://example.com/x"; it must be an https URL`},
		{cfg: Config{URL: "https://example.com/x"}, want: "crucible: CRUCIBLE_METRICS_URL is set but CRUCIBLE_METRICS_TOKEN_FILE is not"},
		{cfg: Config{URL: "https://example.com/x", TokenFile: "t", CAFile: filepath.Join(dir, "missing")}, want: "crucible: reading CRUCIBLE_METRICS_CA: open "},
		{cfg: Config{URL: "https://example.com/x", TokenFile: "t", CAFile: notPEM}, want: "crucible: CRUCIBLE_METRICS_CA, " + notPEM + ", holds no PEM certificate"},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
