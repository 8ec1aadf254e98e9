package endpoint

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// jwt returns a token whose payload is claims; the header and signature
// are not read.
func jwt(claims string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

// reviewer answers TokenReviews with status for any token, after checking
// the spec the authenticator sent, and counts the reviews.
type reviewer struct {
	t      *testing.T
	status authenticationv1.TokenReviewStatus
	err    error
	calls  int
}

func (r *reviewer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	r.calls++
	if r.err != nil {
		return true, nil, r.err
	}
	tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
	if diff := cmp.Diff([]string{Audience("ns", "t1")}, tr.Spec.Audiences); diff != "" {
		r.t.Errorf("spec.audiences (-want +got):\n%s", diff)
	}
	out := tr.DeepCopy()
	out.Status = r.status
	return true, out, nil
}

func newReviewer(t *testing.T, status authenticationv1.TokenReviewStatus) (*reviewer, *fake.Clientset) {
	r := &reviewer{t: t, status: status}
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", r.react)
	return r, cs
}

// podToken is the status of a review of a Pod-bound token of ns/default.
func podToken() authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{Audience("ns", "t1")},
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:ns:default",
			Extra: map[string]authenticationv1.ExtraValue{
				ExtraPodName: {"t1-pod"},
				ExtraPodUID:  {"pod-uid-1"},
			},
		},
	}
}

func TestTokenReviewAuthenticator(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		status func(*authenticationv1.TokenReviewStatus)
		want   Identity
		is     error
		err    string
	}{
		{
			name:  "a Pod-bound ServiceAccount token",
			token: "x",
			want:  Identity{Namespace: "ns", ServiceAccount: "default", PodName: "t1-pod", PodUID: "pod-uid-1"},
		},
		{
			name:   "a token bound to no Pod",
			token:  "x",
			status: func(s *authenticationv1.TokenReviewStatus) { s.User.Extra = nil },
			want:   Identity{Namespace: "ns", ServiceAccount: "default"},
		},
		{
			name:  "not authenticated",
			token: "x",
			status: func(s *authenticationv1.TokenReviewStatus) {
				*s = authenticationv1.TokenReviewStatus{Error: "[invalid bearer token, token has expired]"}
			},
			is: ErrUnauthenticated, err: "the token is not valid: [invalid bearer token, token has expired]",
		},
		{
			name:   "not authenticated, without a reason",
			token:  "x",
			status: func(s *authenticationv1.TokenReviewStatus) { *s = authenticationv1.TokenReviewStatus{} },
			is:     ErrUnauthenticated, err: "the token is not valid: the API server did not authenticate it",
		},
		{
			name:  "not authenticated: a token of another trial",
			token: jwt(`{"aud": ["crucible.dev/trial/ns/t2"], "sub": "system:serviceaccount:ns:default"}`),
			status: func(s *authenticationv1.TokenReviewStatus) {
				*s = authenticationv1.TokenReviewStatus{Error: "token audiences are invalid"}
			},
			is: ErrForbidden,
			err: `the token is not allowed to report for this trial: the token is for audience "crucible.dev/trial/ns/t2", ` +
				`not "crucible.dev/trial/ns/t1"; each trial's Pod reports with a token of its own trial's audience`,
		},
		{
			name:  "not authenticated: a token with the right audience is not forbidden",
			token: jwt(`{"aud": "crucible.dev/trial/ns/t1"}`),
			status: func(s *authenticationv1.TokenReviewStatus) {
				*s = authenticationv1.TokenReviewStatus{Error: "token has expired"}
			},
			is: ErrUnauthenticated, err: "the token is not valid: token has expired",
		},
		{
			name:   "authenticated for other audiences",
			token:  "x",
			status: func(s *authenticationv1.TokenReviewStatus) { s.Audiences = []string{"https://kubernetes.default.svc"} },
			is:     ErrForbidden,
			err:    `the token is not allowed to report for this trial: the token is for audiences "https://kubernetes.default.svc", not "crucible.dev/trial/ns/t1"`,
		},
		{
			name:   "not a ServiceAccount",
			token:  "x",
			status: func(s *authenticationv1.TokenReviewStatus) { s.User.Username = "alice@example.com" },
			is:     ErrForbidden,
			err:    `the token is not allowed to report for this trial: the token is "alice@example.com"'s, not a ServiceAccount's`,
		},
		{
			name:   "a malformed ServiceAccount name",
			token:  "x",
			status: func(s *authenticationv1.TokenReviewStatus) { s.User.Username = "system:serviceaccount:ns" },
			is:     ErrForbidden,
			err:    `the token is not allowed to report for this trial: the token is "system:serviceaccount:ns"'s, not a ServiceAccount's`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status := podToken()
			if tc.status != nil {
				tc.status(&status)
			}
			_, cs := newReviewer(t, status)
			a := NewTokenReviewAuthenticator(cs.AuthenticationV1())
			id, err := a.Authenticate(t.Context(), tc.token, Audience("ns", "t1"))
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if diff := cmp.Diff(tc.want, id); diff != "" {
					t.Errorf("Identity (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tc.is) || err.Error() != tc.err {
				t.Errorf("Authenticate = %v\nwant %q, wrapping %v", err, tc.err, tc.is)
			}
		})
	}
}

func TestTokenReviewAuthenticatorCache(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, cs := newReviewer(t, podToken())
	a := NewTokenReviewAuthenticator(cs.AuthenticationV1(), WithClock(clk), WithCacheTTL(10*time.Second), WithCacheSize(2))
	auth := func(token string) error {
		_, err := a.Authenticate(t.Context(), token, Audience("ns", "t1"))
		return err
	}

	for range 3 {
		if err := auth("a"); err != nil {
			t.Fatal(err)
		}
	}
	if r.calls != 1 {
		t.Errorf("3 reports within the TTL made %d reviews, want 1", r.calls)
	}
	clk.SetTime(clk.Now().Add(10 * time.Second))
	_ = auth("a")
	if r.calls != 2 {
		t.Errorf("a report after the TTL made %d reviews in all, want 2", r.calls)
	}

	// Refusals are cached too.
	r.status = authenticationv1.TokenReviewStatus{Error: "bad"}
	for range 2 {
		if err := auth("b"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Authenticate(b) = %v", err)
		}
	}
	if r.calls != 3 {
		t.Errorf("two refusals made %d reviews in all, want 3", r.calls)
	}

	// Failures to ask are not.
	r.err = errors.New("connection refused")
	for range 2 {
		if err := auth("c"); err == nil || errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Authenticate(c) = %v", err)
		}
	}
	if r.calls != 5 {
		t.Errorf("two failures made %d reviews in all, want 5", r.calls)
	}

	// The cache holds at most 2 answers: a and b, so c's would evict a.
	r.err = nil
	r.status = podToken()
	_ = auth("c")
	if got := len(a.cache); got != 2 {
		t.Errorf("the cache holds %d answers, want at most 2", got)
	}
	calls := r.calls
	_ = auth("a")
	if r.calls != calls+1 {
		t.Error("a, the oldest answer, was not evicted")
	}
}

func TestTokenReviewAuthenticatorWithEndpoint(t *testing.T) {
	_, cs := newReviewer(t, podToken())
	f := newFixture(t, stepmetrics.RateLimits{})
	f.handler.opts.Authenticator = NewTokenReviewAuthenticator(cs.AuthenticationV1())
	if rec := f.post("t1", jwt(`{"aud": "crucible.dev/trial/ns/t1"}`), goodBody); rec.Code != http.StatusNoContent {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}
