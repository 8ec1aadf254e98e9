package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/test/framework"
)

// trialFloorWriters is how many Trial end writes the floor with Trials makes
// at once: the manager's default --trial-workers.
const trialFloorWriters = 16

// trialFloor is the floor with Trials: the least any program must do to
// record a sweep's results on Trials, which is what the operator is for.
// It creates every Trial (as the Experiment reconciler builds it), then
// every Job, controlled by its Trial; it watches the Jobs and their Pods
// (protobuf, as the manager does) and writes each Trial's end once, as the
// operator writes it: phase, times, the metrics of the trainer's
// termination message, the objective and the Succeeded condition. It writes
// no Running, no Experiment status, no Event, and reconciles nothing: what
// the operator spends beyond it is what the operator itself adds.
type trialFloor struct {
	spec   *floorSpec
	cl     client.Client
	cs     kubernetes.Interface
	trials []*crucible.Trial
	jobs   []*batchv1.Job
	byName map[string]int

	jobInf cache.SharedIndexInformer
	podInf cache.SharedIndexInformer
	queue  workqueue.TypedRateLimitingInterface[string]

	mu    sync.Mutex
	ended map[string]bool
	done  chan struct{}
	// failed counts end writes that the API server refused (retried).
	failed atomic.Int64
}

// newTrialFloor builds the Trials and starts the informers; it returns once
// their caches are synced, so that the run starts with its watches up, as
// the manager's does.
func newTrialFloor(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, spec *floorSpec, jobs []*batchv1.Job) (*trialFloor, error) {
	exp := spec.Experiment
	if exp.UID == "" {
		return nil, fmt.Errorf("the floor with Trials needs the Experiment as created (its uid): the Trials' owner")
	}
	trials, err := sweepTrials(exp, len(jobs))
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: framework.Scheme()})
	if err != nil {
		return nil, err
	}
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	watchCS, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, err
	}
	f := &trialFloor{
		spec: spec, cl: cl, cs: cs, trials: trials, jobs: jobs, byName: map[string]int{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		ended: map[string]bool{}, done: make(chan struct{}),
	}
	for i, t := range trials {
		if t.Name != jobs[i].Name {
			return nil, fmt.Errorf("trial %d is %s but its Job is %s", i, t.Name, jobs[i].Name)
		}
		f.byName[t.Name] = i
	}

	// The operator's cache: only the Jobs and Pods of trials.
	factory := informers.NewSharedInformerFactoryWithOptions(watchCS, 0, informers.WithNamespace(spec.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = crucible.TrialLabel }))
	f.jobInf = factory.Batch().V1().Jobs().Informer()
	f.podInf = factory.Core().V1().Pods().Informer()
	if err := f.podInf.AddIndexers(cache.Indexers{index.PodJobKey: func(obj any) ([]string, error) {
		if o, ok := obj.(client.Object); ok {
			return index.PodJob(o), nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	enqueue := func(obj any) {
		if o, ok := obj.(metav1.Object); ok {
			if name := o.GetLabels()[crucible.TrialLabel]; name != "" {
				f.queue.Add(name)
			}
		}
	}
	for _, inf := range []cache.SharedIndexInformer{f.jobInf, f.podInf} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		}); err != nil {
			return nil, err
		}
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watching %v in %s: %w", typ, spec.Namespace, context.Cause(ctx))
		}
	}
	return f, nil
}

// run creates every Trial, then every Job, and returns when every Trial's
// end is written, or ctx ends.
func (f *trialFloor) run(ctx context.Context) (floorResult, error) {
	start := time.Now()
	for range trialFloorWriters {
		go func() {
			for f.processNext(ctx) {
			}
		}()
	}
	defer f.queue.ShutDown()

	workers := max(1, f.spec.Workers)
	createdTrials, failedTrials, err := createAll(ctx, len(f.trials), workers, func(i int) error {
		return f.cl.Create(ctx, f.trials[i])
	})
	if err != nil {
		return floorResult{Errors: failedTrials}, fmt.Errorf("created %d of %d Trials: %w", createdTrials, len(f.trials), err)
	}
	created, failed, err := createAll(ctx, len(f.jobs), workers, func(i int) error {
		job := f.jobs[i]
		job.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(f.trials[i], crucible.GroupVersion.WithKind("Trial"))}
		_, err := f.cs.BatchV1().Jobs(f.spec.Namespace).Create(ctx, job, metav1.CreateOptions{})
		return err
	})
	res := floorResult{Created: created, Errors: failedTrials + failed}
	if err != nil {
		return res, fmt.Errorf("created %d of %d Jobs: %w", created, len(f.jobs), err)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		f.mu.Lock()
		n := len(f.ended)
		f.mu.Unlock()
		return res, fmt.Errorf("%d of %d Trials ended: %w", n, len(f.trials), context.Cause(ctx))
	}
	res.Seconds = time.Since(start).Seconds()
	res.Errors += int(f.failed.Load())
	return res, nil
}

