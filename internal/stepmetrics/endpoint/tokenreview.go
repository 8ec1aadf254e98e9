package endpoint

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/utils/clock"
)

const (
	// ExtraPodName is the key of status.user.extra under which a
	// TokenReview of a Pod-bound ServiceAccount token gives the Pod's name.
	ExtraPodName = "authentication.kubernetes.io/pod-name"
	// ExtraPodUID is the key under which it gives the Pod's UID.
	ExtraPodUID = "authentication.kubernetes.io/pod-uid"

	// serviceAccountPrefix starts a ServiceAccount's username.
	serviceAccountPrefix = "system:serviceaccount:"

	// DefaultCacheTTL is how long a TokenReviewAuthenticator trusts a review
	// when WithCacheTTL does not say: a trainer reporting every second
	// causes one TokenReview in ten seconds, and a revoked token (its Pod
	// deleted) is refused within ten seconds; the Handler checks the Pod
	// exists on every report in any case.
	DefaultCacheTTL = 10 * time.Second
	// DefaultCacheSize bounds how many reviews are cached when
	// WithCacheSize does not say.
	DefaultCacheSize = 4096
)

// TokenReviewAuthenticator authenticates tokens with the API server's
// TokenReview, and caches its answers, both acceptances and refusals, for a
// short while, so that a trainer's reports do not each cost an API call.
// It is safe for concurrent use.
type TokenReviewAuthenticator struct {
	client authenticationv1client.TokenReviewsGetter
	clock  clock.PassiveClock
	ttl    time.Duration
	size   int

	mu    sync.Mutex
	cache map[[sha256.Size]byte]*list.Element // of *review
	lru   list.List                           // front: oldest
}

// review is a cached answer.
type review struct {
	key     [sha256.Size]byte
	id      Identity
	err     error
	expires time.Time
}

// TokenReviewOption configures a TokenReviewAuthenticator.
type TokenReviewOption func(*TokenReviewAuthenticator)

// WithCacheTTL sets how long an answer is cached; 0 or less disables the
// cache.
func WithCacheTTL(ttl time.Duration) TokenReviewOption {
	return func(a *TokenReviewAuthenticator) { a.ttl = ttl }
}

// WithCacheSize bounds how many answers are cached.
func WithCacheSize(n int) TokenReviewOption {
	return func(a *TokenReviewAuthenticator) { a.size = max(n, 1) }
}

// WithClock sets the clock the cache reads.
func WithClock(c clock.PassiveClock) TokenReviewOption {
	return func(a *TokenReviewAuthenticator) { a.clock = c }
}

// NewTokenReviewAuthenticator returns an Authenticator that creates
// TokenReviews with client, for example a kubernetes.Clientset's
// AuthenticationV1(). The manager's ServiceAccount needs create on
// tokenreviews.authentication.k8s.io.
func NewTokenReviewAuthenticator(client authenticationv1client.TokenReviewsGetter, opts ...TokenReviewOption) *TokenReviewAuthenticator {
	a := &TokenReviewAuthenticator{
		client: client,
		clock:  clock.RealClock{},
		ttl:    DefaultCacheTTL,
		size:   DefaultCacheSize,
		cache:  map[[sha256.Size]byte]*list.Element{},
	}
	for _, opt := range opts {
		opt(a)
	}
	return a
}

// Authenticate creates a TokenReview of token with spec.audiences
// [audience]. It accepts the token if the review says it is authenticated
// for audience (listed in status.audiences), for a ServiceAccount (username
// system:serviceaccount:<namespace>:<name>); the Pod it is bound to is read
// from status.user.extra. It refuses with ErrUnauthenticated a token the
// review does not authenticate, and with ErrForbidden one authenticated for
// other audiences or not a ServiceAccount's. A token the review does not
// authenticate whose claims (read without verifying them, only to choose
// the message) name other audiences is refused with ErrForbidden, naming
// them: the usual mistake is a Pod reporting for another trial.
func (a *TokenReviewAuthenticator) Authenticate(ctx context.Context, token, audience string) (Identity, error) {
	key := sha256.Sum256([]byte(audience + "\x00" + token))
	if r, ok := a.cached(key); ok {
		return r.id, r.err
	}
	id, final, err := a.review(ctx, token, audience)
	if final {
		a.store(key, id, err)
	}
	return id, err
}

