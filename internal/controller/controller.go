// Package controller wires the Experiment, Trial, ModelVersion and Model
// controllers, their cache indexes and their cache selection into a
// manager. The manager binary and the integration tests both go through it,
// so tests run the production wiring.
package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/controller/experiment"
	"github.com/crucible-dev/crucible/internal/controller/index"
	"github.com/crucible-dev/crucible/internal/controller/model"
	"github.com/crucible-dev/crucible/internal/controller/modelversion"
	"github.com/crucible-dev/crucible/internal/controller/steps"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/controller/trial"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/internal/leaderendpoint"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
)

// Options configures the controllers.
type Options struct {
	// ExperimentWorkers is how many Experiments are reconciled at once.
	ExperimentWorkers int
	// TrialWorkers is how many Trials are reconciled at once.
	TrialWorkers int
	// Clock is where controllers read time; the real clock when nil.
	Clock clock.PassiveClock
	// ArtifactDeletionTimeout is how long after an Experiment was deleted
	// its artifacts are tried to be deleted before it goes without them;
	// experiment.DefaultArtifactDeletionTimeout when zero.
	ArtifactDeletionTimeout time.Duration
	// ArtifactEndpoints are the s3 endpoints Experiments may name; none
	// when empty. See store.Options.Endpoints.
	ArtifactEndpoints []string
	// ArtifactAllowInsecure allows s3 stores over plain HTTP.
	ArtifactAllowInsecure bool
	// ArtifactStoreTimeout bounds each call to an s3 store;
	// artifacts.DefaultTimeout when zero.
	ArtifactStoreTimeout time.Duration
	// ArtifactMaxObjectsPerTrial is the most objects a trial's manifest
	// counts; artifacts.DefaultMaxObjects when zero.
	ArtifactMaxObjectsPerTrial int64
	// DatasetVerifier is the image, command and deadline of the Job that
	// verifies an Experiment's dataset; see experiment.WithDatasetVerifier.
	DatasetVerifier jobspec.Verifier
	// Provenance names the operator in trials' provenance records and
	// holds the key that signs them; see trial.WithProvenance.
	Provenance trial.Provenance
	// StepMetrics serves the step metrics endpoint; none when nil.
	StepMetrics *StepMetricsOptions
}

// StepMetricsOptions configures the step metrics endpoint.
type StepMetricsOptions struct {
	// Addr is the address the HTTPS server listens on.
	Addr string
	// URL is the base URL trainers reach it at, and CA the PEM of the
	// certificate authority of its certificate, TLS that certificate.
	URL string
	CA  []byte
	TLS *tls.Config
	// Interval is the least time between two writes of a trial's curve;
	// steps.DefaultInterval when zero.
	Interval time.Duration
	// Authenticator checks trainers' tokens; a TokenReview authenticator
	// on the manager's credentials when nil.
	Authenticator endpoint.Authenticator
	// Leader, when set, points a Service at the leader, which alone
	// serves the endpoint; its Client and Log are the manager's.
	Leader *leaderendpoint.Publisher
}

// Setup registers the cache indexes and the controllers with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	// Secrets are read from the API server: the operator caches none.
	stores, err := store.NewSecretOpener(mgr.GetAPIReader(), store.Options{
		Endpoints:     o.ArtifactEndpoints,
		AllowInsecure: o.ArtifactAllowInsecure,
		Limits:        artifacts.Limits{Timeout: o.ArtifactStoreTimeout, MaxObjects: o.ArtifactMaxObjectsPerTrial},
	})
	if err != nil {
		return err
	}
	var (
		jobStepMetrics *jobspec.StepMetrics
		stepEvents     <-chan event.GenericEvent
		recorder       *steps.Recorder
	)
	if sm := o.StepMetrics; sm != nil {
		recorder, err = setupStepMetrics(mgr, *sm, stores, o.Clock)
		if err != nil {
			return err
		}
		jobStepMetrics = &jobspec.StepMetrics{URL: sm.URL, CA: sm.CA}
		stepEvents = recorder.Events()
	}
	if err := experiment.NewReconciler(mgr.GetClient(), mgr.GetEventRecorder("crucible-experiment"),
		experiment.WithConcurrency(max(1, o.ExperimentWorkers)), experiment.WithClock(o.Clock),
		experiment.WithStores(stores), experiment.WithArtifactDeletionTimeout(o.ArtifactDeletionTimeout),
		experiment.WithDatasetVerifier(o.DatasetVerifier), experiment.WithStepMetrics(jobStepMetrics)).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	if err := trial.NewReconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("crucible-trial"),
		trial.WithConcurrency(max(1, o.TrialWorkers)), trial.WithClock(o.Clock),
		trial.WithStores(stores), trial.WithProvenance(o.Provenance),
		trial.WithStepMetrics(jobStepMetrics, stepEvents, sealer(recorder))).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Trial controller: %w", err)
	}
	if err := modelversion.NewReconciler(mgr.GetClient(), mgr.GetEventRecorder("crucible-modelversion"),
		modelversion.WithClock(o.Clock), modelversion.WithStores(stores),
		modelversion.WithArtifactDeletionTimeout(o.ArtifactDeletionTimeout)).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ModelVersion controller: %w", err)
	}
	if err := model.NewReconciler(mgr.GetClient(), mgr.GetEventRecorder("crucible-model"),
		model.WithClock(o.Clock)).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Model controller: %w", err)
	}
	return nil
}

