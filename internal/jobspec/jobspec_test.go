package jobspec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// The Job tests spell labels, annotations and variable names as literals:
// they are part of the API, and a renamed constant must fail here.

const (
	jobTestTrial  = builder.SweepTrialName
	testNamespace = "ml"
	// testDatasetImage is a digest-pinned OCI artifact holding a dataset.
	testDatasetImage = "registry.example/datasets/cifar10@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	testSidecarImage = "registry.example/log-shipper@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// makeExperiment returns a minimal Experiment of testNamespace.
func makeExperiment(name string) *builder.ExperimentWrapper {
	return builder.MakeExperiment(name, testNamespace).UID(types.UID(name + "-uid"))
}

var makeTrial = builder.MakeTrial

// sweepExperiment is the Experiment most Job tests start from.
func sweepExperiment() *builder.ExperimentWrapper { return builder.MakeSweep(testNamespace) }

var sweepTrial = builder.SweepTrial

func crucibleLabels() map[string]string {
	return map[string]string{"crucible.dev/experiment": "resnet", "crucible.dev/trial": jobTestTrial}
}

func indexAnnotation() map[string]string {
	return map[string]string{"crucible.dev/trial-index": "5"}
}

// sweepEnv is the trainer's environment for sweepTrial, with extra inserted
// between the CRUCIBLE_* variables and the Experiment's env.
func sweepEnv(extra ...corev1.EnvVar) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: "CRUCIBLE_PARAM_LR", Value: "0.01"},
		{Name: "CRUCIBLE_PARAM_BATCH_SIZE", Value: "64"},
		{Name: "CRUCIBLE_SEED", Value: "42"},
		{Name: "CRUCIBLE_TRIAL", Value: jobTestTrial},
		{Name: "CRUCIBLE_EXPERIMENT", Value: "resnet"},
	}
	env = append(env, extra...)
	return append(env,
		corev1.EnvVar{Name: "EPOCHS", Value: "3"},
		corev1.EnvVar{Name: "LOG_DIR", Value: "/logs/$(CRUCIBLE_TRIAL)"},
	)
}

func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func restrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// sweepTrainer is the trainer container built for sweepTrial.
func sweepTrainer() corev1.Container {
	return corev1.Container{
		Name:                     "trainer",
		Image:                    builder.Image,
		Command:                  []string{"python", "train.py"},
		Args:                     []string{"--lr=$(CRUCIBLE_PARAM_LR)", "--out=/logs"},
		Env:                      sweepEnv(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restrictedContainer(),
	}
}

// sweepJob is the Job expected for sweepTrial of sweepExperiment, written
// out in full.
func sweepJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        jobTestTrial,
			Namespace:   testNamespace,
			Labels:      crucibleLabels(),
			Annotations: indexAnnotation(),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         "crucible.dev/v1alpha1",
				Kind:               "Trial",
				Name:               jobTestTrial,
				UID:                jobTestTrial + "-uid",
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:         ptr.To[int32](0),
			Completions:          ptr.To[int32](1),
			Parallelism:          ptr.To[int32](1),
			PodReplacementPolicy: ptr.To(batchv1.Failed),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          "Ignore",
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget", Status: "True"}},
			}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: crucibleLabels(), Annotations: indexAnnotation()},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              restrictedPod(),
					Containers:                   []corev1.Container{sweepTrainer()},
				},
			},
		},
	}
}

func trainerResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory:                 resource.MustParse("16Gi"),
			corev1.ResourceName("nvidia.com/gpu"): resource.MustParse("1"),
		},
	}
}

func sidecar() corev1.Container {
	return corev1.Container{
		Name:         "log-shipper",
		Image:        testSidecarImage,
		Args:         []string{"--from=/logs"},
		VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}},
	}
}

