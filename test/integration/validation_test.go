package integration

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// asUnstructured turns a typed Experiment into the map kubectl would send,
// so that cases can set values a typed client would omit (zero, wrong type).
func asUnstructured(exp *crucible.Experiment) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(exp)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(crucible.GroupVersion.String())
	u.SetKind("Experiment")
	return u
}

// s3Store is a valid spec.artifacts.s3, as a manifest would have it.
func s3Store() map[string]any {
	return map[string]any{"endpoint": "s3.example:9000", "bucket": "runs", "credentialsSecret": map[string]any{"name": "creds"}}
}

func set(u *unstructured.Unstructured, value any, path ...string) {
	ExpectWithOffset(1, unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
}

func param(u *unstructured.Unstructured, i int, value map[string]any) {
	params, _, _ := unstructured.NestedSlice(u.Object, "spec", "parameters")
	for len(params) <= i {
		params = append(params, nil)
	}
	params[i] = value
	ExpectWithOffset(1, unstructured.SetNestedSlice(u.Object, params, "spec", "parameters")).To(Succeed())
}

var pinnedImage = builder.Image

var _ = Describe("Experiment validation by the API server", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	DescribeTable("refuses a bad manifest under --dry-run=server with a message naming the field",
		func(mutate func(u *unstructured.Unstructured), wantField, wantMessage string) {
			u := asUnstructured(builder.MakeExperiment("bad", ns).Values("lr", "0.1", "0.01").Obj())
			mutate(u)
			err := k8sClient.Create(ctx, u, client.DryRunAll)
			Expect(err).To(HaveOccurred(), "the API server accepted it")
			Expect(err.Error()).To(ContainSubstring(wantField))
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("image by tag only", func(u *unstructured.Unstructured) {
			set(u, "ghcr.io/acme/train:latest", "spec", "image")
		}, "spec.image", "must be pinned by digest"),
		Entry("malformed image digest", func(u *unstructured.Unstructured) {
			set(u, "ghcr.io/acme/train@sha256:abc", "spec", "image")
		}, "spec.image", "must be pinned by digest"),
		Entry("missing image", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "image")
		}, "spec.image", "Required value"),
		Entry("malformed dataset digest", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"name": "d", "version": "1", "digest": "md5:00",
				"source": map[string]any{"persistentVolumeClaim": map[string]any{"claimName": "c"}}}, "spec", "dataset")
		}, "spec.dataset.digest", "sha256:<64 lowercase hex digits>"),
		Entry("dataset with two sources", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"name": "d", "version": "1", "digest": builder.DatasetDigest,
				"source": map[string]any{
					"persistentVolumeClaim": map[string]any{"claimName": "c"},
					"image":                 map[string]any{"reference": pinnedImage}}}, "spec", "dataset")
		}, "spec.dataset.source", "exactly one of persistentVolumeClaim or image"),
		Entry("dataset image by tag", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"name": "d", "version": "1", "digest": builder.DatasetDigest,
				"source": map[string]any{"image": map[string]any{"reference": "ghcr.io/acme/data:v1"}}}, "spec", "dataset")
		}, "spec.dataset.source.image.reference", "must be pinned by digest"),
		Entry("duplicate parameter names", func(u *unstructured.Unstructured) {
			param(u, 1, map[string]any{"name": "lr", "values": []any{"1"}})
		}, "spec.parameters[1]", "Duplicate value"),
		Entry("a parameter with no range", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr"})
		}, "spec.parameters[0]", "exactly one of values, int or float"),
		Entry("a parameter with two ranges", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "values": []any{"1"}, "int": map[string]any{"min": int64(1), "max": int64(2)}})
		}, "spec.parameters[0]", "exactly one of values, int or float"),
		Entry("an empty values list", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "values": []any{}})
		}, "spec.parameters[0].values", "at least 1 item"),
		Entry("int min > max", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "depth", "int": map[string]any{"min": int64(8), "max": int64(2)}})
		}, "spec.parameters[0].int", "min must not be greater than max"),
		Entry("int step 0", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "depth", "int": map[string]any{"min": int64(2), "max": int64(8), "step": int64(0)}})
		}, "spec.parameters[0].int.step", "greater than or equal to 1"),
		Entry("int step negative", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "depth", "int": map[string]any{"min": int64(2), "max": int64(8), "step": int64(-2)}})
		}, "spec.parameters[0].int.step", "greater than or equal to 1"),
		Entry("float min > max", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "float": map[string]any{"min": "0.1", "max": "0.01", "steps": int64(3)}})
		}, "spec.parameters[0].float", "min must be less than max"),
		Entry("float bound not a number", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "float": map[string]any{"min": "abc", "max": "0.01", "steps": int64(3)}})
		}, "spec.parameters[0].float.min", "should match"),
		Entry("float steps 0", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "float": map[string]any{"min": "0.01", "max": "0.1", "steps": int64(0)}})
		}, "spec.parameters[0].float.steps", "greater than or equal to 2"),
		Entry("log scale from zero", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "float": map[string]any{"min": "0", "max": "0.1", "steps": int64(3), "scale": "Log"}})
		}, "spec.parameters[0].float", "min must be positive on a Log scale"),
		Entry("a parameter name that is no environment variable", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "learning-rate", "values": []any{"1"}})
		}, "spec.parameters[0].name", "should match"),
		Entry("an env variable that would override the seed", func(u *unstructured.Unstructured) {
			set(u, []any{map[string]any{"name": "CRUCIBLE_SEED", "value": "0"}}, "spec", "env")
		}, "spec.env[0].name", "names starting with CRUCIBLE_ are set by the operator"),
		Entry("seed replicas 0", func(u *unstructured.Unstructured) {
			set(u, int64(0), "spec", "seeds", "replicas")
		}, "spec.seeds.replicas", "greater than or equal to 1"),
		Entry("parallelism 0", func(u *unstructured.Unstructured) {
			set(u, int64(0), "spec", "parallelism")
		}, "spec.parallelism", "greater than or equal to 1"),
		Entry("an unknown goal", func(u *unstructured.Unstructured) {
			set(u, "Minimise", "spec", "objective", "goal")
		}, "spec.objective.goal", "Unsupported value"),
		Entry("an unknown search algorithm", func(u *unstructured.Unstructured) {
			set(u, "Bayesian", "spec", "search", "algorithm")
		}, "spec.search.algorithm", "Unsupported value"),
		Entry("a grid with a continuous float range", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "float": map[string]any{"min": "0.001", "max": "0.1", "scale": "Log"}})
		}, "spec.parameters", "a Grid needs steps on every float range"),
		Entry("Random without a budget", func(u *unstructured.Unstructured) {
			set(u, "Random", "spec", "search", "algorithm")
		}, "spec.search", "maxTrials is the budget of Random, Sobol and TPE, which it requires"),
		Entry("a grid with a budget", func(u *unstructured.Unstructured) {
			set(u, int64(10), "spec", "search", "maxTrials")
		}, "spec.search", "a Grid runs every point and takes none"),
		Entry("a budget over the trial limit", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"algorithm": "TPE", "maxTrials": int64(100001)}, "spec", "search")
		}, "spec.search.maxTrials", "less than or equal to 100000"),
		Entry("TPE with seed replicas", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"algorithm": "TPE", "maxTrials": int64(40)}, "spec", "search")
			set(u, int64(2), "spec", "seeds", "replicas")
		}, "spec.seeds.replicas", "seeds.replicas needs a Grid"),
		Entry("maxConcurrent on Random", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"algorithm": "Random", "maxTrials": int64(40), "maxConcurrent": int64(2)}, "spec", "search")
		}, "spec.search", "maxConcurrent is TPE's only"),
		Entry("scramble on TPE", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"algorithm": "TPE", "maxTrials": int64(40), "scramble": false}, "spec", "search")
		}, "spec.search", "scramble is Sobol's only"),
		Entry("a sampler seed on a grid", func(u *unstructured.Unstructured) {
			set(u, int64(3), "spec", "search", "seed")
		}, "spec.search", "seed is the sampler's"),
		Entry("a queue name that is no label value", func(u *unstructured.Unstructured) {
			set(u, "team A", "spec", "queueName")
		}, "spec.queueName", "should match"),
		Entry("a grid over the trial limit", func(u *unstructured.Unstructured) {
			hundred := make([]any, 100)
			for i := range hundred {
				hundred[i] = strings.Repeat("1", i+1)
			}
			param(u, 0, map[string]any{"name": "a", "values": hundred})
			param(u, 1, map[string]any{"name": "b", "values": hundred})
			param(u, 2, map[string]any{"name": "c", "int": map[string]any{"min": int64(0), "max": int64(10)}})
		}, "spec.parameters", "more than 100000 trials"),
		Entry("seed replicas pushing the grid over the limit", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "a", "int": map[string]any{"min": int64(1), "max": int64(50000)}})
			set(u, int64(3), "spec", "seeds", "replicas")
		}, "spec.parameters", "more than 100000 trials"),
		Entry("a podTemplate container image by tag", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "sidecar", "image": "busybox:latest"}}}}, "spec", "podTemplate")
		}, "spec.podTemplate.spec.containers", "every container image in podTemplate must be pinned by digest"),
		Entry("a podTemplate init container image by tag", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"spec": map[string]any{"containers": []any{},
				"initContainers": []any{map[string]any{"name": "fetch", "image": "busybox"}}}}, "spec", "podTemplate")
		}, "spec.podTemplate.spec.initContainers", "every init container image in podTemplate must be pinned by digest"),
		Entry("a name too long for the Trial and Job names", func(u *unstructured.Unstructured) {
			u.SetName(strings.Repeat("a", 51))
		}, "metadata.name", "at most 50 characters"),
		Entry("a name that is not a DNS label", func(u *unstructured.Unstructured) {
			u.SetName("my.experiment")
		}, "metadata.name", "must be a DNS label"),
		Entry("an artifact store with both s3 and a claim", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"s3": s3Store(), "persistentVolumeClaim": map[string]any{"claimName": "out"}}, "spec", "artifacts")
		}, "spec.artifacts", "exactly one of s3 or persistentVolumeClaim"),
		Entry("an s3 endpoint with a scheme", func(u *unstructured.Unstructured) {
			store := s3Store()
			store["endpoint"] = "https://s3.example"
			set(u, map[string]any{"s3": store}, "spec", "artifacts")
		}, "spec.artifacts.s3.endpoint", "without scheme or path"),
		Entry("an s3 prefix that climbs out", func(u *unstructured.Unstructured) {
			store := s3Store()
			store["prefix"] = "team/../other"
			set(u, map[string]any{"s3": store}, "spec", "artifacts")
		}, "spec.artifacts.s3.prefix", "without '.' or '..'"),
		Entry("an s3 store without credentials", func(u *unstructured.Unstructured) {
			store := s3Store()
			delete(store, "credentialsSecret")
			set(u, map[string]any{"s3": store}, "spec", "artifacts")
		}, "spec.artifacts.s3.credentialsSecret", "Required value"),
		Entry("required artifacts on a volume the operator cannot list", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"persistentVolumeClaim": map[string]any{"claimName": "out"}, "required": true}, "spec", "artifacts")
		}, "spec.artifacts", "required needs an s3 store"),
		Entry("a negative keepBest", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"trials": map[string]any{"keepBest": int64(-1)}}, "spec", "retention")
		}, "spec.retention.trials.keepBest", "greater than or equal to 0"),
		Entry("an unknown deletion policy", func(u *unstructured.Unstructured) {
			set(u, map[string]any{"artifacts": map[string]any{"onDeletion": "Orphan"}}, "spec", "retention")
		}, "spec.retention.artifacts.onDeletion", "Unsupported value"),
	)

	It("accepts a full manifest, defaulting what was left out", func() {
		exp := builder.MakeExperiment("full", ns).Values("lr", "0.1").
			FloatRange("wd", "1e-5", "1e-1", 5, crucible.ScaleLog).IntRange("depth", 2, 8, 2).
			PVCDataset("datasets", "cifar", "/data").Obj()
		u := asUnstructured(exp)
		unstructured.RemoveNestedField(u.Object, "spec", "seeds")
		unstructured.RemoveNestedField(u.Object, "spec", "search")
		set(u, map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "trainer", "volumeMounts": []any{map[string]any{"name": "scratch", "mountPath": "/scratch"}}},
			map[string]any{"name": "sidecar", "image": pinnedImage}},
			"volumes": []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}}}}, "spec", "podTemplate")
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		got := &crucible.Experiment{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
		Expect(got.Spec.Seeds).To(Equal(crucible.SeedSpec{Base: 0, Replicas: 1}))
		Expect(got.Spec.Search.Algorithm).To(Equal(crucible.SearchGrid))
		Expect(got.Spec.Parameters[1].Float.Scale).To(Equal(crucible.ScaleLog))
	})

	It("accepts a TPE search over continuous ranges, larger than a grid may be, with a queue", func() {
		exp := builder.MakeExperiment("tpe", ns).
			FloatRange("lr", "1e-5", "1", 0, crucible.ScaleLog).IntRange("depth", 1, 99999, 1).
			Values("optimizer", "adam", "sgd").Obj()
		exp.Spec.Search = crucible.SearchSpec{Algorithm: crucible.SearchTPE, MaxTrials: ptr.To[int32](100000), MaxConcurrent: ptr.To[int32](8)}
		exp.Spec.QueueName = "team-a"
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		got := &crucible.Experiment{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), got)).To(Succeed())
		Expect(got.Spec.Parameters[0].Float.Steps).To(BeZero(), "a continuous range keeps no steps")

		By("refusing a change of its queue or its search")
		changed := got.DeepCopy()
		changed.Spec.QueueName = "team-b"
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("queueName is immutable")))
		changed = got.DeepCopy()
		changed.Spec.Search.MaxTrials = ptr.To[int32](10)
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("search is immutable")))
	})

	It("keeps the labels and annotations of the pod template (a strict client, as kubectl is)", func() {
		exp := builder.MakeExperiment("meta", ns).Values("lr", "0.1").Obj()
		exp.Spec.PodTemplate = &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "vision"}, Annotations: map[string]string{"example.com/note": "x"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "trainer"}}},
		}
		Expect(k8sClient.Create(ctx, exp, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed())
		got := &crucible.Experiment{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), got)).To(Succeed())
		Expect(got.Spec.PodTemplate.Labels).To(HaveKeyWithValue("team", "vision"))
		Expect(got.Spec.PodTemplate.Annotations).To(HaveKeyWithValue("example.com/note", "x"))
	})

	Describe("a stored Experiment", func() {
		var exp *crucible.Experiment
		BeforeEach(func() {
			exp = builder.MakeExperiment("pinned", ns).Values("lr", "0.1", "0.01").PVCDataset("datasets", "a", "/data").Obj()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		})

		DescribeTable("refuses a change to a pinned field",
			func(mutate func(*crucible.Experiment), wantField string) {
				changed := exp.DeepCopy()
				mutate(changed)
				err := k8sClient.Update(ctx, changed)
				Expect(err).To(HaveOccurred())
				Expect(err.Error()).To(ContainSubstring(wantField))
				Expect(err.Error()).To(ContainSubstring("is immutable"))
			},
			Entry("image", func(e *crucible.Experiment) {
				e.Spec.Image = "registry.example/train@sha256:" + strings.Repeat("f", 64)
			}, "spec.image"),
			Entry("command", func(e *crucible.Experiment) { e.Spec.Command = []string{"python", "other.py"} }, "spec.command"),
			Entry("args added", func(e *crucible.Experiment) { e.Spec.Args = []string{"--fast"} }, "spec.args"),
			Entry("parameters", func(e *crucible.Experiment) { e.Spec.Parameters[0].Values = []string{"0.5"} }, "spec.parameters"),
			Entry("dataset digest", func(e *crucible.Experiment) {
				e.Spec.Dataset.Digest = "sha256:" + strings.Repeat("c", 64)
			}, "spec.dataset"),
			Entry("dataset removed", func(e *crucible.Experiment) { e.Spec.Dataset = nil }, "spec.dataset"),
			Entry("seeds", func(e *crucible.Experiment) { e.Spec.Seeds.Base = 7 }, "spec.seeds"),
			Entry("objective", func(e *crucible.Experiment) { e.Spec.Objective.Goal = crucible.GoalMaximize }, "spec.objective"),
			Entry("env", func(e *crucible.Experiment) { e.Spec.Env = []crucible.EnvVar{{Name: "A", Value: "1"}} }, "spec.env"),
			Entry("resources", func(e *crucible.Experiment) {
				e.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}}
			}, "spec.resources"),
			Entry("podTemplate", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "trainer"}},
					NodeSelector: map[string]string{"gpu": "a100"}}}
			}, "spec.podTemplate"),
			Entry("artifacts added", func(e *crucible.Experiment) {
				e.Spec.Artifacts = &crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "out"}}
			}, "spec.artifacts"),
		)

		It("accepts changes to parallelism, maxFailedTrials, suspend and retention", func() {
			changed := exp.DeepCopy()
			changed.Spec.Parallelism = 8
			changed.Spec.MaxFailedTrials = 3
			changed.Spec.Suspend = true
			changed.Spec.Retention = &crucible.RetentionSpec{Trials: crucible.TrialRetention{KeepBest: ptr.To[int32](3)}}
			Expect(k8sClient.Update(ctx, changed)).To(Succeed())
			got := &crucible.Experiment{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), got)).To(Succeed())
			Expect(got.Spec.Retention.Trials.Failed).To(Equal(crucible.FailedKeep), "defaulted")
		})
	})
})

