package experiment

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/backoff"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/monitoring"
	"github.com/crucible-dev/crucible/internal/searchspace"
	"github.com/crucible-dev/crucible/internal/specdigest"
	"github.com/crucible-dev/crucible/internal/trialspec"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "experiment"

// Event reasons, emitted on transitions only, once the status that records
// them is written.
const (
	EventStarted   = "Started"
	EventSucceeded = "Succeeded"
	EventFailed    = "Failed"
	EventSuspended = "Suspended"
	EventResumed   = "Resumed"
	// EventDatasetVerified: the verifier found the pinned digest.
	EventDatasetVerified = "DatasetVerified"
	// EventReproduced: a reproduction ended with its verdict (Normal for
	// Identical and WithinTolerance, Warning for Differs and
	// NotComparable).
	EventReproduced = "Reproduced"
	// EventStoreError: Collected turned False with reason StoreError, the
	// artifact store refusing retention or a deleted Experiment's
	// artifacts. Not repeated on the retries that fail the same way.
	EventStoreError = "StoreError"
	// EventArtifactsAbandoned: a deleted Experiment goes without its
	// artifacts, left in the store after the artifact deletion timeout.
	EventArtifactsAbandoned = "ArtifactsAbandoned"
)

// maxParallelCreates bounds the creates in flight of one pass: of its
// Trials, then of their Jobs. It takes as many as a plain client needs to
// keep the API server busy; 64 left it idle between requests (1,000 Jobs in
// 11.9 s against 5.5 s at 256).
const maxParallelCreates = 256

// Reconciler reconciles Experiments.
type Reconciler struct {
	client   client.Client
	recorder events.EventRecorder
	clock    clock.PassiveClock
	workers  int
	// stores opens s3 artifact stores; store.None unless WithStores.
	stores store.Opener
	// deletionTimeout is how long after its deletion an Experiment's
	// artifacts are tried to be deleted before it goes without.
	deletionTimeout time.Duration
	// expected is the created Trials the cache has not shown yet.
	expected *expectations
	// writes holds back status writes that only move counts.
	writes *statusWrites
	// spaces is the search space of each running Experiment.
	spaces *spaceCache
	// repeats are the suggestions of running Experiments that repeated a
	// trial's point.
	repeats *repeatMemory
	// verifier is how dataset verifier Jobs are built; no Image unless
	// WithDatasetVerifier.
	verifier jobspec.Verifier
	// stepMetrics is where trainers report step metrics; nil when the
	// manager serves no endpoint.
	stepMetrics *jobspec.StepMetrics
}

// WithStepMetrics gives trial Jobs the step metrics endpoint.
func WithStepMetrics(sm *jobspec.StepMetrics) Option {
	return func(r *Reconciler) { r.stepMetrics = sm }
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock the reconciler reads time from.
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.clock = c } }

// WithConcurrency sets how many Experiments are reconciled at once.
func WithConcurrency(n int) Option { return func(r *Reconciler) { r.workers = n } }

// WithStores sets how s3 artifact stores are opened, to delete what
// retention does not keep.
// A nil o leaves store.None.
func WithStores(o store.Opener) Option {
	return func(r *Reconciler) {
		if o != nil {
			r.stores = o
		}
	}
}

// WithArtifactDeletionTimeout sets how long after an Experiment was deleted
// its artifacts are tried to be deleted before the Experiment goes without
// them. Zero or less leaves DefaultArtifactDeletionTimeout.
func WithArtifactDeletionTimeout(d time.Duration) Option {
	return func(r *Reconciler) {
		if d > 0 {
			r.deletionTimeout = d
		}
	}
}

// WithDatasetVerifier sets the image and command of the Job that verifies
// an Experiment's dataset, and its deadline (DefaultVerifierDeadline when
// zero). Without an image, an Experiment whose dataset is to be verified
// fails with reason DatasetVerificationFailed.
func WithDatasetVerifier(v jobspec.Verifier) Option {
	return func(r *Reconciler) {
		if len(v.Command) == 0 {
			v.Command = jobspec.DefaultVerifierCommand
		}
		if v.Deadline.Duration <= 0 {
			v.Deadline.Duration = DefaultVerifierDeadline
		}
		r.verifier = v
	}
}

