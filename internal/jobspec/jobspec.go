// Package jobspec builds the Job that runs a Trial. It is a pure package: the
// Experiment and Trial reconcilers both call it, and neither imports the
// other.
package jobspec

import (
	"maps"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// Names of the volumes the operator adds to a trial's Pod.
const (
	datasetVolumeName   = "crucible-dataset"
	artifactsVolumeName = "crucible-artifacts"
)

// New builds the Job that runs trial, from exp's pinned fields. It is a
// pure function: the same Experiment and Trial give the same Job. The
// Experiment reconciler creates it right after the Trial; the Trial
// reconciler creates it when that did not happen (an operator restarted in
// between, a failed create).
func New(exp *crucible.Experiment, trial *crucible.Trial, opts ...Option) *batchv1.Job {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var template corev1.PodTemplateSpec
	if exp.Spec.PodTemplate != nil {
		exp.Spec.PodTemplate.DeepCopyInto(&template)
	}
	labels := map[string]string{
		crucible.ExperimentLabel: exp.Name,
		crucible.TrialLabel:      trial.Name,
	}
	annotations := map[string]string{crucible.TrialIndexAnnotation: strconv.FormatInt(trial.Spec.Index, 10)}
	template.Labels = mergeMaps(template.Labels, labels)
	template.Annotations = mergeMaps(template.Annotations, annotations)

	spec := &template.Spec
	spec.RestartPolicy = corev1.RestartPolicyNever
	if spec.AutomountServiceAccountToken == nil {
		// A trainer needs no API credentials unless its template asks.
		spec.AutomountServiceAccountToken = ptr.To(false)
	}

	trainer := trainerContainer(exp, trial)
	merged := false
	for i := range spec.Containers {
		if spec.Containers[i].Name == crucible.TrainerContainerName {
			spec.Containers[i] = mergeTrainer(spec.Containers[i], trainer)
			merged = true
			break
		}
	}
	if !merged {
		spec.Containers = append([]corev1.Container{trainer}, spec.Containers...)
	}
	restrict(spec)

	if ds := exp.Spec.Dataset; ds != nil {
		spec.Volumes = append(spec.Volumes, datasetVolume(ds))
	}
	if a := exp.Spec.Artifacts; a != nil && a.PersistentVolumeClaim != nil {
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name: artifactsVolumeName,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: a.PersistentVolumeClaim.ClaimName,
			}},
		})
	}

	if o.stepMetrics != nil {
		addStepMetrics(&template, trial, o.stepMetrics)
	}

	jobLabels := labels
	var suspend *bool
	if q := exp.Spec.QueueName; q != "" {
		// Kueue admits the Job by quota and unsuspends it; until then no
		// Pod is created. The label is on the Job only: Kueue's Job
		// integration reads it there.
		jobLabels = mergeMaps(labels, map[string]string{crucible.QueueNameLabel: q})
		suspend = ptr.To(true)
	}

	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        trial.Name,
			Namespace:   trial.Namespace,
			Labels:      jobLabels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(trial, crucible.GroupVersion.WithKind("Trial")),
			},
		},
		Spec: batchv1.JobSpec{
			// A trial runs once: a retry with the same seed is a new run
			// the record would not show.
			BackoffLimit: ptr.To[int32](0),
			Parallelism:  ptr.To[int32](1),
			Completions:  ptr.To[int32](1),
			// Count a Pod as failed only once it has stopped, so a
			// terminating trainer is never overlapped by a second one.
			PodReplacementPolicy: ptr.To(batchv1.Failed),
			// An evicted or preempted Pod (a node drain, a higher-priority
			// workload) is no failure of the run: the Job starts it again,
			// with the same seed, and the Trial counts the attempt.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{
					Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				}},
			}}},
			Suspend:  suspend,
			Template: template,
		},
	}
}

// trainerContainer builds the container that runs the trainer.
func trainerContainer(exp *crucible.Experiment, trial *crucible.Trial) corev1.Container {
	c := corev1.Container{
		Name:    crucible.TrainerContainerName,
		Image:   exp.Spec.Image,
		Command: append([]string(nil), exp.Spec.Command...),
		Args:    append([]string(nil), exp.Spec.Args...),
		Env:     trainerEnv(exp, trial),
		// On failure the tail of the log stands in for a missing message,
		// so the Trial can say why the run failed.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if exp.Spec.Resources != nil {
		exp.Spec.Resources.DeepCopyInto(&c.Resources)
	}
	if ds := exp.Spec.Dataset; ds != nil {
		mount := corev1.VolumeMount{Name: datasetVolumeName, MountPath: ds.MountPath, ReadOnly: true}
		if pvc := ds.Source.PersistentVolumeClaim; pvc != nil {
			mount.SubPath = pvc.SubPath
		}
		c.VolumeMounts = []corev1.VolumeMount{mount}
	}
	if a := exp.Spec.Artifacts; a != nil && a.PersistentVolumeClaim != nil {
		// The kubelet creates the trial's directory of the claim.
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
			Name:      artifactsVolumeName,
			MountPath: crucible.ArtifactsMountPath,
			SubPath:   strings.TrimSuffix(artifacts.TrialKeyPrefix(a.PersistentVolumeClaim.SubPath, exp, trial), "/"),
		})
	}
	return c
}

