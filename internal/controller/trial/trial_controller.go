package trial

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/backoff"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/controller/steps"
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
	// EventStopped is a Normal event on a Trial the Experiment's
	// early-stopping rule stopped, with the rule's numbers.
	EventStopped = "EarlyStopped"
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
	// gone remembers the Jobs and disrupted Pods deleted before their
	// Trial ended, which leave no other trace.
	gone *tombstones
	// provenance says how trials' provenance records are written.
	provenance Provenance
	// stepMetrics is where trainers report step metrics; nil when the
	// manager serves no endpoint.
	stepMetrics *jobspec.StepMetrics
	// stepEvents brings back a Trial whose step metrics were written, to
	// judge it by the early-stopping rule.
	stepEvents <-chan event.GenericEvent
	// series ends a trial's series of step metrics when it ends; nil when
	// the manager serves no endpoint.
	series SeriesSealer
}

// SeriesSealer ends the series of step metrics of a trial that ended, and
// writes it to the Experiment's s3 store (steps.Recorder).
type SeriesSealer interface {
	Seal(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) (steps.Sealed, error)
}

// WithStepMetrics gives trial Jobs the step metrics endpoint, has the
// reconciler judge a trial by the early-stopping rule whenever events
// brings it back (after its step metrics were written), and end its series
// with series (nil: none) when it ends.
func WithStepMetrics(sm *jobspec.StepMetrics, events <-chan event.GenericEvent, series SeriesSealer) Option {
	return func(r *Reconciler) { r.stepMetrics, r.stepEvents, r.series = sm, events, series }
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
	r := &Reconciler{client: c, apiReader: apiReader, recorder: recorder, clock: clock.RealClock{}, workers: 1, stores: store.None,
		gone: newTombstones()}
	WithProvenance(Provenance{})(r)
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
// +kubebuilder:rbac:groups="",resources=events,verbs=get;list;watch

// SetupWithManager registers the reconciler with mgr. The indexes of package
// index must be registered first, and the manager's cache should select Jobs
// and Pods by crucible.ExperimentLabel, and Events by the Job controller's
// FailedCreate reason (CacheOptions in package controller).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// A Trial's spec never changes: its own status writes need no pass.
		For(&crucible.Trial{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Of a Job, only its end and its deletion matter; the Job
		// controller's other status writes (active, ready, counts) do not.
		Watches(&batchv1.Job{}, r.jobEvents()).
		// Pods belong to Jobs, not Trials, but carry the Trial's label. Only
		// a change of phase, or the trainer's end, matters.
		Watches(&corev1.Pod{}, r.podEvents()).
		// The Job controller says only in an Event that it cannot create a
		// Pod; a Job is named after its Trial.
		Watches(&corev1.Event{}, handler.EnqueueRequestsFromMapFunc(failedCreateToTrial)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers, RateLimiter: backoff.RateLimiter()})
	if r.stepEvents != nil {
		// A Trial's own status writes bring no pass (see For), but the
		// step metrics the endpoint wrote are what early stopping judges.
		b = b.WatchesRawSource(source.Channel(r.stepEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
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

// jobEvents enqueues a Job's Trial for the updates jobEnded passes and for
// its deletion, which it first remembers: a Job deleted before its Trial
// recorded it leaves no other trace.
func (r *Reconciler) jobEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	owner := func(obj client.Object) (reconcile.Request, bool) {
		ref := metav1.GetControllerOf(obj)
		if ref == nil || ref.Kind != "Trial" || ref.APIVersion != crucible.GroupVersion.String() {
			return reconcile.Request{}, false
		}
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}}, true
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if req, ok := owner(e.ObjectNew); ok && jobEnded.Update(e) {
				q.Add(req)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if req, ok := owner(e.Object); ok {
				r.gone.jobDeleted(req.NamespacedName, e.Object.GetUID())
				q.Add(req)
			}
		},
	}
}

// failedCreateToTrial maps the Job controller's FailedCreate Event about a
// Job to the Trial of the same name.
func failedCreateToTrial(_ context.Context, obj client.Object) []reconcile.Request {
	e, ok := obj.(*corev1.Event)
	if !ok || e.InvolvedObject.Kind != "Job" || e.InvolvedObject.APIVersion != "batch/v1" || e.Reason != crucible.ReasonFailedCreate {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: e.Namespace, Name: e.InvolvedObject.Name}}}
}