// fullTemplate is a podTemplate with a trainer container of its own, a
// sidecar, scheduling constraints, a service account and a pod security
// context.
func fullTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			// The template may not claim to be another trial.
			Labels:      map[string]string{"team": "vision", "crucible.dev/trial": "someone-else"},
			Annotations: map[string]string{"prometheus.io/scrape": "true"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyOnFailure,
			ServiceAccountName: "trainer-sa",
			NodeSelector:       map[string]string{"accelerator": "a100"},
			Tolerations: []corev1.Toleration{{
				Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
			}},
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true),
				RunAsUser:    ptr.To[int64](1000),
				FSGroup:      ptr.To[int64](2000),
			},
			Volumes: []corev1.Volume{
				{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			Containers: []corev1.Container{
				sidecar(),
				{
					Name:    "trainer",
					Image:   "registry.example/other@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
					Command: []string{"sleep", "infinity"},
					Args:    []string{"--ignored"},
					Env:     []corev1.EnvVar{{Name: "HF_HOME", Value: "/logs/hf"}},
					Ports:   []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}},
					Resources: corev1.ResourceRequirements{
						Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}},
					SecurityContext: &corev1.SecurityContext{
						RunAsUser:              ptr.To[int64](1000),
						ReadOnlyRootFilesystem: ptr.To(true),
					},
				},
			},
		},
	}
}

