package integration

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// Field managers as the API server records them: the test's own creates,
// an Argo CD sync (server-side apply) and kubectl apply (client-side).
const (
	testManager    = "crucible-test"
	argoCDManager  = "argocd-controller"
	kubectlManager = "kubectl-client-side-apply"
)

var _ = Describe("Model aliases", func() {
	var ns string
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		DeferCleanup(startManager())
	})

	It("resolves aliases, records who moved them, and refuses to delete a version an alias points at", func(ctx SpecContext) {
		Expect(k8sClient.Create(ctx, &crucible.Model{
			ObjectMeta: metav1.ObjectMeta{Name: "resnet", Namespace: ns},
			Spec:       crucible.ModelSpec{Description: "image classifier", Aliases: map[string]int32{"champion": 1}},
		}, client.FieldOwner(testManager))).To(Succeed())
		v1 := createReadyVersion(ctx, ns, "resnet", 1)
		createReadyVersion(ctx, ns, "resnet", 2)

		By("resolving champion to v1, Ready, with its URI")
		Eventually(ctx, func(g Gomega) {
			m := getModel(ctx, g, ns, "resnet")
			g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, crucible.ModelReadyCondition)).To(BeTrue(), "%+v", m.Status.Conditions)
			g.Expect(m.Status.Aliases).To(Equal(map[string]crucible.ResolvedAlias{"champion": {
				Version: 1, ModelVersion: "resnet-v1", Ready: true, URI: versionURI("resnet", 1), Objective: "0.31"}}))
			g.Expect(m.Status.LatestVersion).To(Equal(int32(2)))
			g.Expect(m.Status.Versions).To(Equal(int32(2)))
			g.Expect(moves(m)).To(Equal([]string{"champion 0→1 by " + testManager}))
		}, Timeout, Interval).Should(Succeed())

		By("moving champion to v2 by a server-side apply, as Argo CD syncs")
		apply := &unstructured.Unstructured{}
		apply.SetGroupVersionKind(crucible.GroupVersion.WithKind("Model"))
		apply.SetNamespace(ns)
		apply.SetName("resnet")
		Expect(unstructured.SetNestedField(apply.Object, int64(2), "spec", "aliases", "champion")).To(Succeed())
		Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(apply),
			client.FieldOwner(argoCDManager), client.ForceOwnership)).To(Succeed())
		Eventually(ctx, func(g Gomega) {
			m := getModel(ctx, g, ns, "resnet")
			g.Expect(m.Status.Aliases).To(HaveKeyWithValue("champion", crucible.ResolvedAlias{
				Version: 2, ModelVersion: "resnet-v2", Ready: true, URI: versionURI("resnet", 2), Objective: "0.32"}))
			g.Expect(moves(m)).To(Equal([]string{"champion 0→1 by " + testManager, "champion 1→2 by " + argoCDManager}))
		}, Timeout, Interval).Should(Succeed())

		By("rolling back to v1 with kubectl")
		patchAliases(ctx, ns, "resnet", kubectlManager, `{"champion": 1}`)
		Eventually(ctx, func(g Gomega) {
			m := getModel(ctx, g, ns, "resnet")
			g.Expect(m.Status.Aliases).To(HaveKeyWithValue("champion", HaveField("Version", int32(1))))
			g.Expect(moves(m)).To(Equal([]string{"champion 0→1 by " + testManager, "champion 1→2 by " + argoCDManager,
				"champion 2→1 by " + kubectlManager}))
		}, Timeout, Interval).Should(Succeed())
		Eventually(ctx, func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, e := range list.Items {
				if e.Reason == "AliasMoved" && e.Regarding.Name == "resnet" {
					notes = append(notes, e.Note)
				}
			}
			g.Expect(notes).To(ContainElement("champion: v2 → v1 (by " + kubectlManager + ")"))
		}, Timeout, Interval).Should(Succeed())

		By("pointing staging at a version that does not exist")
		patchAliases(ctx, ns, "resnet", kubectlManager, `{"staging": 9}`)
		Eventually(ctx, func(g Gomega) {
			m := getModel(ctx, g, ns, "resnet")
			ready := meta.FindStatusCondition(m.Status.Conditions, crucible.ModelReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(crucible.ReasonAliasUnresolved))
			g.Expect(ready.Message).To(Equal(`alias "staging" points at v9 (resnet-v9): no such version`))
			g.Expect(m.Status.Aliases).To(HaveKeyWithValue("staging", crucible.ResolvedAlias{Version: 9, ModelVersion: "resnet-v9"}))
		}, Timeout, Interval).Should(Succeed())

		By("refusing to delete v1 while champion points at it")
		// Another Model of the namespace whose alias has the same number
		// holds only its own versions.
		Expect(k8sClient.Create(ctx, &crucible.Model{
			ObjectMeta: metav1.ObjectMeta{Name: "vgg", Namespace: ns},
			Spec:       crucible.ModelSpec{Aliases: map[string]int32{"champion": 1, "stable": 2}},
		})).To(Succeed())
		refusal := And(
			ContainSubstring(`ModelVersion resnet-v1 is version 1 of Model resnet and its alias "champion" points at it`),
			ContainSubstring("move the alias to another version first"))
		// The API server enforces a new policy, and sees a new parameter,
		// a moment after they are created: a dry run until it refuses.
		Eventually(ctx, func() error { return k8sClient.Delete(ctx, v1, client.DryRunAll) }, Timeout, Interval).
			Should(MatchError(refusal))
		err := k8sClient.Delete(ctx, v1)
		Expect(err).To(MatchError(refusal))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a refusal by the policy is Forbidden: %v", err)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(v1), &crucible.ModelVersion{})).To(Succeed())

		By("deleting v1 once champion points elsewhere")
		patchAliases(ctx, ns, "resnet", kubectlManager, `{"champion": 2}`)
		Eventually(ctx, func() error { return k8sClient.Delete(ctx, v1) }, Timeout, Interval).Should(Succeed())
	})

	It("names every alias that holds a version, and lets versions go where no Model holds them", func(ctx SpecContext) {
		Expect(k8sClient.Create(ctx, &crucible.Model{
			ObjectMeta: metav1.ObjectMeta{Name: "bert", Namespace: ns},
			Spec:       crucible.ModelSpec{Aliases: map[string]int32{"champion": 3, "stable": 3}},
		})).To(Succeed())
		v3 := createReadyVersion(ctx, ns, "bert", 3)
		Eventually(ctx, func() error { return k8sClient.Delete(ctx, v3, client.DryRunAll) }, Timeout, Interval).
			Should(MatchError(And(ContainSubstring("Model bert and its aliases "),
				ContainSubstring(`"champion"`), ContainSubstring(`"stable"`), ContainSubstring("point at it"))))

		By("deleting a version no alias points at")
		v4 := createReadyVersion(ctx, ns, "bert", 4)
		Expect(k8sClient.Delete(ctx, v4)).To(Succeed())

		By("deleting a version in a namespace without Models")
		other := newNamespace(ctx)
		lone := createReadyVersion(ctx, other, "bert", 3)
		Expect(k8sClient.Delete(ctx, lone)).To(Succeed())
	})
})

