package experiment

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/internal/searchspace"
)

// A suggested search (Random, Sobol, TPE) proposes trial i as a pure
// function of the record: searchspace.Space.Suggest reads what it needs of
// the trials before i from a record built from the Experiment's Trials, so
// a restarted operator, or another one, proposes the same trials.
//
// Two rules keep the sequence independent of timing:
//
//   - Trials are proposed in index order, each after every index below it
//     is known: a Trial in the cache, a repeat, or proposed earlier in the
//     pass. An index created by an earlier pass that the cache does not
//     show yet stops the pass: its point is part of what later trials see.
//   - With a Window w (TPE's maxConcurrent), trial i is proposed only once
//     trials 0..i-w have ended, so the outcomes it sees are always the same.
//
// A suggestion whose point an earlier trial ran (its name, a hash of the
// point and the seed, exists with the same parameters) is a repeat: it
// counts against the budget, has no Trial, and is remembered in memory
// (repeats) so that later passes do not propose it again; an operator that
// restarts finds it again, the same way.

// suggestions returns up to n trials to create, the lowest missing indices
// of a suggested space whose turn has come, and records the repeats it
// finds in obs and in the reconciler's memory.
func (r *Reconciler) suggestions(exp *crucible.Experiment, space *searchspace.Space, obs *observation,
	trials []crucible.Trial, n int) ([]searchspace.Trial, error) {
	rec := newRecord(trials)
	key := types.NamespacedName{Namespace: exp.Namespace, Name: exp.Name}
	for i, origin := range r.repeats.of(key, exp.UID) {
		rec.repeat(i, origin)
	}
	window := space.Window()
	// limit is the first index whose turn has not come: with a window w,
	// index i needs every trial up to i-w ended.
	limit := space.Len()
	if window > 0 && rec.firstActive < limit {
		limit = min(limit, rec.firstActive+window)
	}

	var out []searchspace.Trial
	for i := int64(0); i < limit && len(out) < n; i++ {
		if _, known := rec.byIndex[i]; known {
			continue
		}
		if obs.indices.has(i) {
			// Created by an earlier pass, not in the cache yet: its point
			// is part of the record the next proposal reads.
			if window > 0 {
				break
			}
			continue
		}
		t, err := space.Suggest(i, rec, exp.Spec.Objective.Goal)
		if err != nil {
			return out, err
		}
		name := naming.TrialName(exp.Name, t.Parameters, t.Seed)
		if j, ok := rec.byName[name]; ok {
			prev := rec.byIndex[j]
			if prev.seed != t.Seed || !slices.Equal(prev.params, t.Parameters) {
				return out, fmt.Errorf("%w: index %d and index %d are both named %s", errNameCollision, i, j, name)
			}
			rec.repeat(i, j)
			r.repeats.add(key, exp.UID, i, j)
			obs.indices.add(i)
			obs.repeated++
			continue
		}
		rec.propose(i, name, t)
		out = append(out, t)
		if window > 0 {
			limit = min(limit, i+window)
		}
	}
	return out, nil
}

// record is what a pass knows of a suggested search's trials, by index: it
// implements searchspace.Record.
type record struct {
	byIndex map[int64]entry
	// byName maps a Trial's name to its index.
	byName map[string]int64
	// firstActive is the lowest index of a Trial that has not ended, or
	// math.MaxInt64 when all have.
	firstActive int64
}

// entry is one index of the record.
type entry struct {
	params []crucible.ParameterAssignment
	seed   int64
	// objective is set when the trial succeeded with a number.
	objective    float64
	hasObjective bool
	// repeat marks a suggestion that repeated an earlier trial's point.
	repeat bool
}

func newRecord(trials []crucible.Trial) *record {
	rec := &record{
		byIndex:     make(map[int64]entry, len(trials)),
		byName:      make(map[string]int64, len(trials)),
		firstActive: math.MaxInt64,
	}
	for i := range trials {
		t := &trials[i]
		e := entry{params: t.Spec.Parameters, seed: t.Spec.Seed}
		switch t.Status.Phase {
		case crucible.TrialSucceeded:
			if v, err := strconv.ParseFloat(t.Status.Objective, 64); err == nil {
				e.objective, e.hasObjective = v, true
			}
		case crucible.TrialFailed, crucible.TrialStopped:
			// Ended; what TPE learns from is the trials that ran their
			// course.
		default:
			rec.firstActive = min(rec.firstActive, t.Spec.Index)
		}
		rec.byIndex[t.Spec.Index] = e
		rec.byName[t.Name] = t.Spec.Index
	}
	return rec
}

// repeat records index i as a repeat of the trial at index origin.
func (r *record) repeat(i, origin int64) {
	o := r.byIndex[origin]
	r.byIndex[i] = entry{params: o.params, seed: o.seed, repeat: true}
}

// propose records trial t, proposed in this pass under name: pending.
func (r *record) propose(i int64, name string, t searchspace.Trial) {
	r.byIndex[i] = entry{params: t.Parameters, seed: t.Seed}
	r.byName[name] = i
}

// Parameters implements searchspace.Record.
func (r *record) Parameters(j int64) ([]crucible.ParameterAssignment, bool) {
	e, ok := r.byIndex[j]
	return e.params, ok
}

// Objective implements searchspace.Record. A repeat has no outcome of its
// own: its trial's outcome is seen once, at the trial's index.
func (r *record) Objective(j int64) (float64, bool) {
	e, ok := r.byIndex[j]
	return e.objective, ok && e.hasObjective && !e.repeat
}

// repeatMemory remembers the repeats found in running Experiments: the index
// of each and the index of the trial it repeated. It is memory only: an
// operator that restarts finds them again.
type repeatMemory struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]repeats
}

type repeats struct {
	uid types.UID
	// origin maps a repeated index to the index of the trial it repeats.
	origin map[int64]int64
}

func newRepeatMemory() *repeatMemory {
	return &repeatMemory{entries: map[types.NamespacedName]repeats{}}
}

// add remembers that index i of the Experiment repeats index origin.
func (m *repeatMemory) add(key types.NamespacedName, uid types.UID, i, origin int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || e.uid != uid {
		e = repeats{uid: uid, origin: map[int64]int64{}}
		m.entries[key] = e
	}
	e.origin[i] = origin
}

// of returns a copy of the repeats remembered for the Experiment.
func (m *repeatMemory) of(key types.NamespacedName, uid types.UID) map[int64]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || e.uid != uid {
		return nil
	}
	out := make(map[int64]int64, len(e.origin))
	for i, o := range e.origin {
		out[i] = o
	}
	return out
}

// apply marks the remembered repeats of the Experiment in obs.
func (m *repeatMemory) apply(key types.NamespacedName, uid types.UID, obs *observation) {
	for i := range m.of(key, uid) {
		if !obs.indices.has(i) {
			obs.indices.add(i)
			obs.repeated++
		}
	}
}

// forget drops what was remembered of an Experiment that ended or is gone.
func (m *repeatMemory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}