func (f *trialFloor) processNext(ctx context.Context) bool {
	name, shutdown := f.queue.Get()
	if shutdown {
		return false
	}
	defer f.queue.Done(name)
	if err := f.end(ctx, name); err != nil {
		f.failed.Add(1)
		f.queue.AddRateLimited(name)
		return true
	}
	f.queue.Forget(name)
	return true
}

// end writes the Trial's end once its Job ended and, for a run that
// succeeded, its trainer's termination message is in the cache.
func (f *trialFloor) end(ctx context.Context, name string) error {
	f.mu.Lock()
	ended := f.ended[name]
	f.mu.Unlock()
	i, ours := f.byName[name]
	if ended || !ours || f.trials[i].UID == "" {
		return nil
	}
	obj, ok, err := f.jobInf.GetIndexer().GetByKey(f.spec.Namespace + "/" + name)
	if err != nil || !ok {
		return err
	}
	job := obj.(*batchv1.Job)
	trial := f.trials[i]
	before := trial.DeepCopy()
	st := &trial.Status
	st.JobName = job.Name
	st.StartTime = job.Status.StartTime
	st.ObservedGeneration = trial.Generation
	var cond metav1.Condition
	failed, complete := jobEnded(job, batchv1.JobFailed), jobEnded(job, batchv1.JobComplete)
	switch {
	case failed != nil:
		c := failed
		st.Phase, st.Reason, st.Message = crucible.TrialFailed, c.Reason, c.Message
		st.CompletionTime = c.LastTransitionTime.DeepCopy()
		cond = metav1.Condition{Type: crucible.TrialSucceededCondition, Status: metav1.ConditionFalse, Reason: c.Reason, Message: c.Message}
	case complete != nil:
		term := f.terminated(job)
		if term == nil {
			return nil // the Pod's update brings the trial back
		}
		m, err := metrics.Parse(term.Message)
		if err != nil {
			return fmt.Errorf("trial %s: %w", name, err)
		}
		objective := f.spec.Experiment.Spec.Objective.Metric
		st.Phase, st.Metrics, st.Objective = crucible.TrialSucceeded, m, m[objective]
		st.CompletionTime = job.Status.CompletionTime.DeepCopy()
		cond = metav1.Condition{Type: crucible.TrialSucceededCondition, Status: metav1.ConditionTrue,
			Reason: crucible.ReasonMetricsRecorded, Message: objective + "=" + m[objective]}
	default:
		return nil
	}
	if st.CompletionTime == nil {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		st.CompletionTime = &now
	}
	cond.ObservedGeneration, cond.LastTransitionTime = trial.Generation, *st.CompletionTime
	meta.SetStatusCondition(&st.Conditions, cond)
	if err := f.cl.Status().Patch(ctx, trial, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		trial.Status = before.Status
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ended[name] {
		f.ended[name] = true
		if len(f.ended) == len(f.trials) {
			close(f.done)
		}
	}
	return nil
}

// terminated is the trainer's terminated state in the newest of the
// cached Pods of job that has one.
func (f *trialFloor) terminated(job *batchv1.Job) *corev1.ContainerStateTerminated {
	objs, _ := f.podInf.GetIndexer().ByIndex(index.PodJobKey, string(job.UID))
	var out *corev1.ContainerStateTerminated
	var newest time.Time
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name == crucible.TrainerContainerName && cs.State.Terminated != nil && !pod.CreationTimestamp.Time.Before(newest) {
				out, newest = cs.State.Terminated, pod.CreationTimestamp.Time
			}
		}
	}
	return out
}

func jobEnded(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
