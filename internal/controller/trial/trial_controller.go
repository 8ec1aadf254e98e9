package trial

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/backoff"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/monitoring"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "trial"

// Event reasons.
const (
	// EventFailed is a Warning on a Trial whose run failed.
	EventFailed = "TrialFailed"
	// EventStoreError is a Warning on a Trial whose artifacts could not be
	// listed; the Trial ends once they can be.
	EventStoreError = "ArtifactStoreError"
)

// Reconciler reconciles Trials.
type Reconciler struct {
	client client.Client
	// apiReader reads around the cache, to tell a Job that is gone from one
	// the cache has not seen yet.
	apiReader client.Reader
	recorder  events.EventRecorder
	clock     clock.PassiveClock
	workers   int
	// stores opens s3 artifact stores; store.None unless WithStores.
	stores store.Opener
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock the reconciler reads time from.
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.clock = c } }

// WithConcurrency sets how many Trials are reconciled at once.
func WithConcurrency(n int) Option { return func(r *Reconciler) { r.workers = n } }

// WithStores sets how s3 artifact stores are opened, to list what a trial
// wrote.
// A nil o leaves store.None.
func WithStores(o store.Opener) Option {
	return func(r *Reconciler) {
		if o != nil {
			r.stores = o
		}
	}
}

// NewReconciler returns a Trial reconciler. apiReader must read from the API
// server, not a cache.
func NewReconciler(c client.Client, apiReader client.Reader, recorder events.EventRecorder, opts ...Option) *Reconciler {
	r := &Reconciler{client: c, apiReader: apiReader, recorder: recorder, clock: clock.RealClock{}, workers: 1, stores: store.None}
	for _, o := range opts {
		o(r)
	}
	return r
}

// +kubebuilder:rbac:groups=crucible.dev,resources=trials,verbs=get;list;watch
// +kubebuilder:rbac:groups=crucible.dev,resources=trials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=crucible.dev,resources=trials/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SetupWithManager registers the reconciler with mgr. The indexes of package
// index must be registered first, and the manager's cache should select Jobs
// and Pods by crucible.TrialLabel.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// A Trial's spec never changes: its own status writes need no pass.
		For(&crucible.Trial{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Of a Job, only its end and its deletion matter; the Job
		// controller's other status writes (active, ready, counts) do not.
		Owns(&batchv1.Job{}, builder.WithPredicates(jobEnded)).
		// Pods belong to Jobs, not Trials, but carry the Trial's label. Only
		// a change of phase, or the trainer's end, matters.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToTrial), builder.WithPredicates(podProgressed)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers, RateLimiter: backoff.RateLimiter()}).
		Complete(r)
}

// jobEnded passes a Job's deletion, and the updates that end it, suspend or
// resume it, or start its deletion. Its creation tells the Trial nothing
// (no phase is recorded before the Pod runs or cannot start), and neither
// do the interim conditions SuccessCriteriaMet and FailureTarget: the Job
// controller's Complete or Failed follows them. After a restart the
// Trials' own creation events bring every Trial back.
var jobEnded = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*batchv1.Job)
		after, ok2 := e.ObjectNew.(*batchv1.Job)
		if !ok1 || !ok2 || !after.DeletionTimestamp.IsZero() {
			return true
		}
		for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobSuspended} {
			if (jobCondition(before, t) == nil) != (jobCondition(after, t) == nil) {
				return true
			}
		}
		return false
	},
}

// podProgressed passes a Pod's deletion, and the updates that change its
// phase, end its trainer, or give it a reason it cannot start. A Pod is
// created Pending with nothing to say.
var podProgressed = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*corev1.Pod)
		after, ok2 := e.ObjectNew.(*corev1.Pod)
		if !ok1 || !ok2 || before.Status.Phase != after.Status.Phase ||
			(trainerTerminated(before) == nil) != (trainerTerminated(after) == nil) {
			return true
		}
		was, _ := podWaitingReason(before)
		is, _ := podWaitingReason(after)
		return was != is
	},
}