// NewReconciler returns an Experiment reconciler.
func NewReconciler(c client.Client, recorder events.EventRecorder, opts ...Option) *Reconciler {
	r := &Reconciler{client: c, recorder: recorder, clock: clock.RealClock{}, workers: 1, stores: store.None,
		deletionTimeout: DefaultArtifactDeletionTimeout,
		expected:        newExpectations(), writes: newStatusWrites(), spaces: newSpaceCache(), repeats: newRepeatMemory(),
		verifier: jobspec.Verifier{Command: jobspec.DefaultVerifierCommand, Deadline: metav1.Duration{Duration: DefaultVerifierDeadline}}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// +kubebuilder:rbac:groups=crucible.dev,resources=experiments,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=crucible.dev,resources=experiments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=crucible.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups=crucible.dev,resources=trials,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// SetupWithManager registers the reconciler with mgr. The indexes of package
// index must be registered first.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&crucible.Experiment{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// A Trial's spec never changes: only its status and its deletion
		// matter to the Experiment. Status changes are batched.
		Watches(&crucible.Trial{}, trialEvents()).
		// Its own Jobs are its dataset verifiers (trials' Jobs are their
		// Trials'): only their end matters.
		Owns(&batchv1.Job{}, builder.WithPredicates(jobEnded)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers, RateLimiter: backoff.RateLimiter()}).
		Complete(r)
}

// jobEnded passes the update of a Job that ended (Complete or Failed
// turned True) and every deletion.
var jobEnded = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*batchv1.Job)
		after, ok2 := e.ObjectNew.(*batchv1.Job)
		return ok1 && ok2 && !jobFinished(before) && jobFinished(after)
	},
}

func jobFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) != nil || jobCondition(job, batchv1.JobFailed) != nil
}

// trialBatchPeriod is how long the status changes of an Experiment's
// Trials are collected before the Experiment is reconciled: a sweep whose
// trials end by the dozen each second then writes the Experiment's status
// about once a second, not once per trial. Trials are never started later
// than this after a slot frees up.
const trialBatchPeriod = time.Second

// trialEvents maps a Trial's events to its Experiment: status changes after
// trialBatchPeriod, deletions at once. Creations need no pass: the
// Experiment made the Trial and counted it.
func trialEvents() handler.Funcs {
	owner := func(obj client.Object) (reconcile.Request, bool) {
		ref := metav1.GetControllerOf(obj)
		if ref == nil || ref.Kind != "Experiment" || ref.APIVersion != crucible.GroupVersion.String() {
			return reconcile.Request{}, false
		}
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}}, true
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if req, ok := owner(e.ObjectNew); ok {
				q.AddAfter(req, trialBatchPeriod)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if req, ok := owner(e.Object); ok {
				q.Add(req)
			}
		},
	}
}

// Reconcile brings one Experiment's Trials and status in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	exp := &crucible.Experiment{}
	if err := r.client.Get(ctx, req.NamespacedName, exp); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("experiment", klog.KObj(exp))
	ctx = ctrl.LoggerInto(ctx, log)
	if !exp.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(exp, crucible.ArtifactsFinalizer) {
		// Trials, Jobs and Pods go by garbage collection of their owner.
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	before := exp.DeepCopy()
	defer func() {
		if retErr != nil {
			monitoring.ReconcileErrors.WithLabelValues(ControllerName).Inc()
		}
		wait, err := r.writeStatus(ctx, before, exp, retErr == nil)
		retErr = errors.Join(retErr, err)
		if wait > 0 && (res.RequeueAfter == 0 || wait < res.RequeueAfter) {
			res.RequeueAfter = wait
		}
	}()
	if !exp.DeletionTimestamp.IsZero() {
		r.expected.forget(req.NamespacedName)
		r.spaces.forget(req.NamespacedName)
		r.repeats.forget(req.NamespacedName)
		wait, err := r.finalize(ctx, exp, metav1.NewTime(r.clock.Now()))
		return ctrl.Result{RequeueAfter: wait}, err
	}
	if err := r.ensureFinalizer(ctx, exp); err != nil {
		return ctrl.Result{}, err
	}
	wait, err := r.reconcile(ctx, exp)
	return ctrl.Result{RequeueAfter: wait}, err
}

// forget drops what this process remembers of an Experiment that is gone,
// or going without a pass of its own: nothing of it grows with the
// Experiments deleted.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.writes.forget(key)
	r.expected.forget(key)
	r.spaces.forget(key)
	r.repeats.forget(key)
}