func TestNewJobForTrial(t *testing.T) {
	pvcVolume := corev1.Volume{Name: "crucible-dataset", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "datasets", ReadOnly: true},
	}}
	pvcMount := corev1.VolumeMount{Name: "crucible-dataset", MountPath: "/data", SubPath: "cifar10/2024-05-01", ReadOnly: true}

	cases := []struct {
		name  string
		exp   *crucible.Experiment
		trial func(*crucible.Experiment) *crucible.Trial
		want  func() *batchv1.Job
	}{
		{
			name: "minimal experiment: no parameters, args, env, dataset or template",
			exp:  makeExperiment("resnet").Obj(),
			trial: func(exp *crucible.Experiment) *crucible.Trial {
				return makeTrial(exp, jobTestTrial).Index(5).Seed(7).Obj()
			},
			want: func() *batchv1.Job {
				job := sweepJob()
				c := &job.Spec.Template.Spec.Containers[0]
				c.Args = nil
				c.Env = []corev1.EnvVar{
					{Name: "CRUCIBLE_SEED", Value: "7"},
					{Name: "CRUCIBLE_TRIAL", Value: jobTestTrial},
					{Name: "CRUCIBLE_EXPERIMENT", Value: "resnet"},
				}
				return job
			},
		},
		{
			name:  "parameters in order, then seed, trial and experiment, then spec.env",
			exp:   sweepExperiment().Obj(),
			trial: sweepTrial,
			want:  sweepJob,
		},
		{
			name:  "PVC dataset: read-only claim, read-only mount of its subPath",
			exp:   sweepExperiment().PVCDataset("datasets", "cifar10/2024-05-01", "/data").Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				spec := &job.Spec.Template.Spec
				spec.Volumes = []corev1.Volume{pvcVolume}
				spec.Containers[0].Env = sweepEnv(corev1.EnvVar{Name: "CRUCIBLE_DATASET_PATH", Value: "/data"})
				spec.Containers[0].VolumeMounts = []corev1.VolumeMount{pvcMount}
				return job
			},
		},
		{
			name:  "PVC dataset without subPath: the whole claim",
			exp:   sweepExperiment().PVCDataset("datasets", "", "/mnt/cifar").Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				spec := &job.Spec.Template.Spec
				spec.Volumes = []corev1.Volume{pvcVolume}
				spec.Containers[0].Env = sweepEnv(corev1.EnvVar{Name: "CRUCIBLE_DATASET_PATH", Value: "/mnt/cifar"})
				spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "crucible-dataset", MountPath: "/mnt/cifar", ReadOnly: true}}
				return job
			},
		},
		{
			name:  "image dataset: image volume of the pinned reference",
			exp:   sweepExperiment().ImageDataset(testDatasetImage, "/datasets/cifar").Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				spec := &job.Spec.Template.Spec
				spec.Volumes = []corev1.Volume{{Name: "crucible-dataset", VolumeSource: corev1.VolumeSource{
					Image: &corev1.ImageVolumeSource{Reference: testDatasetImage, PullPolicy: corev1.PullIfNotPresent},
				}}}
				spec.Containers[0].Env = sweepEnv(corev1.EnvVar{Name: "CRUCIBLE_DATASET_PATH", Value: "/datasets/cifar"})
				spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "crucible-dataset", MountPath: "/datasets/cifar", ReadOnly: true}}
				return job
			},
		},
		{
			name:  "resources copied to the trainer",
			exp:   sweepExperiment().Resources(trainerResources()).Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				job.Spec.Template.Spec.Containers[0].Resources = trainerResources()
				return job
			},
		},
		{
			name: "podTemplate with a trainer and a sidecar: pinned fields win, the rest is kept",
			exp: sweepExperiment().
				Resources(trainerResources()).
				PVCDataset("datasets", "cifar10/2024-05-01", "/data").
				PodTemplate(fullTemplate()).
				Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				tmpl := &job.Spec.Template
				tmpl.Labels["team"] = "vision"
				tmpl.Annotations["prometheus.io/scrape"] = "true"
				spec := &tmpl.Spec
				spec.ServiceAccountName = "trainer-sa"
				spec.NodeSelector = map[string]string{"accelerator": "a100"}
				spec.Tolerations = []corev1.Toleration{{
					Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
				}}
				// The template's own security settings are kept; the
				// restricted profile fills in, field by field, what it
				// leaves unset.
				spec.SecurityContext = &corev1.PodSecurityContext{
					RunAsNonRoot:   ptr.To(true),
					RunAsUser:      ptr.To[int64](1000),
					FSGroup:        ptr.To[int64](2000),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				}
				spec.Volumes = []corev1.Volume{
					{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					pvcVolume,
				}
				trainer := sweepTrainer()
				trainer.Env = append(sweepEnv(corev1.EnvVar{Name: "CRUCIBLE_DATASET_PATH", Value: "/data"}),
					corev1.EnvVar{Name: "HF_HOME", Value: "/logs/hf"})
				trainer.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}
				trainer.Resources = trainerResources()
				trainer.VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}, pvcMount}
				trainer.SecurityContext = &corev1.SecurityContext{
					RunAsUser:                ptr.To[int64](1000),
					ReadOnlyRootFilesystem:   ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}
				shipper := sidecar()
				shipper.SecurityContext = restrictedContainer()
				// The trainer keeps its place in the template.
				spec.Containers = []corev1.Container{shipper, trainer}
				return job
			},
		},
		{
			name: "podTemplate trainer's resources kept when the Experiment pins none",
			exp: sweepExperiment().PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name:      "trainer",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				}},
			}}).Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				job.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				}
				return job
			},
		},
		{
			name: "podTemplate without a trainer: trainer first, then the sidecar",
			exp: sweepExperiment().PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{sidecar()},
				Volumes:    []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			}}).Obj(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				spec := &job.Spec.Template.Spec
				shipper := sidecar()
				shipper.SecurityContext = restrictedContainer()
				spec.Containers = []corev1.Container{sweepTrainer(), shipper}
				spec.Volumes = []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				return job
			},
		},
		{
			name: "queueName: the Job is created suspended with Kueue's label; its Pods are not labelled",
			exp: func() *crucible.Experiment {
				exp := sweepExperiment().Obj()
				exp.Spec.QueueName = "team-a"
				return exp
			}(),
			trial: sweepTrial,
			want: func() *batchv1.Job {
				job := sweepJob()
				job.Labels["kueue.x-k8s.io/queue-name"] = "team-a"
				job.Spec.Suspend = ptr.To(true)
				return job
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := New(tc.exp, tc.trial(tc.exp))
			if diff := cmp.Diff(tc.want(), got); diff != "" {
				t.Errorf("New() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewJobForTrialPinnedEnvWins checks that a podTemplate's trainer cannot
// shadow a pinned variable: Kubernetes lets the last definition of a name
// win, so the value the trainer sees must be the pinned one.
func TestNewJobForTrialPinnedEnvWins(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "trainer",
		Env: []corev1.EnvVar{
			{Name: "CRUCIBLE_SEED", Value: "0"},
			{Name: "CRUCIBLE_PARAM_LR", Value: "1"},
			{Name: "EPOCHS", Value: "100"},
			{Name: "HF_HOME", Value: "/cache/hf"},
		},
	}}}}
	exp := sweepExperiment().PodTemplate(tmpl).Obj()
	job := New(exp, sweepTrial(exp))

	effective := map[string]string{}
	count := map[string]int{}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		effective[e.Name] = e.Value // the kubelet lets the last definition win
		count[e.Name]++
	}
	want := map[string]string{
		"CRUCIBLE_PARAM_LR":         "0.01",
		"CRUCIBLE_PARAM_BATCH_SIZE": "64",
		"CRUCIBLE_SEED":             "42",
		"CRUCIBLE_TRIAL":            jobTestTrial,
		"CRUCIBLE_EXPERIMENT":       "resnet",
		"EPOCHS":                    "3",
		"LOG_DIR":                   "/logs/$(CRUCIBLE_TRIAL)",
		"HF_HOME":                   "/cache/hf",
	}
	if diff := cmp.Diff(want, effective); diff != "" {
		t.Errorf("trainer's effective environment mismatch (-want +got):\n%s", diff)
	}
	for name, n := range count {
		if n > 1 {
			t.Errorf("trainer env defines %s %d times; the API server warns and the last one wins", name, n)
		}
	}
}