var _ = Describe("Trial record", func() {
	It("refuses a change of a Trial's spec, and accepts status and label writes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		trial := &crucible.Trial{
			ObjectMeta: metav1.ObjectMeta{Name: "frozen", Namespace: ns},
			Spec: crucible.TrialSpec{
				Index:            3,
				Parameters:       []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}},
				Assignment:       "lr=0.01",
				Seed:             42,
				Image:            pinnedImage,
				ExperimentDigest: "sha256:" + strings.Repeat("a", 64),
			},
		}
		Expect(k8sClient.Create(ctx, trial)).To(Succeed())

		By("refusing a new seed, naming the rule (the policy takes effect a moment after it is created)")
		Eventually(func() error {
			changed := &crucible.Trial{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(trial), changed); err != nil {
				return err
			}
			changed.Spec.Seed = 43
			return k8sClient.Update(ctx, changed, client.DryRunAll)
		}, Timeout, Interval).Should(MatchError(ContainSubstring("a Trial's spec is the frozen record of a run and cannot change")))

		By("refusing a changed parameter too")
		changed := &crucible.Trial{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(trial), changed)).To(Succeed())
		changed.Spec.Parameters[0].Value = "0.1"
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("frozen record")))

		By("accepting a status write and a new label")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(trial), trial)).To(Succeed())
		before := trial.DeepCopy()
		trial.Status.Phase = crucible.TrialRunning
		Expect(k8sClient.Status().Patch(ctx, trial, client.MergeFrom(before))).To(Succeed())
		before = trial.DeepCopy()
		trial.Labels = map[string]string{"team": "vision"}
		Expect(k8sClient.Patch(ctx, trial, client.MergeFrom(before))).To(Succeed())

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(trial), trial)).To(Succeed())
		Expect(trial.Spec.Seed).To(Equal(int64(42)))
		Expect(trial.Spec.Parameters).To(Equal([]crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}}))
		Expect(trial.Status.Phase).To(Equal(crucible.TrialRunning))
	})
})
