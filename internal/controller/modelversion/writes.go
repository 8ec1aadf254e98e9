package modelversion

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// cacheLagTimeout is how long a version whose cached phase is behind the
// one this process wrote is left for the cache to catch up. Past it the
// cache is believed, so that a lost watch event cannot hold a version up.
const cacheLagTimeout = time.Minute

// statusWrites remembers, per ModelVersion, the furthest phase this process
// wrote. The status write that ends a promotion brings a pass of its own,
// but one queued meanwhile (by the Pending write) may read the cache before
// it shows the end: that pass would copy and verify the whole artifact set
// again, only to have its status write refused as stale. A phase never
// goes back (the spec is immutable), so a cached phase before the one
// written means the cache lags. A restarted operator remembers nothing and
// believes its cache, which has synced.
//
// Entries are keyed by the version's namespace and name, the key a request
// carries, so that the pass that finds it gone forgets them; the UID tells
// a version deleted and created again under its name from the one before.
type statusWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName]written
}

// written is the furthest phase written of one version, and when.
type written struct {
	uid  types.UID
	rank int
	at   time.Time
}

func newStatusWrites() *statusWrites {
	return &statusWrites{last: map[types.NamespacedName]written{}}
}

// phaseRank orders the phases as a version goes through them.
func phaseRank(p crucible.ModelVersionPhase) int {
	switch p {
	case crucible.ModelVersionPending:
		return 1
	case crucible.ModelVersionReady, crucible.ModelVersionFailed:
		return 2
	}
	return 0
}

// wrote records that mv's status, as it is, was written at now.
func (w *statusWrites) wrote(key types.NamespacedName, mv *crucible.ModelVersion, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[key] = written{uid: mv.UID, rank: phaseRank(mv.Status.Phase), at: now}
}

// behind reports whether mv, as read from the cache, has a phase before the
// one this process wrote of it less than cacheLagTimeout ago. Once it has
// not, what was written is forgotten.
func (w *statusWrites) behind(key types.NamespacedName, mv *crucible.ModelVersion, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, ok := w.last[key]
	if !ok {
		return false
	}
	if rec.uid != mv.UID || phaseRank(mv.Status.Phase) >= rec.rank || now.Sub(rec.at) > cacheLagTimeout {
		delete(w.last, key)
		return false
	}
	return true
}

// forget drops what is remembered of key, a version that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
}