func podToTrial(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[crucible.TrialLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// Reconcile runs one Trial as one Job and records what happened.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	trial := &crucible.Trial{}
	if err := r.client.Get(ctx, req.NamespacedName, trial); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !trial.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("trial", klog.KObj(trial))
	ctx = ctrl.LoggerInto(ctx, log)
	if isFinished(&trial.Status) {
		// An ended Trial is a record; only its Job may still be collected.
		wait, err := r.collectJob(ctx, trial)
		return ctrl.Result{RequeueAfter: wait}, err
	}

	before := trial.DeepCopy()
	defer func() {
		if retErr != nil {
			monitoring.ReconcileErrors.WithLabelValues(ControllerName).Inc()
		}
		retErr = errors.Join(retErr, r.writeStatus(ctx, before, trial, retErr == nil))
	}()
	wait, err := r.reconcile(ctx, trial)
	return ctrl.Result{RequeueAfter: wait}, err
}

// experiment returns the Experiment that owns trial from the cache, or nil
// when there is none (not ours to run, or about to be collected).
func (r *Reconciler) experiment(ctx context.Context, trial *crucible.Trial) (*crucible.Experiment, error) {
	owner := metav1.GetControllerOf(trial)
	if owner == nil || owner.Kind != "Experiment" {
		return nil, nil
	}
	exp := &crucible.Experiment{}
	if err := r.client.Get(ctx, types.NamespacedName{Namespace: trial.Namespace, Name: owner.Name}, exp); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if exp.UID != owner.UID || !exp.DeletionTimestamp.IsZero() {
		// Not its Experiment, or one being deleted: no Job starts.
		return nil, nil
	}
	return exp, nil
}

func (r *Reconciler) reconcile(ctx context.Context, trial *crucible.Trial) (wait time.Duration, err error) {
	exp, err := r.experiment(ctx, trial)
	if exp == nil || err != nil {
		return 0, err
	}

	job := &batchv1.Job{}
	err = r.client.Get(ctx, client.ObjectKeyFromObject(trial), job)
	switch {
	case apierrors.IsNotFound(err):
		return r.ensureJob(ctx, exp, trial)
	case err != nil:
		return 0, fmt.Errorf("getting Job: %w", err)
	}
	if !metav1.IsControlledBy(job, trial) {
		return 0, fmt.Errorf("job %s exists but is not controlled by this Trial", job.Name)
	}

	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(trial.Namespace),
		client.MatchingFields{index.PodTrialKey: trial.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("listing Pods: %w", err)
	}
	prev := trial.Status.DeepCopy()
	wait = setStatusFromJob(trial, job, pods.Items, exp.Spec.Objective.Metric, r.clock.Now())
	if isFinished(&trial.Status) {
		if err := r.recordArtifacts(ctx, exp, trial, prev); err != nil {
			return 0, err
		}
		if ttl, ok := jobTTL(exp); ok {
			// No event comes back once the trial ended: come back to
			// delete its Job, after the cache has seen the status written
			// at the end of this pass.
			return max(ttl, minJobCollectionDelay), nil
		}
	}
	return wait, nil
}

// minJobCollectionDelay is the earliest an ended trial's Job is deleted
// after the pass that recorded its end, so that the next pass reads the
// ended Trial from the cache rather than recording the end twice.
const minJobCollectionDelay = time.Second

// jobTTL is how long after a trial ended its Job is deleted, if it is.
func jobTTL(exp *crucible.Experiment) (time.Duration, bool) {
	if exp.Spec.Retention == nil || exp.Spec.Retention.Jobs.TTLSecondsAfterFinished == nil {
		return 0, false
	}
	return time.Duration(*exp.Spec.Retention.Jobs.TTLSecondsAfterFinished) * time.Second, true
}

// recordArtifacts records where the ended trial's artifacts are and, for an
// s3 store, lists what it wrote. A run that exited 0 without writing
// anything fails when the Experiment requires artifacts. When the store
// cannot be listed the Trial does not end: it says why, and the listing is
// retried with backoff.
func (r *Reconciler) recordArtifacts(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial,
	prev *crucible.TrialStatus) error {
	a := exp.Spec.Artifacts
	if a == nil {
		return nil
	}
	rec := &crucible.TrialArtifacts{URI: artifacts.URI(a, trial.Namespace, exp.Name, trial.Name)}
	if a.S3 != nil {
		objs, err := r.listArtifacts(ctx, exp, trial)
		if err != nil {
			return r.storeError(ctx, trial, prev, err)
		}
		m := artifacts.NewManifest(objs)
		rec.Objects, rec.Bytes, rec.ManifestDigest = &m.Objects, &m.Bytes, m.Digest
		if a.Required && m.Objects == 0 && trial.Status.Phase == crucible.TrialSucceeded {
			setFailed(trial, crucible.ReasonArtifactsMissing,
				fmt.Sprintf("the run exited 0 but wrote no artifact under %s, and spec.artifacts.required is set", rec.URI),
				*trial.Status.CompletionTime)
		}
		if c := meta.FindStatusCondition(trial.Status.Conditions, crucible.TrialArtifactsRecordedCondition); c != nil {
			meta.SetStatusCondition(&trial.Status.Conditions, metav1.Condition{
				Type:               crucible.TrialArtifactsRecordedCondition,
				Status:             metav1.ConditionTrue,
				Reason:             "Recorded",
				Message:            fmt.Sprintf("%d objects, %d bytes", m.Objects, m.Bytes),
				ObservedGeneration: trial.Generation,
				LastTransitionTime: metav1.NewTime(r.clock.Now()),
			})
		}
	}
	trial.Status.Artifacts = rec
	return nil
}

func (r *Reconciler) listArtifacts(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) ([]artifacts.Object, error) {
	st, err := r.stores.Open(ctx, exp)
	if err != nil {
		return nil, err
	}
	return st.List(ctx, artifacts.TrialPrefix(exp.Spec.Artifacts.S3.Prefix, trial.Namespace, exp.Name, trial.Name))
}

// storeError keeps the Trial from ending without its artifacts: the status
// goes back to prev, what it was before this pass, with a condition that
// says why, and err is returned so that the pass is retried with backoff
// (the Job's and Pod's state is read again then).
func (r *Reconciler) storeError(ctx context.Context, trial *crucible.Trial, prev *crucible.TrialStatus, err error) error {
	err = fmt.Errorf("listing the trial's artifacts: %w", err)
	ended := trial.Status.Phase
	trial.Status = *prev
	status := &trial.Status
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               crucible.TrialArtifactsRecordedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             crucible.ReasonStoreError,
		Message:            truncate(fmt.Sprintf("the run ended (%s) but its artifacts could not be listed: %v", ended, err), maxMessageLength),
		ObservedGeneration: trial.Generation,
		LastTransitionTime: metav1.NewTime(r.clock.Now()),
	})
	r.recorder.Eventf(trial, nil, corev1.EventTypeWarning, EventStoreError, "ListArtifacts", "%v", err)
	ctrl.LoggerFrom(ctx).Error(err, "artifacts not recorded; retrying")
	return err
}