// TestNewJobForTrialIsPure checks that NewJob leaves its inputs
// alone, gives equal Jobs for equal inputs, and returns a Job that shares no
// memory with them.
func TestNewJobForTrialIsPure(t *testing.T) {
	exp := sweepExperiment().
		Resources(trainerResources()).
		PVCDataset("datasets", "cifar10/2024-05-01", "/data").
		PodTemplate(fullTemplate()).
		Obj()
	trial := sweepTrial(exp)
	expBefore, trialBefore := exp.DeepCopy(), trial.DeepCopy()

	first := New(exp, trial)
	second := New(exp, trial)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("NewJob is not deterministic (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(expBefore, exp); diff != "" {
		t.Errorf("NewJob modified the Experiment (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(trialBefore, trial); diff != "" {
		t.Errorf("NewJob modified the Trial (-before +after):\n%s", diff)
	}

	// Scribble over everything the Job holds by reference.
	scribble(first)
	if diff := cmp.Diff(expBefore, exp); diff != "" {
		t.Errorf("the Job shares memory with the Experiment (-before +after scribbling on the Job):\n%s", diff)
	}
	if diff := cmp.Diff(trialBefore, trial); diff != "" {
		t.Errorf("the Job shares memory with the Trial (-before +after scribbling on the Job):\n%s", diff)
	}
	if diff := cmp.Diff(second, New(exp, trial)); diff != "" {
		t.Errorf("two Jobs share memory (-before +after scribbling on the other):\n%s", diff)
	}
}

func scribble(job *batchv1.Job) {
	const x = "scribbled"
	job.Labels[x] = x
	job.Annotations[x] = x
	job.OwnerReferences[0].Name = x
	tmpl := &job.Spec.Template
	tmpl.Labels[x] = x
	tmpl.Annotations[x] = x
	spec := &tmpl.Spec
	spec.NodeSelector[x] = x
	spec.Tolerations[0].Key = x
	*spec.SecurityContext.RunAsUser = 1
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		v.Name = x
		if v.PersistentVolumeClaim != nil {
			v.PersistentVolumeClaim.ClaimName = x
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		for j := range c.Command {
			c.Command[j] = x
		}
		for j := range c.Args {
			c.Args[j] = x
		}
		for j := range c.Env {
			c.Env[j].Value = x
		}
		for j := range c.VolumeMounts {
			c.VolumeMounts[j].MountPath = x
		}
		for j := range c.Ports {
			c.Ports[j].ContainerPort = 1
		}
		for _, l := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
			for name := range l {
				l[name] = resource.MustParse("999")
			}
		}
		if sc := c.SecurityContext; sc != nil {
			sc.RunAsUser = ptr.To[int64](1)
			if sc.ReadOnlyRootFilesystem != nil {
				*sc.ReadOnlyRootFilesystem = false
			}
			if sc.Capabilities != nil {
				for j := range sc.Capabilities.Drop {
					sc.Capabilities.Drop[j] = x
				}
			}
		}
	}
}