// podEvents enqueues a Pod's Trial for the updates podProgressed passes and
// for its deletion. A Pod deleted after it was evicted or preempted, or
// while it ran (the Job controller stops the Pods of a Job a queue
// suspends), is remembered first: a kubelet, or KWOK at once, removes it
// soon after, and the Trial counts it among its attempts.
func (r *Reconciler) podEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range podToTrial(context.Background(), obj) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if podProgressed.Update(e) {
				enqueue(e.ObjectNew, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			pod, ok := e.Object.(*corev1.Pod)
			if !ok {
				return
			}
			if reqs := podToTrial(context.Background(), pod); len(reqs) == 1 && (disrupted(pod) || pod.Status.Phase == corev1.PodRunning) {
				if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "Job" {
					r.gone.podDisrupted(reqs[0].NamespacedName, ref.UID, pod.UID)
				}
			}
			enqueue(pod, q)
		},
	}
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
		if apierrors.IsNotFound(err) {
			r.gone.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !trial.DeletionTimestamp.IsZero() {
		r.gone.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("trial", klog.KObj(trial))
	ctx = ctrl.LoggerInto(ctx, log)
	if isFinished(&trial.Status) {
		r.gone.forget(req.NamespacedName)
		// An ended Trial is a record; only its provenance may be missing
		// (the store refused it at the end), or the series of a stopped
		// trial's step metrics, and its Job be collected.
		if trial.Status.Provenance == nil || r.needsSeal(trial) {
			before := trial.DeepCopy()
			var err error
			if r.needsSeal(trial) {
				err = r.sealSeries(ctx, trial)
			}
			if trial.Status.Provenance == nil {
				err = errors.Join(err, r.recordProvenance(ctx, trial))
			}
			if werr := r.writeStatus(ctx, before, trial, err == nil); werr != nil || err != nil {
				return ctrl.Result{}, errors.Join(err, werr)
			}
		}
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
	if err == nil && isFinished(&trial.Status) {
		// With the end, in the same status write. A store that refuses it
		// does not hold the end back: the error brings the Trial back.
		err = r.recordProvenance(ctx, trial)
	}
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

	obs, err := r.observe(ctx, exp, trial, job)
	if err != nil {
		return 0, err
	}
	wait = setStatusFromJob(trial, exp, obs, r.clock.Now())
	if !isFinished(&trial.Status) {
		if stopped, err := r.earlyStop(ctx, exp, trial); stopped || err != nil {
			return 0, err
		}
		if l := obs.listing; l != nil && l.err != nil {
			// The status says why the Trial waits; the listing is retried
			// with backoff, the Job's and Pod's state read again then.
			return 0, fmt.Errorf("listing the trial's artifacts: %w", l.err)
		}
		return wait, nil
	}
	if ttl, ok := jobTTL(exp); ok {
		// No event comes back once the trial ended: come back to delete
		// its Job, after the cache has seen the status written at the end
		// of this pass.
		return max(ttl, minJobCollectionDelay), nil
	}
	return 0, nil
}

// observe gathers what the Trial's status is computed from: the Pods of its
// Job, why the Job cannot create one, and, once the Job ended, what the
// trial wrote to an s3 store.
func (r *Reconciler) observe(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial, job *batchv1.Job) (observed, error) {
	obs := observed{job: job}
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(trial.Namespace),
		client.MatchingFields{index.PodJobKey: string(job.UID)}, client.UnsafeDisableDeepCopy); err != nil {
		return obs, fmt.Errorf("listing Pods: %w", err)
	}
	obs.pods = pods.Items
	obs.attempts = r.gone.attempts(client.ObjectKeyFromObject(trial), job.UID, obs.pods)
	ended := jobCondition(job, batchv1.JobComplete) != nil || jobCondition(job, batchv1.JobFailed) != nil
	if len(obs.pods) == 0 && !ended {
		var events corev1.EventList
		if err := r.client.List(ctx, &events, client.InNamespace(trial.Namespace),
			client.MatchingFields{index.EventObjectKey: string(job.UID)}); err != nil {
			return obs, fmt.Errorf("listing the Job's events: %w", err)
		}
		obs.failedCreate = latestEvent(events.Items)
	}
	if !ended {
		return obs, nil
	}
	// The series of the trial's step metrics is one of its artifacts:
	// written before they are listed.
	var sealed steps.Sealed
	var err error
	if r.series != nil {
		sealed, err = r.series.Seal(ctx, exp, trial)
	}
	if exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil {
		var m artifacts.Manifest
		if err == nil {
			m, err = r.listArtifacts(ctx, exp, trial)
		}
		obs.listing = &listing{manifest: m, sealed: sealed, err: err}
	}
	return obs, nil
}

// needsSeal reports whether an ended trial's series of step metrics was
// never written: a Stopped trial whose store refused it. A Trial that ended
// otherwise wrote it before its artifacts were listed, or did not end.
func (r *Reconciler) needsSeal(trial *crucible.Trial) bool {
	return r.series != nil && trial.Status.Phase == crucible.TrialStopped && steps.NeedsSeal(trial)
}

// sealSeries writes a stopped trial's series of step metrics and records
// where.
func (r *Reconciler) sealSeries(ctx context.Context, trial *crucible.Trial) error {
	exp, err := r.experiment(ctx, trial)
	if exp == nil || err != nil {
		return err
	}
	sealed, err := r.series.Seal(ctx, exp, trial)
	if err != nil {
		return err
	}
	sealed.Record(trial)
	return nil
}

// latestEvent returns the Event seen last, nil when there is none.
func latestEvent(events []corev1.Event) *corev1.Event {
	var latest *corev1.Event
	for i := range events {
		if e := &events[i]; latest == nil || eventTime(latest).Before(eventTime(e)) {
			latest = e
		}
	}
	return latest
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
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

// listArtifacts lists what the trial wrote to the Experiment's s3 store.
func (r *Reconciler) listArtifacts(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) (artifacts.Manifest, error) {
	st, err := r.stores.Open(ctx, exp)
	if err != nil {
		return artifacts.Manifest{}, err
	}
	return st.Manifest(ctx, artifacts.TrialKeyPrefix(exp.Spec.Artifacts.S3.Prefix, exp, trial))
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
	key := client.ObjectKeyFromObject(trial)
	if uid, ok := r.gone.deletedJob(key); ok {
		if ended, err := r.endedOnServer(ctx, trial); ended || err != nil {
			return 0, err
		}
		// Deleted before the Trial recorded it, perhaps with its trainer
		// running: a second Job could run the point twice.
		setFailed(trial, crucible.ReasonJobMissing,
			fmt.Sprintf("job %s (uid %s) was deleted before the run ended; a trial is never run twice", trial.Name, uid),
			metav1.NewTime(r.clock.Now()))
		r.gone.forget(key)
		return 0, nil
	}
	if trial.Status.JobName != "" {
		// The cache may simply not show the Job yet: ask the API server.
		// If it is there, its Pod's events bring the Trial back.
		exists, err := r.jobOnServer(ctx, trial)
		if exists || err != nil {
			return 0, err
		}
		if ended, err := r.endedOnServer(ctx, trial); ended || err != nil {
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
	if ended, err := r.endedOnServer(ctx, trial); ended || err != nil {
		return 0, err
	}
	// The status is not written here: the Pod's events bring the Trial
	// back, and its first status write records the Job with the phase
	// (Running, or Pending when the Pod cannot start). Until then no trainer
	// has started, so a Job deleted in between has run nothing.
	job := jobspec.New(exp, trial, jobspec.WithStepMetrics(r.stepMetrics))
	err := r.client.Create(ctx, job)
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
	case rejected(err):
		// The same Job would be refused again: the trial ends here.
		setFailed(trial, crucible.ReasonJobRejected, "the API server refused the trial's Job: "+err.Error(),
			metav1.NewTime(r.clock.Now()))
		return 0, nil
	default:
		return 0, fmt.Errorf("creating Job: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("created job", "job", klog.KObj(job))
	return 0, nil
}

// rejected reports whether a create was refused for what was sent, so that
// sending it again cannot succeed: the Job is invalid, or an admission
// webhook or policy denied it. A quota, a namespace being deleted or the
// operator's own RBAC are refusals of the moment, retried with backoff.
func rejected(err error) bool {
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return true
	}
	msg := err.Error()
	return apierrors.IsForbidden(err) && strings.Contains(msg, "denied") && !strings.Contains(msg, "exceeded quota")
}

// endedOnServer reports whether the API server has the Trial ended while
// the cache does not show it yet: an early stop records Stopped and deletes
// the Job in one pass, and the Job's deletion can reach the cache before
// the Trial's new status does. Such a pass must neither record JobMissing
// (its merge patch would overwrite Stopped) nor create the Job again.
func (r *Reconciler) endedOnServer(ctx context.Context, trial *crucible.Trial) (bool, error) {
	current := &crucible.Trial{}
	if err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(trial), current); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return current.UID == trial.UID && isFinished(&current.Status), nil
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

// storeError returns the condition that says the trial's artifacts could
// not be listed, nil when they could.
func storeError(status *crucible.TrialStatus) *metav1.Condition {
	c := meta.FindStatusCondition(status.Conditions, crucible.TrialArtifactsRecordedCondition)
	if c == nil || c.Status != metav1.ConditionFalse {
		return nil
	}
	return c
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
	if c := storeError(&trial.Status); c != nil && storeError(&before.Status) == nil {
		r.recorder.Eventf(trial, nil, corev1.EventTypeWarning, EventStoreError, "ListArtifacts", "%s", c.Message)
	}
	if isFinished(&before.Status) || !isFinished(&trial.Status) {
		return nil
	}
	st := &trial.Status
	monitoring.TrialsFinished.WithLabelValues(string(st.Phase), st.Reason).Inc()
	if st.StartTime != nil && st.CompletionTime != nil {
		monitoring.TrialDuration.WithLabelValues(string(st.Phase)).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
	switch st.Phase {
	case crucible.TrialFailed:
		r.recorder.Eventf(trial, nil, corev1.EventTypeWarning, EventFailed, "Run", "%s: %s", st.Reason, st.Message)
	case crucible.TrialStopped:
		r.recorder.Eventf(trial, nil, corev1.EventTypeNormal, EventStopped, "EarlyStop", "%s", st.Message)
	}
	return nil
}