// sealer is recorder as the Trial reconciler's SeriesSealer: nil when the
// manager serves no endpoint.
func sealer(recorder *steps.Recorder) trial.SeriesSealer {
	if recorder == nil {
		return nil
	}
	return recorder
}

// setupStepMetrics adds the step metrics endpoint and its Recorder to mgr.
func setupStepMetrics(mgr ctrl.Manager, o StepMetricsOptions, stores store.Opener, clk clock.PassiveClock) (*steps.Recorder, error) {
	auth := o.Authenticator
	if auth == nil {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("a client for TokenReviews: %w", err)
		}
		auth = endpoint.NewTokenReviewAuthenticator(cs.AuthenticationV1())
	}
	log := mgr.GetLogger().WithName("step-metrics")
	recorder := steps.NewRecorder(mgr.GetClient(), stores, clk, o.Interval, log)
	handler, err := endpoint.New(endpoint.Options{
		Authenticator: auth,
		Trials:        steps.Trials{Reader: mgr.GetClient()},
		Sink:          recorder,
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(recorder); err != nil {
		return nil, err
	}
	if err := mgr.Add(&steps.Server{Addr: o.Addr, Handler: handler, TLS: o.TLS, Log: log}); err != nil {
		return nil, err
	}
	if p := o.Leader; p != nil {
		p.Client, p.Log = mgr.GetClient(), log
		if err := mgr.Add(p); err != nil {
			return nil, err
		}
	}
	return recorder, nil
}

// CacheOptions keeps in memory only the Jobs and Pods the operator made,
// not every Job and Pod of the cluster; drops managedFields from every
// cached object; and of Jobs and Pods keeps only what the controllers read
// (metadata and status), not their pod specs, which are most of their size.
func CacheOptions() cache.Options {
	ours, err := labels.NewRequirement(crucible.ExperimentLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key: cannot fail
	}
	selector := labels.NewSelector().Add(*ours)
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}: {Label: selector, Transform: stripJob},
			&corev1.Pod{}:  {Label: selector, Transform: stripPod},
			// Of Events, only the Job controller's word that it cannot
			// create a Pod: a trial's Job has no condition that says so.
			&corev1.Event{}: {Field: fields.SelectorFromSet(fields.Set{
				"involvedObject.kind": "Job",
				"reason":              crucible.ReasonFailedCreate,
			})},
		},
	}
}

// stripJob drops a cached Job's managedFields and pod template.
func stripJob(obj any) (any, error) {
	if job, ok := obj.(*batchv1.Job); ok {
		job.ManagedFields = nil
		job.Spec.Template = corev1.PodTemplateSpec{}
	}
	return obj, nil
}

// stripPod drops a cached Pod's managedFields, spec but its node, and conditions but a
// failed PodScheduled, which says why a trial cannot start, and a
// DisruptionTarget, which says the Pod was evicted or preempted.
func stripPod(obj any) (any, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		pod.ManagedFields = nil
		// The node stays: a trial's provenance records where it ran.
		pod.Spec = corev1.PodSpec{NodeName: pod.Spec.NodeName}
		pod.Status.Conditions = slices.DeleteFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
			kept := (c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse) ||
				(c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue)
			return !kept
		})
	}
	return obj, nil
}
