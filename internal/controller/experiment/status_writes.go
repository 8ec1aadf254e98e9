package experiment

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// countsWriteInterval is the least time between two status writes of an
// Experiment that only move its counts: trial counts, the best trial, and
// the condition messages that quote them. In a sweep whose trials end every
// second or so, each end would otherwise cost the API server one write of
// the whole Experiment (its pod template included) beside the trial's own.
// Every other change (phase, a condition's status or reason, start and
// completion, retention) is written at once. Nothing is lost to a restart in
// between: counts are recomputed from the Trials on every pass.
const countsWriteInterval = 5 * time.Second

// statusWrites remembers when this process last wrote each Experiment's
// status.
type statusWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

func newStatusWrites() *statusWrites {
	return &statusWrites{last: map[types.NamespacedName]time.Time{}}
}

// holdBack returns how long to wait before writing a change of key's
// status from before to after; zero means write now.
func (w *statusWrites) holdBack(key types.NamespacedName, before, after *crucible.ExperimentStatus, now time.Time) time.Duration {
	if !countsOnly(before, after) {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.last[key]
	if !ok {
		return 0
	}
	return max(0, last.Add(countsWriteInterval).Sub(now))
}

// wrote records a status write of key at now.
func (w *statusWrites) wrote(key types.NamespacedName, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[key] = now
}

// forget drops what is known of key, an Experiment that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
}

// countsOnly reports whether before and after differ in nothing but trial
// counts, the best trial and condition messages.
func countsOnly(before, after *crucible.ExperimentStatus) bool {
	strip := func(s *crucible.ExperimentStatus) *crucible.ExperimentStatus {
		s = s.DeepCopy()
		s.Trials = crucible.TrialCounts{}
		s.BestTrial = nil
		for i := range s.Conditions {
			s.Conditions[i].Message = ""
		}
		return s
	}
	return equality.Semantic.DeepEqual(strip(before), strip(after))
}