// review asks the API server; final says the answer may be cached.
func (a *TokenReviewAuthenticator) review(ctx context.Context, token, audience string) (id Identity, final bool, err error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}
	res, err := a.client.TokenReviews().Create(ctx, tr, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, false, fmt.Errorf("creating a TokenReview: %w", err)
	}
	st := res.Status
	if !st.Authenticated {
		if aud, ok := unverifiedAudiences(token); ok && len(aud) > 0 && !slices.Contains(aud, audience) {
			return Identity{}, true, fmt.Errorf("%w: the token is for audience %s, not %q; each trial's Pod reports with a token of its own trial's audience",
				ErrForbidden, quoteList(aud), audience)
		}
		reason := st.Error
		if reason == "" {
			reason = "the API server did not authenticate it"
		}
		return Identity{}, true, fmt.Errorf("%w: %s", ErrUnauthenticated, truncate(reason, 300))
	}
	if !slices.Contains(st.Audiences, audience) {
		return Identity{}, true, fmt.Errorf("%w: the token is for audiences %s, not %q", ErrForbidden, quoteList(st.Audiences), audience)
	}
	ns, sa, ok := strings.Cut(strings.TrimPrefix(st.User.Username, serviceAccountPrefix), ":")
	if !strings.HasPrefix(st.User.Username, serviceAccountPrefix) || !ok || ns == "" || sa == "" || strings.Contains(sa, ":") {
		return Identity{}, true, fmt.Errorf("%w: the token is %q's, not a ServiceAccount's", ErrForbidden, truncate(st.User.Username, 300))
	}
	return Identity{
		Namespace:      ns,
		ServiceAccount: sa,
		PodName:        first(st.User.Extra[ExtraPodName]),
		PodUID:         first(st.User.Extra[ExtraPodUID]),
	}, true, nil
}

// cached returns the cached answer for key, if there is one still valid.
func (a *TokenReviewAuthenticator) cached(key [sha256.Size]byte) (review, bool) {
	if a.ttl <= 0 {
		return review{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.cache[key]
	if !ok {
		return review{}, false
	}
	r := el.Value.(*review)
	if !a.clock.Now().Before(r.expires) {
		a.remove(el)
		return review{}, false
	}
	return *r, true
}

// store caches an answer for key.
func (a *TokenReviewAuthenticator) store(key [sha256.Size]byte, id Identity, err error) {
	if a.ttl <= 0 {
		return
	}
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.cache[key]; ok {
		a.remove(el)
	}
	// Entries are added in order of expiry, so the oldest is first: drop
	// the expired ones, then the oldest while full.
	for front := a.lru.Front(); front != nil && (len(a.cache) >= a.size || !now.Before(front.Value.(*review).expires)); front = a.lru.Front() {
		a.remove(front)
	}
	a.cache[key] = a.lru.PushBack(&review{key: key, id: id, err: err, expires: now.Add(a.ttl)})
}

func (a *TokenReviewAuthenticator) remove(el *list.Element) {
	delete(a.cache, el.Value.(*review).key)
	a.lru.Remove(el)
}

// unverifiedAudiences reads the "aud" claim of a JWT without verifying it.
func unverifiedAudiences(token string) ([]string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Aud == nil {
		return nil, false
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(claims.Aud, &many) == nil {
		return many, true
	}
	return nil, false
}

// quoteList quotes the first few of values for a message.
func quoteList(values []string) string {
	const most = 3
	var q []string
	for i, v := range values {
		if i == most {
			q = append(q, fmt.Sprintf("and %d more", len(values)-most))
			break
		}
		q = append(q, fmt.Sprintf("%q", truncate(v, 200)))
	}
	if len(q) == 0 {
		return "(none)"
	}
	return strings.Join(q, ", ")
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}
