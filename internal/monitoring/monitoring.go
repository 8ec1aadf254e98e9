// Package monitoring declares the Prometheus metrics the operator exports, on
// the manager's metrics endpoint beside controller-runtime's own.
package monitoring

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// TrialsCreated counts Trials the operator created (not repeated
	// creates that found the Trial already there).
	TrialsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crucible_trials_created_total",
		Help: "Trials created by the Experiment controller.",
	})

	// TrialsFinished counts Trials that reached Succeeded or Failed, by
	// phase and reason.
	TrialsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crucible_trials_finished_total",
		Help: "Trials that ended, by phase (Succeeded, Failed) and reason.",
	}, []string{"phase", "reason"})

	// TrialDuration observes how long trials ran, from the Job's start to
	// its end, by phase.
	TrialDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crucible_trial_duration_seconds",
		Help:    "Run time of ended trials, from Job start to end, by phase.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 18), // 1 s to about 36 h
	}, []string{"phase"})

	// TrialStatusWrites counts the Trial reconciler's status writes, by the
	// phase each one recorded: what a sweep costs the API server beyond
	// each Trial's create and its Job.
	TrialStatusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crucible_trial_status_writes_total",
		Help: "Trial status writes, by the phase written (Pending, Running, Succeeded, Failed, or empty).",
	}, []string{"phase"})

	// StepMetricsWrites counts the status writes of trials' step metrics:
	// at most one per trial every 10 s, whatever the rate of reports.
	StepMetricsWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crucible_step_metrics_writes_total",
		Help: "Writes of a trial's step metrics to its status.",
	})

	// StepMetricsChunks counts the chunks of trials' full series of step
	// metrics written to their s3 stores: at most one per trial every
	// 10 s, and one when the trial ends.
	StepMetricsChunks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crucible_step_metrics_chunks_total",
		Help: "Chunks of a trial's full series of step metrics written to its artifact store.",
	})

	// ReconcileErrors counts reconcile passes that returned an error, by
	// controller.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crucible_reconcile_errors_total",
		Help: "Reconcile passes that returned an error, by controller.",
	}, []string{"controller"})
)

func init() {
	metrics.Registry.MustRegister(TrialsCreated, TrialsFinished, TrialDuration, TrialStatusWrites, StepMetricsWrites, StepMetricsChunks, ReconcileErrors)
}

// The metrics endpoint authenticates and authorizes its scrapers.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