func TestNewJobForTrialArtifacts(t *testing.T) {
	base := []corev1.EnvVar{
		{Name: "CRUCIBLE_PARAM_LR", Value: "0.01"},
		{Name: "CRUCIBLE_PARAM_BATCH_SIZE", Value: "64"},
		{Name: "CRUCIBLE_SEED", Value: "42"},
		{Name: "CRUCIBLE_TRIAL", Value: jobTestTrial},
		{Name: "CRUCIBLE_EXPERIMENT", Value: "resnet"},
	}
	own := []corev1.EnvVar{{Name: "EPOCHS", Value: "3"}, {Name: "LOG_DIR", Value: "/logs/$(CRUCIBLE_TRIAL)"}}
	secret := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "writer"}, Key: key}}
	}
	cases := []struct {
		name       string
		artifacts  crucible.ArtifactsSpec
		wantEnv    []corev1.EnvVar
		wantMounts []corev1.VolumeMount
		wantVols   []corev1.Volume
	}{{
		name: "s3 over TLS, credentials by reference",
		artifacts: crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
			Endpoint: "s3.eu-west-1.amazonaws.com", Bucket: "models", Prefix: "/sweeps/", Region: "eu-west-1",
			CredentialsSecret: crucible.SecretReference{Name: "writer"}}},
		wantEnv: []corev1.EnvVar{
			{Name: "CRUCIBLE_ARTIFACT_URI", Value: "s3://models/sweeps/ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid/"},
			{Name: "CRUCIBLE_ARTIFACT_BUCKET", Value: "models"},
			{Name: "CRUCIBLE_ARTIFACT_PREFIX", Value: "sweeps/ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid/"},
			{Name: "AWS_ENDPOINT_URL", Value: "https://s3.eu-west-1.amazonaws.com"},
			{Name: "AWS_ACCESS_KEY_ID", ValueFrom: secret("AWS_ACCESS_KEY_ID")},
			{Name: "AWS_SECRET_ACCESS_KEY", ValueFrom: secret("AWS_SECRET_ACCESS_KEY")},
			{Name: "AWS_REGION", Value: "eu-west-1"},
		},
	}, {
		name: "s3 in plain HTTP, no prefix or region",
		artifacts: crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
			Endpoint: "minio.storage:9000", Bucket: "models", Insecure: true, CredentialsSecret: crucible.SecretReference{Name: "writer"}}},
		wantEnv: []corev1.EnvVar{
			{Name: "CRUCIBLE_ARTIFACT_URI", Value: "s3://models/ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid/"},
			{Name: "CRUCIBLE_ARTIFACT_BUCKET", Value: "models"},
			{Name: "CRUCIBLE_ARTIFACT_PREFIX", Value: "ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid/"},
			{Name: "AWS_ENDPOINT_URL", Value: "http://minio.storage:9000"},
			{Name: "AWS_ACCESS_KEY_ID", ValueFrom: secret("AWS_ACCESS_KEY_ID")},
			{Name: "AWS_SECRET_ACCESS_KEY", ValueFrom: secret("AWS_SECRET_ACCESS_KEY")},
		},
	}, {
		name:      "a claim, the trial's own directory mounted at /artifacts",
		artifacts: crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "outputs", SubPath: "runs"}},
		wantEnv: []corev1.EnvVar{
			{Name: "CRUCIBLE_ARTIFACT_URI", Value: "pvc://outputs/runs/ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid/"},
			{Name: "CRUCIBLE_ARTIFACT_PATH", Value: "/artifacts"},
		},
		wantMounts: []corev1.VolumeMount{{Name: "crucible-artifacts", MountPath: "/artifacts", SubPath: "runs/ml/resnet/resnet-uid/" + jobTestTrial + "/" + jobTestTrial + "-uid"}},
		wantVols: []corev1.Volume{{Name: "crucible-artifacts", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "outputs"}}}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := sweepExperiment().Obj()
			exp.Spec.Artifacts = &tc.artifacts
			job := New(exp, sweepTrial(exp))
			c := job.Spec.Template.Spec.Containers[0]
			wantEnv := append(append(append([]corev1.EnvVar(nil), base...), tc.wantEnv...), own...)
			if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMounts, c.VolumeMounts); diff != "" {
				t.Errorf("volume mounts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantVols, job.Spec.Template.Spec.Volumes); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewJobRestrictedFieldByField checks that the restricted profile is
// filled in field by field, on every container: a template that sets one
// security field keeps every default it does not set.
func TestNewJobRestrictedFieldByField(t *testing.T) {
	fetch := corev1.Container{Name: "fetch", Image: testSidecarImage}
	cases := []struct {
		name     string
		template corev1.PodSpec
		wantPod  *corev1.PodSecurityContext
		// wantContainers are the security contexts of the init containers,
		// then the containers, in order.
		wantContainers []*corev1.SecurityContext
		wantAutomount  *bool
	}{
		{
			name:           "only fsGroup: runAsNonRoot and seccomp kept",
			template:       corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000)}},
			wantPod:        &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000), RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: "RuntimeDefault"}},
			wantContainers: []*corev1.SecurityContext{restrictedContainer()},
			wantAutomount:  ptr.To(false),
		},
		{
			name: "a seccomp profile of its own and a token asked for: kept",
			template: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(true),
				SecurityContext:              &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: "Localhost", LocalhostProfile: ptr.To("train.json")}},
			},
			wantPod:        &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: "Localhost", LocalhostProfile: ptr.To("train.json")}},
			wantContainers: []*corev1.SecurityContext{restrictedContainer()},
			wantAutomount:  ptr.To(true),
		},
		{
			name: "init container and trainer with partial contexts: the rest filled in",
			template: corev1.PodSpec{
				InitContainers: []corev1.Container{fetch},
				Containers: []corev1.Container{{Name: "trainer", SecurityContext: &corev1.SecurityContext{
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}},
				}}},
			},
			wantPod: restrictedPod(),
			wantContainers: []*corev1.SecurityContext{
				restrictedContainer(),
				{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}}},
			},
			wantAutomount: ptr.To(false),
		},
		{
			name: "explicit choices are kept for admission to judge",
			template: corev1.PodSpec{
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)},
				Containers: []corev1.Container{{Name: "trainer", SecurityContext: &corev1.SecurityContext{
					Privileged: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{}},
				}}},
			},
			wantPod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false), SeccompProfile: &corev1.SeccompProfile{Type: "RuntimeDefault"}},
			// Privileged with allowPrivilegeEscalation false is invalid:
			// the default is not added there.
			wantContainers: []*corev1.SecurityContext{{Privileged: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{}}}},
			wantAutomount:  ptr.To(false),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := sweepExperiment().PodTemplate(corev1.PodTemplateSpec{Spec: tc.template}).Obj()
			spec := New(exp, sweepTrial(exp)).Spec.Template.Spec
			if diff := cmp.Diff(tc.wantPod, spec.SecurityContext); diff != "" {
				t.Errorf("pod security context (-want +got):\n%s", diff)
			}
			var got []*corev1.SecurityContext
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				got = append(got, c.SecurityContext)
			}
			if diff := cmp.Diff(tc.wantContainers, got); diff != "" {
				t.Errorf("container security contexts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAutomount, spec.AutomountServiceAccountToken); diff != "" {
				t.Errorf("automountServiceAccountToken (-want +got):\n%s", diff)
			}
		})
	}
}
