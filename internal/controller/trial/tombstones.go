package trial

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// tombstones remember what the watches saw deleted while a Trial had not
// ended, where the deletion leaves no other trace: its Job, deleted before
// the Trial recorded it (in its first 5 s), which must end the Trial with
// JobMissing rather than be created again; and the Pods of its Job that
// were evicted or preempted, or deleted while they ran (a Job suspended by
// a queue), which the Job replaced and the Trial counts among its
// attempts. Entries go when the Trial ends or is gone, so they
// are bounded by the running Trials. They live in memory: an operator
// restarted in between does not know them (the Trial's recorded attempts
// keep what an earlier pass counted).
type tombstones struct {
	mu   sync.Mutex
	jobs map[types.NamespacedName]types.UID
	// pods are the UIDs of the deleted disrupted Pods of a Trial, by the
	// UID of the Job that controlled them.
	pods map[types.NamespacedName]map[types.UID]map[types.UID]bool
}

func newTombstones() *tombstones {
	return &tombstones{jobs: map[types.NamespacedName]types.UID{}, pods: map[types.NamespacedName]map[types.UID]map[types.UID]bool{}}
}

// jobDeleted remembers that the Job of trial was deleted.
func (t *tombstones) jobDeleted(trial types.NamespacedName, job types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.jobs[trial] = job
}

// deletedJob returns the UID of trial's deleted Job, if one was seen.
func (t *tombstones) deletedJob(trial types.NamespacedName) (types.UID, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	uid, ok := t.jobs[trial]
	return uid, ok
}

// podDisrupted remembers that a disrupted Pod of trial's Job was deleted.
func (t *tombstones) podDisrupted(trial types.NamespacedName, job, pod types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pods[trial] == nil {
		t.pods[trial] = map[types.UID]map[types.UID]bool{}
	}
	if t.pods[trial][job] == nil {
		t.pods[trial][job] = map[types.UID]bool{}
	}
	t.pods[trial][job][pod] = true
}

// attempts is how many Pods job has started for trial: those it has, and
// the disrupted ones deleted since.
func (t *tombstones) attempts(trial types.NamespacedName, job types.UID, pods []corev1.Pod) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.pods[trial][job])
	for i := range pods {
		if !t.pods[trial][job][pods[i].UID] {
			n++
		}
	}
	return int32(n)
}

// forget drops what was remembered of trial.
func (t *tombstones) forget(trial types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.jobs, trial)
	delete(t.pods, trial)
}
