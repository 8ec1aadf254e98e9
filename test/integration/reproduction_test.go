package integration

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/reproduce"
	"github.com/crucible-dev/crucible/test/builder"
)

// reproductionManifest is what `kubectl crucible reproduce` writes for the
// trial lr=0.01 depth=4 seed 3 of a 2x2 sweep with a dataset.
func reproductionManifest(ns string) *crucible.Experiment {
	orig := builder.MakeExperiment("orig", ns).Values("lr", "0.1", "0.01").IntRange("depth", 2, 4, 2).Seeds(3, 2).
		PVCDataset("datasets", "cifar", "/data").UID("orig-uid").Obj()
	trial := builder.MakeTrial(orig, "orig-0123456789ab").Index(3).Seed(3).Param("lr", "0.01").Param("depth", "4").
		Status(crucible.TrialStatus{Phase: crucible.TrialSucceeded, Metrics: map[string]string{"val_loss": "0.5"}}).Obj()
	r, err := reproduce.FromTrial(orig, trial, reproduce.Options{Tolerances: []crucible.MetricTolerance{{Metric: "val_loss", Absolute: "0.01"}}})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("Reproduction validation by the API server", func() {
	It("accepts the manifest kubectl crucible reproduce writes, and keeps spec.reproduces as it was", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		exp := reproductionManifest(ns)
		exp.Spec.Suspend = true // nothing to run here
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		changed := exp.DeepCopy()
		changed.Spec.Reproduces.Metrics["val_loss"] = "0.4"
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("reproduces is immutable")))
		changed = exp.DeepCopy()
		changed.Spec.Reproduces = nil
		Expect(k8sClient.Update(ctx, changed)).To(MatchError(ContainSubstring("reproduces is immutable")))
	})

	DescribeTable("refuses a reproduction whose pins differ from its record, naming the field",
		func(ctx SpecContext, mutate func(u *unstructured.Unstructured), wantField, wantMessage string) {
			u := asUnstructured(reproductionManifest(newNamespace(ctx)))
			mutate(u)
			err := k8sClient.Create(ctx, u, client.DryRunAll)
			Expect(err).To(HaveOccurred(), "the API server accepted it")
			Expect(err.Error()).To(ContainSubstring(wantField))
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("another image", func(u *unstructured.Unstructured) {
			set(u, "registry.example/train@sha256:"+strings.Repeat("f", 64), "spec", "image")
		}, "spec.image", "image must be reproduces.image"),
		Entry("another dataset digest", func(u *unstructured.Unstructured) {
			set(u, "sha256:"+strings.Repeat("c", 64), "spec", "dataset", "digest")
		}, "spec.dataset", "dataset.digest must be reproduces.datasetDigest"),
		Entry("the dataset left out", func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "dataset")
		}, "spec.dataset", "dataset.digest must be reproduces.datasetDigest"),
		Entry("another seed", func(u *unstructured.Unstructured) {
			set(u, int64(4), "spec", "seeds", "base")
		}, "spec.seeds", "seeds must be {base: reproduces.seed, replicas: 1}"),
		Entry("two replicas", func(u *unstructured.Unstructured) {
			set(u, int64(2), "spec", "seeds", "replicas")
		}, "spec.seeds", "replicas: 1"),
		Entry("another value", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "values": []any{"0.1"}})
		}, "spec.parameters", "parameters must give each of reproduces.parameters its one value"),
		Entry("two values", func(u *unstructured.Unstructured) {
			param(u, 0, map[string]any{"name": "lr", "values": []any{"0.01", "0.1"}})
		}, "spec.parameters", "its one value"),
		Entry("a range in place of the value", func(u *unstructured.Unstructured) {
			param(u, 1, map[string]any{"name": "depth", "int": map[string]any{"min": int64(4), "max": int64(4)}})
		}, "spec.parameters", "its one value"),
		Entry("a parameter the original had not", func(u *unstructured.Unstructured) {
			param(u, 2, map[string]any{"name": "wd", "values": []any{"0.1"}})
		}, "spec.parameters", "and nothing else"),
		Entry("a malformed inputs digest", func(u *unstructured.Unstructured) {
			set(u, "sha256:abc", "spec", "reproduces", "inputsDigest")
		}, "spec.reproduces.inputsDigest", "inputsDigest must be sha256:<64 lowercase hex digits>"),
		Entry("no metrics to compare with", func(u *unstructured.Unstructured) {
			set(u, map[string]any{}, "spec", "reproduces", "metrics")
		}, "spec.reproduces.metrics", "should have at least 1 properties"),
		Entry("a tolerance without a bound", func(u *unstructured.Unstructured) {
			set(u, []any{map[string]any{"metric": "val_loss"}}, "spec", "reproduces", "tolerances")
		}, "spec.reproduces.tolerances[0]", "a tolerance needs absolute or relative"),
		Entry("a negative tolerance", func(u *unstructured.Unstructured) {
			set(u, []any{map[string]any{"metric": "val_loss", "absolute": "-0.1"}}, "spec", "reproduces", "tolerances")
		}, "spec.reproduces.tolerances[0].absolute", "should match"),
	)
})
