package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/framework"
)

// The sample a user meets first (make demo), and the dataset volume it reads.
var (
	sampleExperiment = filepath.Join("hack", "demo", "experiment.yaml")
	sampleDataset    = filepath.Join("hack", "demo", "dataset.yaml")
)

var _ = Describe("The sample sweep", func() {
	It("runs to Succeeded within parallelism, one Job per Trial, and names the known best trial", func(ctx SpecContext) {
		ns := newNamespace(ctx)

		By("binding the sample's dataset claim in the namespace")
		createSampleDataset(ctx, ns)

		exp := &crucible.Experiment{}
		data, err := os.ReadFile(filepath.Join(framework.Root(), sampleExperiment))
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.UnmarshalStrict(data, exp)).To(Succeed())
		exp.Namespace = ns
		Expect(exp.Spec.Parameters).To(HaveLen(2), "%s is the 3 lr values x 4 depths sweep", sampleExperiment)
		Expect(exp.Spec.Seeds.Replicas).To(BeNumerically("<=", 1))
		const total = 12

		By("running it")
		p := startPoller(ns)
		start := time.Now()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
		AddReportEntry("sample sweep ran", since(start))

		By("running every Trial once, as one Job, never more than parallelism at once")
		maxUnfinished := expectEachTrialRanOnce(ctx, ns, total, exp.Spec.Parallelism, p)
		AddReportEntry("Jobs unfinished at once (most seen)", fmt.Sprintf("%d, parallelism %d", maxUnfinished, exp.Spec.Parallelism))
		Expect(maxUnfinished).To(BeNumerically(">=", 2), "the sweep should have run trials side by side")

		By("recording what the simulated trainer reported, with the pinned inputs")
		indices := map[int64]bool{}
		for _, t := range trialsOf(ctx, ns) {
			indices[t.Spec.Index] = true
			Expect(t.Status.Metrics).To(HaveKey("accuracy"))
			Expect(t.Status.Metrics).To(HaveKeyWithValue("val_loss", t.Status.Objective))
			want := valLoss(parseFloat(parameterValue(t.Spec.Parameters, "lr")),
				parseFloat(parameterValue(t.Spec.Parameters, "depth")), t.Spec.Seed)
			Expect(parseFloat(t.Status.Objective)).To(BeNumerically("~", want, 1e-9), "Trial %s (%s)", t.Name, t.Spec.Assignment)
			Expect(t.Spec.Image).To(Equal(exp.Spec.Image))
			Expect(t.Spec.DatasetDigest).To(Equal(exp.Spec.Dataset.Digest))
			Expect(t.Spec.ExperimentDigest).To(Equal(exp.Status.SpecDigest))
		}
		Expect(indices).To(HaveLen(total))
		for _, j := range jobsOf(ctx, ns) {
			Expect(j.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("PersistentVolumeClaim",
				HaveField("ClaimName", exp.Spec.Dataset.Source.PersistentVolumeClaim.ClaimName))), "Job %s mounts the dataset", j.Name)
		}

		By("naming the known best trial and counting right")
		Expect(exp.Status.BestTrial).NotTo(BeNil())
		Expect(exp.Status.BestTrial.Parameters).To(Equal([]crucible.ParameterAssignment{
			{Name: "lr", Value: "0.01"}, {Name: "depth", Value: "4"}}))
		Expect(exp.Status.BestTrial.Seed).To(Equal(int64(baseSeed)))
		Expect(exp.Status.BestTrial.Objective).To(Equal("0.5"))
		Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: total, Created: total, Active: 0, Succeeded: total, Failed: 0}))
		cond := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentSucceededCondition)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		Expect(cond.Reason).To(Equal(crucible.ReasonAllTrialsEnded))
		Expect(exp.Status.SpecDigest).To(MatchRegexp(`^sha256:[a-f0-9]{64}$`))
		Expect(exp.Status.ObservedGeneration).To(Equal(exp.Generation))
	}, SpecTimeout(5*time.Minute))
})

// createSampleDataset creates the sample's PersistentVolume and claim for
// ns (the volume under a name of its own, as volumes are cluster-wide) and
// waits until the claim is bound.
func createSampleDataset(ctx context.Context, ns string) { createDataset(ctx, ns, "") }

// createDataset creates the sample dataset's volume and claim in ns, the
// claim named claim (the sample's name when empty), and waits until it is
// bound.
func createDataset(ctx context.Context, ns, claim string) {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(framework.Root(), sampleDataset))
	Expect(err).NotTo(HaveOccurred())
	var pv *corev1.PersistentVolume
	var pvc *corev1.PersistentVolumeClaim
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		switch u.GetKind() {
		case "PersistentVolume":
			pv = &corev1.PersistentVolume{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pv)).To(Succeed())
		case "PersistentVolumeClaim":
			pvc = &corev1.PersistentVolumeClaim{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pvc)).To(Succeed())
		}
	}
	Expect(pv).NotTo(BeNil(), "%s has a PersistentVolume", sampleDataset)
	Expect(pvc).NotTo(BeNil(), "%s has a PersistentVolumeClaim", sampleDataset)
	Expect(pv.Spec.ClaimRef).NotTo(BeNil())

	if claim != "" {
		pvc.Name = claim
		pv.Spec.ClaimRef.Name = claim
		pv.Name += "-" + claim
	}
	pv.Name = ns + "-" + pv.Name
	pv.Spec.ClaimRef.Namespace = ns
	pvc.Namespace = ns
	pvc.Spec.VolumeName = pv.Name
	Expect(k8sClient.Create(ctx, pv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		// Removed once its claim is (pv-protection), with the namespace.
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, pv))).To(Succeed())
	})
	Expect(k8sClient.Create(ctx, pvc)).To(Succeed())
	Eventually(ctx, func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)).To(Succeed())
		g.Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound))
	}, Timeout, Interval).Should(Succeed())
}