// reconcile runs the phases of one pass on exp, which it changes in memory
// only; Reconcile writes the status once at the end. It returns how long to
// wait before the next pass that no event brings.
func (r *Reconciler) reconcile(ctx context.Context, exp *crucible.Experiment) (time.Duration, error) {
	now := metav1.NewTime(r.clock.Now())
	key := client.ObjectKeyFromObject(exp)

	digest, err := specdigest.Compute(&exp.Spec)
	if err != nil {
		return 0, fmt.Errorf("computing the spec digest: %w", err)
	}
	exp.Status.SpecDigest = digest

	if exp.Status.CompletionTime != nil {
		// The Experiment ended with no trial running: its record is final,
		// and retention may delete Trials without changing it.
		r.expected.forget(key)
		r.spaces.forget(key)
		r.repeats.forget(key)
		trials, err := r.trials(ctx, exp)
		if err != nil {
			return 0, err
		}
		setReproduction(exp, trials)
		return r.retain(ctx, exp, trials, now)
	}

	space, err := r.spaces.get(exp)
	if err != nil {
		// Terminal: retrying cannot help.
		setFailedFor(exp, crucible.ReasonInvalidSearchSpace, err.Error(), now)
		setStatus(exp, 0, observation{}, now)
		setReproduction(exp, nil)
		return 0, nil
	}
	trials, err := r.trials(ctx, exp)
	if err != nil {
		return 0, err
	}
	obs := observe(trials, space.Len(), exp.Spec.Objective.Goal)
	r.repeats.apply(key, exp.UID, &obs)
	if unseen := r.expected.merge(key, exp.UID, &obs, now.Time); unseen > 0 {
		ctrl.LoggerFrom(ctx).V(2).Info("the cache does not show all created trials yet", "unseen", unseen)
	}

	// Decide the failure budget, then the template, before creating: a
	// failed Experiment starts no new trials.
	setFailedCondition(exp, obs, now)
	checkReproduction(exp, obs, now)
	startErr := r.checkTemplate(ctx, exp, space, &obs, now)
	if startErr == nil {
		var verified bool
		verified, startErr = r.verifyDataset(ctx, exp, now)
		if verified && startErr == nil {
			startErr = r.createTrials(ctx, exp, space, &obs, trials, digest)
		}
	}
	if errors.Is(startErr, errNameCollision) {
		setFailedFor(exp, crucible.ReasonInvalidSearchSpace, startErr.Error(), now)
		startErr = nil
	}

	setStatus(exp, space.Len(), obs, now)
	setReproduction(exp, trials)
	if startErr != nil || exp.Status.CompletionTime == nil {
		return 0, startErr
	}
	return r.retain(ctx, exp, trials, now)
}