// versionURI is where createReadyVersion says version n's artifacts are.
func versionURI(model string, n int32) string {
	return fmt.Sprintf("pvc://models/%s/v%d/", model, n)
}

// createReadyVersion creates version n of model as promotion would, without
// a store, and waits until it is Ready. The ModelVersion controller makes a
// version without a store Ready (reason NoStore) with the trial's URI; the
// test writes that status itself if the controller has not yet.
func createReadyVersion(ctx context.Context, ns, model string, n int32) *crucible.ModelVersion {
	GinkgoHelper()
	v := &crucible.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-v%d", model, n), Namespace: ns,
			Labels: map[string]string{crucible.ModelLabel: model}},
		Spec: crucible.ModelVersionSpec{
			Model:   model,
			Version: n,
			Source: crucible.ModelVersionSource{Experiment: "sweep", Trial: fmt.Sprintf("sweep-%d", n),
				TrialUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", n)},
			Objective: crucible.ModelObjective{Metric: "val_loss", Value: fmt.Sprintf("0.3%d", n)},
			Image:     builder.Image,
			Artifacts: &crucible.ModelVersionArtifacts{URI: versionURI(model, n)},
		},
	}
	Expect(k8sClient.Create(ctx, v)).To(Succeed())
	Eventually(ctx, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(v), v); err != nil {
			return err
		}
		if v.Status.Phase == crucible.ModelVersionReady {
			return nil
		}
		v.Status.Phase = crucible.ModelVersionReady
		v.Status.Artifacts = &crucible.ModelVersionArtifacts{URI: versionURI(model, n)}
		v.Status.Conditions = []metav1.Condition{{Type: crucible.ModelVersionReadyCondition, Status: metav1.ConditionTrue,
			Reason: crucible.ReasonNoStore, Message: "no store: the trial's URI is recorded",
			LastTransitionTime: metav1.Now()}}
		return k8sClient.Status().Update(ctx, v)
	}, Timeout, Interval).Should(Succeed())
	return v
}

func getModel(ctx context.Context, g Gomega, ns, name string) *crucible.Model {
	m := &crucible.Model{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, m)).To(Succeed())
	return m
}

// patchAliases merges aliases (a JSON object) into a Model's spec.aliases
// as manager.
func patchAliases(ctx context.Context, ns, name, manager, aliases string) {
	GinkgoHelper()
	m := &crucible.Model{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec": {"aliases": `+aliases+`}}`))
	Expect(k8sClient.Patch(ctx, m, patch, client.FieldOwner(manager))).To(Succeed())
}

// moves reads a Model's history as "alias from→to by manager".
func moves(m *crucible.Model) []string {
	var out []string
	for _, mv := range m.Status.History {
		out = append(out, fmt.Sprintf("%s %d→%d by %s", mv.Alias, mv.From, mv.To, mv.Manager))
	}
	return out
}
