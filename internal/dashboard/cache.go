package dashboard

import (
	"context"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Defaults of the trial caches.
const (
	// cacheIdle is how long an Experiment's trials stay cached after the
	// last page that read them.
	cacheIdle = 10 * time.Minute
	// maxCached is how many Experiments' trials are cached at once; the
	// one read least recently goes first. A sweep of 10,000 trials holds
	// about 25 MiB.
	maxCached = 4
)

// cachedTrials keeps the trials of the Experiments being looked at in
// informer caches, one per Experiment, restricted to its namespace and
// label: the first page lists them from the API server once, the next
// ones read them from memory, kept current by a watch. Listing 10,000
// trials takes the API server over a second on a small machine; reading
// them from the cache, milliseconds.
//
// The caches read with the server's own credentials, the user's for
// kubectl crucible dashboard, so they show what the user may list. Before
// a cache is made, one list of a single trial asks the API server whether
// the user may list them at all, so that a refusal is a 403 page at once
// instead of an informer retrying.
type cachedTrials struct {
	client     client.Client
	cfg        *rest.Config
	httpClient *http.Client
	mapper     meta.RESTMapper
	clock      clock.PassiveClock
	idle       time.Duration
	max        int

	mu      sync.Mutex
	entries map[types.NamespacedName]*trialCache
}

// trialCache is one Experiment's trials.
type trialCache struct {
	cache    cache.Cache
	cancel   context.CancelFunc
	synced   chan struct{} // closed once the cache is synced or failed
	err      error         // why it failed, set before synced is closed
	lastUsed time.Time
}

func newCachedTrials(c client.Client, cfg *rest.Config, httpClient *http.Client, mapper meta.RESTMapper, clk clock.PassiveClock) *cachedTrials {
	return &cachedTrials{client: c, cfg: cfg, httpClient: httpClient, mapper: mapper, clock: clk,
		idle: cacheIdle, max: maxCached, entries: map[types.NamespacedName]*trialCache{}}
}

func (t *cachedTrials) experimentTrials(ctx context.Context, ns, experiment string) ([]crucible.Trial, error) {
	e, err := t.entry(ctx, types.NamespacedName{Namespace: ns, Name: experiment})
	if err != nil {
		return nil, err
	}
	select {
	case <-e.synced:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		t.drop(types.NamespacedName{Namespace: ns, Name: experiment}, e)
		return nil, e.err
	}
	var list crucible.TrialList
	// The cache's objects, not copies: the pages only read them.
	if err := e.cache.List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// entry returns the Experiment's cache, making and starting it first when
// there is none.
func (t *cachedTrials) entry(ctx context.Context, key types.NamespacedName) (*trialCache, error) {
	t.mu.Lock()
	if e, ok := t.entries[key]; ok {
		e.lastUsed = t.clock.Now()
		t.mu.Unlock()
		return e, nil
	}
	t.mu.Unlock()

	// May the user list them? One trial's worth of asking.
	if err := t.client.List(ctx, &crucible.TrialList{}, client.InNamespace(key.Namespace),
		client.MatchingLabels{crucible.ExperimentLabel: key.Name}, client.Limit(1)); err != nil {
		return nil, err
	}
	e, err := t.start(key)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if other, ok := t.entries[key]; ok {
		// Another page made it meanwhile.
		e.cancel()
		other.lastUsed = t.clock.Now()
		return other, nil
	}
	t.entries[key] = e
	t.evictLocked()
	return e, nil
}

// start makes and starts the cache of one Experiment's trials.
func (t *cachedTrials) start(key types.NamespacedName) (*trialCache, error) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &trialCache{cancel: cancel, synced: make(chan struct{}), lastUsed: t.clock.Now()}
	var once sync.Once
	fail := func(err error) {
		once.Do(func() {
			e.err = err
			close(e.synced)
			cancel()
		})
	}
	c, err := cache.New(t.cfg, cache.Options{
		HTTPClient: t.httpClient,
		Scheme:     Scheme,
		Mapper:     t.mapper,
		ByObject: map[client.Object]cache.ByObject{&crucible.Trial{}: {
			Namespaces: map[string]cache.Config{key.Namespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{crucible.ExperimentLabel: key.Name}),
		}},
		DefaultTransform:             toolscache.TransformFunc(stripTrial),
		DefaultUnsafeDisableDeepCopy: ptr.To(true),
		ReaderFailOnMissingInformer:  true,
		DefaultWatchErrorHandler: func(_ context.Context, _ *toolscache.Reflector, err error) {
			// Before the first sync, a failed list ends the cache: the
			// page says why. After it, the informer retries on its own.
			select {
			case <-e.synced:
			default:
				fail(err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	e.cache = c
	if _, err := c.GetInformer(ctx, &crucible.Trial{}); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			fail(err)
		}
	}()
	go func() {
		if c.WaitForCacheSync(ctx) {
			once.Do(func() { close(e.synced) })
		} else {
			fail(context.Canceled)
		}
	}()
	return e, nil
}

// evictLocked stops the caches unused for longer than idle, and the least
// recently used beyond max.
func (t *cachedTrials) evictLocked() {
	now := t.clock.Now()
	for k, e := range t.entries {
		if now.Sub(e.lastUsed) > t.idle {
			e.cancel()
			delete(t.entries, k)
		}
	}
	for len(t.entries) > t.max {
		var oldest types.NamespacedName
		var at time.Time
		for k, e := range t.entries {
			if at.IsZero() || e.lastUsed.Before(at) {
				oldest, at = k, e.lastUsed
			}
		}
		t.entries[oldest].cancel()
		delete(t.entries, oldest)
	}
}

// drop forgets a cache that failed, so that the next page tries again.
func (t *cachedTrials) drop(key types.NamespacedName, e *trialCache) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries[key] == e {
		e.cancel()
		delete(t.entries, key)
	}
}

// sweep evicts idle caches every minute until ctx ends, then stops them
// all.
func (t *cachedTrials) sweep(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.mu.Lock()
			for k, e := range t.entries {
				e.cancel()
				delete(t.entries, k)
			}
			t.mu.Unlock()
			return
		case <-tick.C:
			t.mu.Lock()
			t.evictLocked()
			t.mu.Unlock()
		}
	}
}

// stripTrial drops what no page of an Experiment reads from its cached
// trials: managed fields and the conditions' history.
func stripTrial(obj any) (any, error) {
	if t, ok := obj.(*crucible.Trial); ok {
		t.ManagedFields = nil
		t.Status.Conditions = nil
	}
	return obj, nil
}
