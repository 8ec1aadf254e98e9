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
type expectations struct {
	mu sync.Mutex
	// pending maps an Experiment's UID to its unseen Trials' indices and
	// when each was created.
	pending map[types.UID]map[int64]time.Time
}

func newExpectations() *expectations {
	return &expectations{pending: map[types.UID]map[int64]time.Time{}}
}

// expect records that the Trials of indices were created at now.
func (e *expectations) expect(uid types.UID, indices []int64, now time.Time) {
	if len(indices) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[uid]
	if p == nil {
		p = make(map[int64]time.Time, len(indices))
		e.pending[uid] = p
	}
	for _, i := range indices {
		p[i] = now
	}
}

// merge adds to obs the expected Trials the cache does not show, as created
// and active, and forgets those it shows, and those expected for longer than
// expectationTimeout. It returns how many it added.
func (e *expectations) merge(uid types.UID, obs *observation, now time.Time) int32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending[uid]
	var added int32
	for i, at := range p {
		if obs.indices.has(i) || now.Sub(at) > expectationTimeout {
			delete(p, i)
			continue
		}
		obs.indices.add(i)
		added++
	}
	obs.created += added
	obs.active += added
	if len(p) == 0 {
		delete(e.pending, uid)
	}
	return added
}

// forget drops what is expected of an Experiment.
func (e *expectations) forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, uid)
}
