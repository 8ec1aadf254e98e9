package experiment

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationTimeout is how long a created Trial the cache has not shown is
// still expected: the ReplicaSet controller's five minutes. Past it the
// cache is believed, so that a lost watch event cannot hold an Experiment
// up for ever.
const expectationTimeout = 5 * time.Minute

// expectations remembers, per Experiment, the Trials this process created
// that its cache has not shown yet. A pass that reads the cache before it
// caught up would otherwise take them for missing: create them again, to
// be refused with AlreadyExists (at 5,000 trials on a busy API server, 2,180
// wasted creates), and count too few active to respect parallelism. It is
// the ReplicaSet controller's pattern, in memory: a restarted operator
// starts with none, after its cache has synced.
//
// Entries are keyed by the Experiment's namespace and name, the key a
// reconcile request carries, so that the pass that finds the Experiment
// gone can forget them; the UID they were recorded for tells an Experiment
// deleted and created again under the same name from the one before.
type expectations struct {
	mu sync.Mutex
	// pending maps an Experiment to its unseen Trials.
	pending map[types.NamespacedName]*expected
}

// expected is what is expected of one Experiment.
type expected struct {
	// uid is the Experiment's UID.
	uid types.UID
	// created maps the unseen Trials' indices to when each was created.
	created map[int64]time.Time
}

func newExpectations() *expectations {
	return &expectations{pending: map[types.NamespacedName]*expected{}}
}

// expect records that the Trials of indices were created at now.
func (e *expectations) expect(key types.NamespacedName, uid types.UID, indices []int64, now time.Time) {
	if len(indices) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[key]
	if p == nil || p.uid != uid {
		p = &expected{uid: uid, created: make(map[int64]time.Time, len(indices))}
		e.pending[key] = p
	}
	for _, i := range indices {
		p.created[i] = now
	}
}

// merge adds to obs the expected Trials the cache does not show, as created
// and active, and forgets those it shows, and those expected for longer than
// expectationTimeout. It returns how many it added. What was expected of an
// earlier Experiment of the same name is dropped.
func (e *expectations) merge(key types.NamespacedName, uid types.UID, obs *observation, now time.Time) int32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[key]
	if p == nil {
		return 0
	}
	if p.uid != uid {
		delete(e.pending, key)
		return 0
	}
	var added int32
	for i, at := range p.created {
		if obs.indices.has(i) || now.Sub(at) > expectationTimeout {
			delete(p.created, i)
			continue
		}
		obs.indices.add(i)
		added++
	}
	obs.created += added
	obs.active += added
	if len(p.created) == 0 {
		delete(e.pending, key)
	}
	return added
}

// forget drops what is expected of an Experiment.
func (e *expectations) forget(key types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, key)
}