// collectJob deletes an ended trial's Job, and its Pods with it, once
// retention.jobs.ttlSecondsAfterFinished has passed since the trial ended.
// It returns how long to wait until then.
func (r *Reconciler) collectJob(ctx context.Context, trial *crucible.Trial) (time.Duration, error) {
	exp, err := r.experiment(ctx, trial)
	if exp == nil || err != nil {
		return 0, err
	}
	ttl, ok := jobTTL(exp)
	if !ok {
		return 0, nil
	}
	end := trial.CreationTimestamp
	if trial.Status.CompletionTime != nil {
		end = *trial.Status.CompletionTime
	}
	if wait := end.Add(ttl).Sub(r.clock.Now()); wait > 0 {
		return wait, nil
	}
	job := &batchv1.Job{}
	if err := r.client.Get(ctx, client.ObjectKeyFromObject(trial), job); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(job, trial) || !job.DeletionTimestamp.IsZero() {
		return 0, nil
	}
	err = r.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &job.UID})
	if err := client.IgnoreNotFound(err); err != nil {
		return 0, fmt.Errorf("deleting the ended trial's Job: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("deleted the ended trial's job", "job", klog.KObj(job))
	return 0, nil
}

// jobHandoffPeriod is how long after a Trial's creation its reconciler
// leaves the Job to the Experiment reconciler, which creates it right after
// the Trial. A Job create of its own in that window would only meet
// AlreadyExists.
const jobHandoffPeriod = 10 * time.Second

// ensureJob creates the Trial's Job, once, if the Experiment reconciler did
// not. A Trial whose Job was created before and is now gone ended without a
// result: it is not run again. It returns how long to wait before looking
// again.
func (r *Reconciler) ensureJob(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) (time.Duration, error) {
	if trial.Status.JobName != "" {
		// The cache may simply not show the Job yet: ask the API server.
		// If it is there, its Pod's events bring the Trial back.
		exists, err := r.jobOnServer(ctx, trial)
		if exists || err != nil {
			return 0, err
		}
		setFailed(trial, crucible.ReasonJobMissing,
			fmt.Sprintf("job %s was deleted before the run ended; a trial is never run twice", trial.Status.JobName),
			metav1.NewTime(r.clock.Now()))
		return 0, nil
	}
	if age := r.clock.Now().Sub(trial.CreationTimestamp.Time); age < jobHandoffPeriod {
		// The Experiment reconciler creates the Job; come back when the
		// handoff ends, if its Pod's events have not brought the Trial back.
		return jobHandoffPeriod - age, nil
	}
	// A cache that lags this far behind (a saturated API server) may not
	// show a Job the Experiment created: a read is cheaper than a create
	// refused with AlreadyExists.
	if exists, err := r.jobOnServer(ctx, trial); exists || err != nil {
		return 0, err
	}
	// The status is not written here: the Pod's events bring the Trial
	// back, and its first status write records the Job with the phase
	// (Running, or Pending when the Pod cannot start). Until then no trainer
	// has started, so a Job deleted in between has run nothing.
	job := jobspec.New(exp, trial)
	if err := r.client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("creating Job: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("created job", "job", klog.KObj(job))
	return 0, nil
}

// jobOnServer reports whether the API server has the trial's Job, which
// the cache may not show yet.
func (r *Reconciler) jobOnServer(ctx context.Context, trial *crucible.Trial) (bool, error) {
	err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(trial), &batchv1.Job{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("getting Job: %w", err)
	}
	return true, nil
}

// writeStatus patches the status when it changed, then records the
// transition in events and metrics.
func (r *Reconciler) writeStatus(ctx context.Context, before, trial *crucible.Trial, clean bool) error {
	if equality.Semantic.DeepEqual(before.Status, trial.Status) {
		// A Trial's spec never changes, so observedGeneration alone is no
		// reason for a write of its own.
		return nil
	}
	if clean {
		trial.Status.ObservedGeneration = trial.Generation
	}
	if err := r.client.Status().Patch(ctx, trial, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	monitoring.TrialStatusWrites.WithLabelValues(string(trial.Status.Phase)).Inc()
	if isFinished(&before.Status) || !isFinished(&trial.Status) {
		return nil
	}
	st := &trial.Status
	monitoring.TrialsFinished.WithLabelValues(string(st.Phase), st.Reason).Inc()
	if st.StartTime != nil && st.CompletionTime != nil {
		monitoring.TrialDuration.WithLabelValues(string(st.Phase)).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
	if st.Phase == crucible.TrialFailed {
		r.recorder.Eventf(trial, nil, corev1.EventTypeWarning, EventFailed, "Run", "%s: %s", st.Reason, st.Message)
	}
	return nil
}