// trials lists the Experiment's Trials from the cache, by the owner index.
// They belong to the cache: read only.
func (r *Reconciler) trials(ctx context.Context, exp *crucible.Experiment) ([]crucible.Trial, error) {
	var trials crucible.TrialList
	if err := r.client.List(ctx, &trials, client.InNamespace(exp.Namespace),
		client.MatchingFields{index.TrialOwnerKey: string(exp.UID)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing Trials: %w", err)
	}
	return trials.Items, nil
}

// createTrials creates the lowest-index missing Trials while fewer than
// parallelism are active: a grid's points, or a search's suggestions whose
// turn has come (see suggestions). Names are deterministic, so a Trial
// created by an earlier pass that the cache does not show yet is refused
// with AlreadyExists and counted as created, never run twice.
func (r *Reconciler) createTrials(ctx context.Context, exp *crucible.Experiment, space *searchspace.Space,
	obs *observation, trials []crucible.Trial, digest string) error {
	if isTerminal(&exp.Status) || exp.Spec.Suspend {
		return nil
	}
	slots := int(exp.Spec.Parallelism - obs.active)
	if slots <= 0 {
		return nil
	}
	var (
		points []searchspace.Trial
		// suggestErr stops the suggestions after the points before it,
		// which are created.
		suggestErr error
	)
	if space.Suggested() {
		points, suggestErr = r.suggestions(exp, space, obs, trials, slots)
	} else {
		for _, i := range obs.indices.missing(space.Len(), slots) {
			point, err := space.Trial(i)
			if err != nil {
				return err
			}
			points = append(points, point)
		}
	}
	if len(points) == 0 {
		return suggestErr
	}

	var (
		mu    sync.Mutex
		errs  []error
		done  []int64
		fresh []*crucible.Trial
	)
	workqueue.ParallelizeUntil(ctx, min(maxParallelCreates, len(points)), len(points), func(i int) {
		trial, err := r.createTrial(ctx, exp, points[i], digest)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		done = append(done, points[i].Index)
		obs.indices.add(points[i].Index)
		if trial != nil {
			fresh = append(fresh, trial)
		}
	})
	// The Jobs only once every Trial of the pass exists: a Job sets the Job
	// controller, the scheduler and the nodes to work on its Pod, and on a
	// busy API server that work slows the creates still to come. Records
	// first, then runs: the pass ends sooner, and no Job runs without its
	// Trial either way.
	workqueue.ParallelizeUntil(ctx, min(maxParallelCreates, len(fresh)), len(fresh), func(i int) {
		r.createJob(ctx, exp, fresh[i])
	})
	r.expected.expect(client.ObjectKeyFromObject(exp), exp.UID, done, r.clock.Now())
	created := int32(len(done))
	obs.created += created
	obs.active += created
	if created > 0 {
		ctrl.LoggerFrom(ctx).V(2).Info("created trials", "count", created, "active", obs.active)
	}
	return errors.Join(append(errs, suggestErr)...)
}

// errNameCollision means two points of the search space hash to one name.
var errNameCollision = errors.New("trial name collision")

// createTrial creates the Trial of point. It returns the Trial when this
// call created it, nil when it existed already.
func (r *Reconciler) createTrial(ctx context.Context, exp *crucible.Experiment, point searchspace.Trial, digest string) (*crucible.Trial, error) {
	i := point.Index
	trial := trialspec.New(exp, point, digest)
	err := r.client.Create(ctx, trial)
	switch {
	case err == nil:
		monitoring.TrialsCreated.Inc()
		return trial, nil
	case apierrors.IsAlreadyExists(err):
		// Either the cache lags behind an earlier create (fine), or another
		// point hashes to the same name (never silently skip a point).
		existing := &crucible.Trial{}
		if getErr := r.client.Get(ctx, client.ObjectKeyFromObject(trial), existing); getErr != nil {
			return nil, client.IgnoreNotFound(getErr)
		}
		if !metav1.IsControlledBy(existing, exp) {
			// A Trial of an earlier Experiment of the same name that the
			// garbage collector has not removed yet. Its deletion requeues
			// this Experiment (the owner reference names it): retry then.
			return nil, fmt.Errorf("trial %s (index %d) belongs to an earlier Experiment named %s; waiting for its deletion",
				trial.Name, i, exp.Name)
		}
		if existing.Spec.Index != i {
			return nil, fmt.Errorf("%w: index %d and index %d are both named %s", errNameCollision, i, existing.Spec.Index, trial.Name)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("creating Trial %s (index %d): %w", trial.Name, i, err)
	}
}

// createJob creates the Job of a Trial the pass created, so that a run starts
// without waiting for the Trial reconciler's queue. A failure is only
// logged: the Trial reconciler creates the Job after jobHandoffPeriod.
func (r *Reconciler) createJob(ctx context.Context, exp *crucible.Experiment, t *crucible.Trial) {
	job := jobspec.New(exp, t, jobspec.WithStepMetrics(r.stepMetrics))
	if err := r.client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		ctrl.LoggerFrom(ctx).V(1).Info("the Trial reconciler will create the job", "job", klog.KObj(job), "error", err.Error())
	}
}

// staleReadRetry is how long after a status write refused as stale
// (resourceVersion conflict) the Experiment is looked at again. No event
// brings it back: its own status changes are filtered out.
const staleReadRetry = time.Second

// writeStatus patches the status when it changed, then emits events for the
// transitions it recorded. observedGeneration advances only on a pass
// without errors. A change of counts alone within countsWriteInterval of
// the last write is held back: it returns how long until it may be written.
func (r *Reconciler) writeStatus(ctx context.Context, before, exp *crucible.Experiment, clean bool) (time.Duration, error) {
	if clean {
		exp.Status.ObservedGeneration = exp.Generation
	}
	if equality.Semantic.DeepEqual(before.Status, exp.Status) {
		return 0, nil
	}
	key, now := client.ObjectKeyFromObject(exp), r.clock.Now()
	if wait := r.writes.holdBack(key, &before.Status, &exp.Status, now); wait > 0 {
		return wait, nil
	}
	// The patch carries the resourceVersion this pass last saw (its read, or
	// its own finalizer or retention patch). A pass that read the Experiment
	// from a cache still behind an earlier write (a saturated API server)
	// is refused, instead of writing, and announcing in events, what that
	// write recorded; so is a status computed from a spec that has changed
	// since. Either way the next pass recomputes it from a fresher cache.
	base := exp.DeepCopy()
	base.Status = *before.Status.DeepCopy()
	err := r.client.Status().Patch(ctx, exp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err):
		ctrl.LoggerFrom(ctx).V(1).Info("status not written: the Experiment changed since it was read; will retry", "after", staleReadRetry)
		return staleReadRetry, nil
	case err != nil:
		return 0, client.IgnoreNotFound(err)
	}
	r.writes.wrote(key, now)
	r.emitEvents(before, exp)
	r.emitCollectedEvents(before, exp)
	return 0, nil
}