// trainerEnv is the CRUCIBLE_* variables, then the Experiment's own env so
// that it may refer to them with $(VAR).
func trainerEnv(exp *crucible.Experiment, trial *crucible.Trial) []corev1.EnvVar {
	env := make([]corev1.EnvVar, 0, len(trial.Spec.Parameters)+4+len(exp.Spec.Env))
	for _, p := range trial.Spec.Parameters {
		env = append(env, corev1.EnvVar{Name: crucible.EnvParamPrefix + strings.ToUpper(p.Name), Value: p.Value})
	}
	env = append(env,
		corev1.EnvVar{Name: crucible.EnvSeed, Value: strconv.FormatInt(trial.Spec.Seed, 10)},
		corev1.EnvVar{Name: crucible.EnvTrial, Value: trial.Name},
		corev1.EnvVar{Name: crucible.EnvExperiment, Value: exp.Name},
	)
	if ds := exp.Spec.Dataset; ds != nil {
		env = append(env, corev1.EnvVar{Name: crucible.EnvDatasetPath, Value: ds.MountPath})
	}
	if a := exp.Spec.Artifacts; a != nil {
		env = append(env, artifactEnv(exp, trial)...)
	}
	for _, e := range exp.Spec.Env {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	return env
}

// artifactEnv tells the trainer where its artifacts go. An s3 store's
// credentials come from the Secret by reference: they never appear in the
// Job.
func artifactEnv(exp *crucible.Experiment, trial *crucible.Trial) []corev1.EnvVar {
	a := exp.Spec.Artifacts
	if pvc := a.PersistentVolumeClaim; pvc != nil {
		return []corev1.EnvVar{
			{Name: crucible.EnvArtifactURI, Value: artifacts.URI(exp, trial)},
			{Name: crucible.EnvArtifactPath, Value: crucible.ArtifactsMountPath},
		}
	}
	s3 := a.S3
	scheme := "https://"
	if s3.Insecure {
		scheme = "http://"
	}
	secretRef := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s3.CredentialsSecret.Name},
			Key:                  key,
		}}
	}
	env := []corev1.EnvVar{
		{Name: crucible.EnvArtifactURI, Value: artifacts.URI(exp, trial)},
		{Name: crucible.EnvArtifactBucket, Value: s3.Bucket},
		{Name: crucible.EnvArtifactPrefix, Value: artifacts.TrialKeyPrefix(s3.Prefix, exp, trial)},
		{Name: "AWS_ENDPOINT_URL", Value: scheme + s3.Endpoint},
		{Name: crucible.SecretKeyAccessKeyID, ValueFrom: secretRef(crucible.SecretKeyAccessKeyID)},
		{Name: crucible.SecretKeySecretAccessKey, ValueFrom: secretRef(crucible.SecretKeySecretAccessKey)},
	}
	if s3.Region != "" {
		env = append(env, corev1.EnvVar{Name: "AWS_REGION", Value: s3.Region})
	}
	return env
}

// mergeTrainer merges the built trainer into the podTemplate's container of
// the same name: the pinned fields win; volume mounts, ports, probes and
// the like come from the template; a security context in the template
// replaces the default one.
func mergeTrainer(tmpl, built corev1.Container) corev1.Container {
	out := tmpl
	out.Image = built.Image
	out.Command = built.Command
	out.Args = built.Args
	// The pinned variables win. Kubernetes lets the last definition of a
	// name win, so the template's own definitions of them are dropped; its
	// other variables (secrets by valueFrom) follow, and may refer to the
	// pinned ones with $(VAR).
	pinned := make(map[string]bool, len(built.Env))
	for _, e := range built.Env {
		pinned[e.Name] = true
	}
	out.Env = built.Env
	for _, e := range tmpl.Env {
		if !pinned[e.Name] {
			out.Env = append(out.Env, e)
		}
	}
	// Metrics are read from the default path, /dev/termination-log.
	out.TerminationMessagePolicy = built.TerminationMessagePolicy
	out.TerminationMessagePath = ""
	if len(built.Resources.Limits) > 0 || len(built.Resources.Requests) > 0 || len(built.Resources.Claims) > 0 {
		out.Resources = built.Resources
	}
	out.VolumeMounts = append(append([]corev1.VolumeMount(nil), tmpl.VolumeMounts...), built.VolumeMounts...)
	return out
}

// restrict fills in the Pod Security Standard "restricted" profile field by
// field, wherever the template leaves a field unset: the Pod runs as
// non-root with the RuntimeDefault seccomp profile, and every container,
// init containers and sidecars included, drops all capabilities and cannot
// escalate privileges. A field the template sets is kept; whether the
// namespace allows it is the admission policy's and Pod Security
// admission's to say.
func restrict(spec *corev1.PodSpec) {
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	psc := spec.SecurityContext
	if psc.RunAsNonRoot == nil {
		psc.RunAsNonRoot = ptr.To(true)
	}
	if psc.SeccompProfile == nil {
		psc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			c := &cs[i]
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			sc := c.SecurityContext
			if sc.AllowPrivilegeEscalation == nil && (sc.Privileged == nil || !*sc.Privileged) {
				sc.AllowPrivilegeEscalation = ptr.To(false)
			}
			if sc.Capabilities == nil {
				sc.Capabilities = &corev1.Capabilities{}
			}
			if sc.Capabilities.Drop == nil {
				sc.Capabilities.Drop = []corev1.Capability{"ALL"}
			}
		}
	}
}

func datasetVolume(ds *crucible.DatasetSpec) corev1.Volume {
	v := corev1.Volume{Name: datasetVolumeName}
	switch {
	case ds.Source.PersistentVolumeClaim != nil:
		v.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: ds.Source.PersistentVolumeClaim.ClaimName,
			ReadOnly:  true,
		}
	case ds.Source.Image != nil:
		v.Image = &corev1.ImageVolumeSource{
			Reference:  ds.Source.Image.Reference,
			PullPolicy: corev1.PullIfNotPresent,
		}
	}
	return v
}

func mergeMaps(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}
