package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// jobTracker watches the Jobs of one namespace and notes when the n-th Job
// appears and when the n-th Job is complete. Floor and operator runs use the
// same tracker, so both pay for the same watch.
type jobTracker struct {
	n int

	mu              sync.Mutex
	start           time.Time
	seen, complete  map[string]bool
	failed          map[string]bool
	allSeenAt       time.Time
	allCompleteAt   time.Time
	allSeen, allEnd chan struct{}

	cancel context.CancelFunc
}

func startTracker(ctx context.Context, cs kubernetes.Interface, ns string, n int) (*jobTracker, error) {
	t := &jobTracker{
		n: n, seen: map[string]bool{}, complete: map[string]bool{}, failed: map[string]bool{},
		allSeen: make(chan struct{}), allEnd: make(chan struct{}),
	}
	ctx, t.cancel = context.WithCancel(ctx)
	lw := cache.NewListWatchFromClient(cs.BatchV1().RESTClient(), "jobs", ns, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &batchv1.Job{}, 0, cache.Indexers{})
	// Keep only what the tracker reads: 10,000 full Jobs are not needed.
	if err := inf.SetTransform(func(obj any) (any, error) {
		job, ok := obj.(*batchv1.Job)
		if !ok {
			return obj, nil
		}
		slim := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: job.Namespace, ResourceVersion: job.ResourceVersion, UID: job.UID,
		}}
		for _, c := range job.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				slim.Status.Conditions = append(slim.Status.Conditions, batchv1.JobCondition{Type: c.Type, Status: c.Status})
			}
		}
		return slim, nil
	}); err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    t.observe,
		UpdateFunc: func(_, obj any) { t.observe(obj) },
	}); err != nil {
		return nil, err
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.cancel()
		return nil, fmt.Errorf("watching Jobs in %s: %w", ns, context.Cause(ctx))
	}
	return t, nil
}

// setStart marks the moment the measured work began.
func (t *jobTracker) setStart(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start = at
}

func (t *jobTracker) observe(obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.seen[job.Name] {
		t.seen[job.Name] = true
		if len(t.seen) == t.n {
			t.allSeenAt = now
			close(t.allSeen)
		}
	}
	if t.complete[job.Name] || t.failed[job.Name] {
		return
	}
	for _, c := range job.Status.Conditions {
		switch c.Type {
		case batchv1.JobComplete:
			t.complete[job.Name] = true
		case batchv1.JobFailed:
			t.failed[job.Name] = true
		default:
			continue
		}
		if len(t.complete)+len(t.failed) == t.n {
			t.allCompleteAt = now
			close(t.allEnd)
		}
		return
	}
}

// progress is how many Jobs were seen, completed and failed so far.
func (t *jobTracker) progress() (seen, complete, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen), len(t.complete), len(t.failed)
}

// since returns the time from start to at, or zero when at is unset.
func (t *jobTracker) since(at time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.IsZero() || t.start.IsZero() {
		return 0
	}
	return at.Sub(t.start)
}

func (t *jobTracker) allSeenAfter() time.Duration {
	t.mu.Lock()
	at := t.allSeenAt
	t.mu.Unlock()
	return t.since(at)
}

func (t *jobTracker) allEndedAfter() time.Duration {
	t.mu.Lock()
	at := t.allCompleteAt
	t.mu.Unlock()
	return t.since(at)
}

func (t *jobTracker) stop() { t.cancel() }
