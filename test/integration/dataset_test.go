package integration

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

var _ = Describe("Dataset verification", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(context.Background())
		DeferCleanup(cancel)
		ns = newNamespace(ctx)
		DeferCleanup(startManager())
	})

	// verifier waits for the Experiment's verifier Job and returns it.
	verifier := func(exp *crucible.Experiment) *batchv1.Job {
		job := &batchv1.Job{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: jobspec.VerifierName(exp)}, job)).To(Succeed())
		}, Timeout, Interval).Should(Succeed())
		return job
	}

	It("runs one verifier Job of the operator's image before the first trial, and starts the trials once it reports the pinned digest", func() {
		exp := sweep("verified", ns, 2)
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		Expect(exp.Spec.Dataset.Verify).To(Equal(crucible.DatasetVerifyAlways), "the CRD's default")
		job := verifier(exp)
		Expect(job.Spec.Template.Spec.Containers).To(HaveLen(1))
		Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal(verifierImage))
		Expect(metav1.IsControlledBy(job, exp)).To(BeTrue())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
			c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(crucible.ReasonVerifying))
		}, Timeout, Interval).Should(Succeed())
		Expect(trialsOf(ctx, ns)).To(BeEmpty(), "no trial before the dataset is verified")

		Expect(verifyDatasets(ctx, ns, "")).To(Equal(1))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
			c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring(builder.DatasetDigest))
			g.Expect(trialsOf(ctx, ns)).To(HaveLen(2))
		}, Timeout, Interval).Should(Succeed())

		c := newCluster(ns)
		c.runUntil(ctx, exp.Name, crucible.ExperimentSucceeded, trainer)
		var verifiers batchv1.JobList
		Expect(k8sClient.List(ctx, &verifiers, client.InNamespace(ns), client.MatchingLabels{crucible.DatasetVerifierLabel: "true"})).To(Succeed())
		Expect(verifiers.Items).To(HaveLen(1), "one verifier Job per Experiment")
	})

	It("fails an Experiment whose dataset has another digest, naming both, and creates no trial", func() {
		exp := sweep("tampered", ns, 2)
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		verifier(exp)
		found := "sha256:" + strings.Repeat("0f", 32)
		Expect(verifyDatasets(ctx, ns, found)).To(Equal(1))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), exp)).To(Succeed())
			g.Expect(exp.Status.Phase).To(Equal(crucible.ExperimentFailed))
			c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(crucible.ReasonDatasetDigestMismatch))
			g.Expect(c.Message).To(And(ContainSubstring(builder.DatasetDigest), ContainSubstring(found)))
		}, Timeout, Interval).Should(Succeed())
		Expect(trialsOf(ctx, ns)).To(BeEmpty())
		Expect(unfinishedJobs(ctx, ns)).To(BeEmpty())
	})
})
