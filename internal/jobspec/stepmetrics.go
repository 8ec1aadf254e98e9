package jobspec

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
)

// StepMetrics is where trainers report step metrics: the manager's endpoint.
type StepMetrics struct {
	// URL is the endpoint's base URL, such as
	// https://crucible-step-metrics.crucible-system.svc:9443.
	URL string
	// CA is the PEM of the certificate authority that signed the
	// endpoint's certificate.
	CA []byte
}

// Option changes the Job New builds.
type Option func(*options)

type options struct {
	stepMetrics *StepMetrics
}

// WithStepMetrics gives the trainer what it needs to report step metrics:
// the endpoint's URL for its Trial, its CA, and a projected ServiceAccount
// token whose audience names the Trial, in CRUCIBLE_METRICS_URL,
// CRUCIBLE_METRICS_CA and CRUCIBLE_METRICS_TOKEN_FILE. A nil or empty sm
// changes nothing.
func WithStepMetrics(sm *StepMetrics) Option {
	return func(o *options) {
		if sm != nil && sm.URL != "" {
			o.stepMetrics = sm
		}
	}
}

// Names and paths of what WithStepMetrics adds.
const (
	stepMetricsVolumeName = "crucible-step-metrics"
	stepMetricsMountPath  = "/var/run/crucible/step-metrics"
	// StepMetricsCAAnnotation carries the endpoint's CA on the Pod, which a
	// downward API volume turns into a file: no object to create in the
	// trial's namespace.
	StepMetricsCAAnnotation = "crucible.dev/step-metrics-ca"
	// stepMetricsTokenSeconds is how long the projected token lives; the
	// kubelet renews it before it expires.
	stepMetricsTokenSeconds = 3600
)

// Environment variables of the trainer for step metrics.
const (
	EnvMetricsURL       = "CRUCIBLE_METRICS_URL"
	EnvMetricsCA        = "CRUCIBLE_METRICS_CA"
	EnvMetricsTokenFile = "CRUCIBLE_METRICS_TOKEN_FILE"
)

// addStepMetrics adds the volume, the annotation and the trainer's
// variables to template for trial.
func addStepMetrics(template *corev1.PodTemplateSpec, trial *crucible.Trial, sm *StepMetrics) {
	template.Annotations = mergeMaps(template.Annotations, map[string]string{StepMetricsCAAnnotation: string(sm.CA)})
	spec := &template.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{
		Name: stepMetricsVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o444),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          endpoint.Audience(trial.Namespace, trial.Name),
					ExpirationSeconds: ptr.To[int64](stepMetricsTokenSeconds),
					Path:              "token",
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "ca.crt",
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + StepMetricsCAAnnotation + "']"},
				}}}},
			},
		}},
	})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != crucible.TrainerContainerName {
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: stepMetricsVolumeName, MountPath: stepMetricsMountPath, ReadOnly: true})
		c.Env = append(c.Env,
			corev1.EnvVar{Name: EnvMetricsURL, Value: strings.TrimSuffix(sm.URL, "/") + endpoint.Path(trial.Namespace, trial.Name)},
			corev1.EnvVar{Name: EnvMetricsCA, Value: stepMetricsMountPath + "/ca.crt"},
			corev1.EnvVar{Name: EnvMetricsTokenFile, Value: stepMetricsMountPath + "/token"},
		)
	}
}
