package experiment

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/searchspace"
)

// maxSpaces bounds the search spaces kept in memory: one per Experiment
// that has not ended, so a cluster running more than this many at once
// builds some spaces again, and no more memory is held.
const maxSpaces = 1024

// spaceCache keeps the search space of each running Experiment, built once
// per generation: searchspace.New checks and indexes every parameter's
// values, which is worth doing once, not on every pass of a sweep. An
// Experiment's spec is immutable but for parallelism, maxFailedTrials and
// suspend, so a space built for a generation stays right for it.
//
// Entries are keyed like reconcile requests, so that the pass that finds an
// Experiment gone, or ended, forgets its space; the UID and generation
// they were built for tell a stale entry.
type spaceCache struct {
	// build is searchspace.New; tests count its calls.
	build func(*crucible.ExperimentSpec) (*searchspace.Space, error)

	mu      sync.Mutex
	entries map[types.NamespacedName]spaceEntry
}

// spaceEntry is a space, or the error that its spec has none, as built for
// one generation of one Experiment.
type spaceEntry struct {
	uid        types.UID
	generation int64
	space      *searchspace.Space
	err        error
}

func newSpaceCache() *spaceCache {
	return &spaceCache{build: searchspace.New, entries: map[types.NamespacedName]spaceEntry{}}
}

// get returns exp's search space, building it when this generation of exp
// has none yet. A Space is immutable and safe for concurrent use.
func (c *spaceCache) get(exp *crucible.Experiment) (*searchspace.Space, error) {
	key := client.ObjectKeyFromObject(exp)
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.uid == exp.UID && e.generation == exp.Generation {
		return e.space, e.err
	}
	// Built outside the lock: one Experiment is reconciled by one worker
	// at a time, and other Experiments need not wait.
	space, err := c.build(&exp.Spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= maxSpaces {
		for k := range c.entries { // any one: the next pass of its Experiment builds it again
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = spaceEntry{uid: exp.UID, generation: exp.Generation, space: space, err: err}
	return space, err
}

// forget drops the space of an Experiment that is gone or has ended.
func (c *spaceCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

// size is how many spaces are kept.
func (c *spaceCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
