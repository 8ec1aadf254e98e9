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
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/monitoring"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "trial"

// Event reasons, emitted on transitions only.
const (
	// EventFailed is a Warning on a Trial whose run failed.
	EventFailed = "TrialFailed"
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
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the clock the reconciler reads time from.
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.clock = c } }

// WithConcurrency sets how many Trials are reconciled at once.
func WithConcurrency(n int) Option { return func(r *Reconciler) { r.workers = n } }

// NewReconciler returns a Trial reconciler. apiReader must read from the API
// server, not a cache.
func NewReconciler(c client.Client, apiReader client.Reader, recorder events.EventRecorder, opts ...Option) *Reconciler {
	r := &Reconciler{client: c, apiReader: apiReader, recorder: recorder, clock: clock.RealClock{}, workers: 1}
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
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers}).
		Complete(r)
}

// jobEnded passes a Job's creation and deletion, and the updates that give
// it a condition it did not have.
var jobEnded = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*batchv1.Job)
		after, ok2 := e.ObjectNew.(*batchv1.Job)
		return !ok1 || !ok2 || len(before.Status.Conditions) != len(after.Status.Conditions) ||
			!after.DeletionTimestamp.IsZero()
	},
}

// podProgressed passes a Pod's creation and deletion, and the updates that
// change its phase or end its trainer.
var podProgressed = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*corev1.Pod)
		after, ok2 := e.ObjectNew.(*corev1.Pod)
		return !ok1 || !ok2 || before.Status.Phase != after.Status.Phase ||
			(trainerTerminated(before) == nil) != (trainerTerminated(after) == nil)
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
	if !trial.DeletionTimestamp.IsZero() || isFinished(&trial.Status) {
		// An ended Trial is a record: nothing more to do.
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("trial", klog.KObj(trial))
	ctx = ctrl.LoggerInto(ctx, log)

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

func (r *Reconciler) reconcile(ctx context.Context, trial *crucible.Trial) (wait time.Duration, err error) {
	owner := metav1.GetControllerOf(trial)
	if owner == nil || owner.Kind != "Experiment" {
		return 0, nil // not ours to run
	}
	exp := &crucible.Experiment{}
	if err := r.client.Get(ctx, types.NamespacedName{Namespace: trial.Namespace, Name: owner.Name}, exp); err != nil {
		// A missing owner means the Trial is about to be collected.
		return 0, client.IgnoreNotFound(err)
	}
	if exp.UID != owner.UID {
		return 0, nil
	}

	job := &batchv1.Job{}
	err = r.client.Get(ctx, client.ObjectKeyFromObject(trial), job)
	switch {
	case apierrors.IsNotFound(err):
		return 0, r.ensureJob(ctx, exp, trial)
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
	return setStatusFromJob(trial, job, pods.Items, exp.Spec.Objective.Metric, r.clock.Now()), nil
}

// ensureJob creates the Trial's Job, once. A Trial whose Job was created
// before and is now gone ended without a result: it is not run again.
func (r *Reconciler) ensureJob(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) error {
	if trial.Status.JobName != "" {
		// The cache may simply not show the Job yet: ask the API server.
		err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(trial), &batchv1.Job{})
		if err == nil {
			return nil // the watch brings it soon
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting Job: %w", err)
		}
		setFailed(trial, crucible.ReasonJobMissing,
			fmt.Sprintf("job %s was deleted before the run ended; a trial is never run twice", trial.Status.JobName),
			metav1.NewTime(r.clock.Now()))
		return nil
	}
	// The status is not written here: the Job's events bring the Trial
	// back, and its first status write records the Job with the phase
	// (Running, or Pending after pendingGracePeriod). Until then no trainer
	// has started, so a Job deleted in between has run nothing.
	job := newJobForTrial(exp, trial)
	if err := r.client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Job: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("created job", "job", klog.KObj(job))
	return nil
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