func (r *Reconciler) emitEvents(before, exp *crucible.Experiment) {
	if !meta.IsStatusConditionTrue(before.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition) &&
		meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition) {
		c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition)
		r.recorder.Eventf(exp, nil, corev1.EventTypeNormal, EventDatasetVerified, "VerifyDataset", "%s", c.Message)
	}
	if v := exp.Status.Reproduction; before.Status.Reproduction == nil && v != nil {
		kind := corev1.EventTypeNormal
		if v.Verdict == crucible.VerdictDiffers || v.Verdict == crucible.VerdictNotComparable {
			kind = corev1.EventTypeWarning
		}
		r.recorder.Eventf(exp, nil, kind, EventReproduced, "Compare", "%s: %s", v.Verdict, v.Message)
	}
	if before.Status.Trials.Created == 0 && exp.Status.Trials.Created > 0 {
		r.recorder.Eventf(exp, nil, corev1.EventTypeNormal, EventStarted, "CreateTrials",
			"started %d of %d trials", exp.Status.Trials.Created, exp.Status.Trials.Total)
	}
	if before.Status.Phase == exp.Status.Phase {
		return
	}
	switch exp.Status.Phase {
	case crucible.ExperimentSucceeded:
		best := "no trial reported the objective"
		if b := exp.Status.BestTrial; b != nil {
			best = fmt.Sprintf("best trial %s with %s=%s", b.Name, exp.Spec.Objective.Metric, b.Objective)
		}
		r.recorder.Eventf(exp, nil, corev1.EventTypeNormal, EventSucceeded, "Complete",
			"%d trials succeeded, %d failed; %s", exp.Status.Trials.Succeeded, exp.Status.Trials.Failed, best)
	case crucible.ExperimentFailed:
		msg := ""
		if c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition); c != nil {
			msg = c.Message
		}
		r.recorder.Eventf(exp, nil, corev1.EventTypeWarning, EventFailed, "Fail", "%s", msg)
	case crucible.ExperimentSuspended:
		r.recorder.Eventf(exp, nil, corev1.EventTypeNormal, EventSuspended, "Suspend",
			"suspended with %d trials active", exp.Status.Trials.Active)
	default:
		if before.Status.Phase == crucible.ExperimentSuspended {
			r.recorder.Eventf(exp, nil, corev1.EventTypeNormal, EventResumed, "Resume", "resumed")
		}
	}
}

// emitCollectedEvents announces a Collected condition that turned False for
// a store that refuses, or for artifacts given up on: once, when the
// status that records it was written, not on every retry that fails the
// same way.
func (r *Reconciler) emitCollectedEvents(before, exp *crucible.Experiment) {
	now := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentCollectedCondition)
	if now == nil || now.Status != metav1.ConditionFalse {
		return
	}
	if was := meta.FindStatusCondition(before.Status.Conditions, crucible.ExperimentCollectedCondition); was != nil &&
		was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	switch now.Reason {
	case crucible.ReasonStoreError:
		r.recorder.Eventf(exp, nil, corev1.EventTypeWarning, EventStoreError, "DeleteArtifacts", "%s", now.Message)
	case crucible.ReasonArtifactsAbandoned:
		r.recorder.Eventf(exp, nil, corev1.EventTypeWarning, EventArtifactsAbandoned, "DeleteArtifacts", "%s", now.Message)
	}
}
