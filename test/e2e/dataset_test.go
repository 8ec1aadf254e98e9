package e2e

import (
	"time"

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

// The verifier Pods are played by test/e2e/stages/dataset-verifier.yaml: the
// dataset as pinned, unless its claim's name starts with "tampered".
var _ = Describe("Dataset verification", func() {
	verifiedCondition := func(exp *crucible.Experiment) *metav1.Condition {
		return meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition)
	}
	verifiers := func(ctx SpecContext, ns string) []batchv1.Job {
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{crucible.DatasetVerifierLabel: "true"})).To(Succeed())
		return jobs.Items
	}

	It("runs the verifier Job before the first trial, records the digest, then runs the sweep", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		createDataset(ctx, ns, "datasets")
		exp := builder.MakeExperiment("verified", ns).Values("lr", "0.1", "0.01").Parallelism(2).
			PVCDataset("datasets", "cifar10/2024-05-01", "/data").Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)

		c := verifiedCondition(exp)
		Expect(c).NotTo(BeNil())
		Expect(c.Status).To(Equal(metav1.ConditionTrue))
		Expect(c.Reason).To(Equal(crucible.ReasonDigestMatched))
		Expect(c.Message).To(ContainSubstring(builder.DatasetDigest))
		jobs := verifiers(ctx, ns)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Name).To(Equal(jobspec.VerifierName(exp)))
		Expect(jobs[0].Spec.Template.Spec.Containers[0].Image).To(Equal(VerifierImage))
		for _, t := range trialsOf(ctx, ns) {
			Expect(t.CreationTimestamp.Time).NotTo(BeTemporally("<", c.LastTransitionTime.Truncate(time.Second)),
				"Trial %s was created before the dataset was verified", t.Name)
		}
		Expect(exp.Status.Trials.Succeeded).To(Equal(int32(2)))
	}, SpecTimeout(2*time.Minute))

	It("fails an Experiment whose dataset has another digest, with no trial Job", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		createDataset(ctx, ns, "tampered-datasets")
		exp := builder.MakeExperiment("tampered", ns).Values("lr", "0.1", "0.01").
			PVCDataset("tampered-datasets", "cifar10/2024-05-01", "/data").Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentFailed, Timeout)

		failed := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentFailedCondition)
		Expect(failed).NotTo(BeNil())
		Expect(failed.Reason).To(Equal(crucible.ReasonDatasetDigestMismatch))
		Expect(failed.Message).To(And(ContainSubstring("pins "+builder.DatasetDigest), MatchRegexp(`has sha256:[0-9a-f]{64}`)))
		Expect(verifiedCondition(exp).Reason).To(Equal(crucible.ReasonDatasetDigestMismatch))
		Expect(trialsOf(ctx, ns)).To(BeEmpty())
		Expect(jobsOf(ctx, ns)).To(BeEmpty(), "no trial Job")
	}, SpecTimeout(2*time.Minute))

	It("skips verification with verify: Never, and says so", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		createDataset(ctx, ns, "tampered-datasets")
		exp := builder.MakeExperiment("trusting", ns).Values("lr", "0.1").
			PVCDataset("tampered-datasets", "cifar10/2024-05-01", "/data").DatasetVerify(crucible.DatasetVerifyNever).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)

		c := verifiedCondition(exp)
		Expect(c).NotTo(BeNil())
		Expect(c.Status).To(Equal(metav1.ConditionFalse))
		Expect(c.Reason).To(Equal(crucible.ReasonVerificationDisabled))
		Expect(verifiers(ctx, ns)).To(BeEmpty(), "no verifier Job")
	}, SpecTimeout(2*time.Minute))
})
