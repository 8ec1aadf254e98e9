package integration

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

// denyLabel marks the namespaces where denySecondJob refuses the Job of a
// sweep's second trial.
const denyLabel = "crucible.dev/test-deny-second-job"

var _ = Describe("A trial whose Job cannot run", func() {
	BeforeEach(func() { DeferCleanup(startManager()) })

	It("records the Job controller's FailedCreate as Pending, with its words", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		Expect(k8sClient.Create(ctx, builder.MakeExperiment("quota", ns).Obj())).To(Succeed())
		job := waitForJobs(ctx, ns, 1)[0]

		By("playing the Job controller refused by a ResourceQuota")
		now := metav1.Now()
		Expect(k8sClient.Create(ctx, &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: ns,
				Name: job.Name, UID: job.UID},
			Reason:         "FailedCreate",
			Message:        `Error creating: pods "` + job.Name + `-x" is forbidden: exceeded quota: gpus, requested: nvidia.com/gpu=1`,
			Type:           corev1.EventTypeWarning,
			Source:         corev1.EventSource{Component: "job-controller"},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		})).To(Succeed())

		// Recorded once the Job is 15 s old (pendingGracePeriod).
		Eventually(ctx, func(g Gomega) {
			trials := trialsOf(ctx, ns)
			g.Expect(trials).To(HaveLen(1))
			st := trials[0].Status
			g.Expect(st.Phase).To(Equal(crucible.TrialPending))
			g.Expect(st.Reason).To(Equal(crucible.ReasonFailedCreate))
			g.Expect(st.Message).To(ContainSubstring("exceeded quota: gpus"))
		}, Timeout, Interval).Should(Succeed())
	})

	It("fails with JobRejected when the API server refuses its Job, and is not retried", func(ctx SpecContext) {
		installDenySecondJob(ctx)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crucible-test-", Labels: map[string]string{denyLabel: "true"}}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		exp := builder.MakeExperiment("denied", ns.Name).Values("lr", "0.1", "0.01").Parallelism(2).MaxFailedTrials(1).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		// The Experiment's own create is refused and left to the Trial
		// reconciler, which tries once the 10 s handoff is over.
		Eventually(ctx, func(g Gomega) {
			for _, t := range trialsOf(ctx, ns.Name) {
				if t.Spec.Index == 1 {
					g.Expect(t.Status.Phase).To(Equal(crucible.TrialFailed))
					g.Expect(t.Status.Reason).To(Equal(crucible.ReasonJobRejected))
					g.Expect(t.Status.Message).To(ContainSubstring("the second trial may not run here"))
					return
				}
			}
			g.Expect(false).To(BeTrue(), "no Trial of index 1 yet")
		}, Timeout, Interval).Should(Succeed())
		Expect(jobsOf(ctx, ns.Name)).To(HaveLen(1), "the first trial's Job only")
	})
})

// waitForJobs waits until ns has n Jobs and returns them.
func waitForJobs(ctx context.Context, ns string, n int) []batchv1.Job {
	GinkgoHelper()
	var jobs []batchv1.Job
	Eventually(ctx, func(g Gomega) {
		jobs = jobsOf(ctx, ns)
		g.Expect(jobs).To(HaveLen(n))
	}, Timeout, Interval).Should(Succeed())
	return jobs
}

// installDenySecondJob installs, once, an admission policy that refuses the
// Job of a sweep's second trial (index 1) in namespaces labelled denyLabel,
// and waits until the API server enforces it.
func installDenySecondJob(ctx context.Context) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "test-deny-second-job"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{denyLabel: "true"}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "!has(object.metadata.annotations) || !('" + crucible.TrialIndexAnnotation + "' in object.metadata.annotations) || " +
					"object.metadata.annotations['" + crucible.TrialIndexAnnotation + "'] != '1'",
				Message: "the second trial may not run here",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-deny-second-job"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, obj))).To(Succeed())
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crucible-probe-", Labels: map[string]string{denyLabel: "true"}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	exp := builder.MakeExperiment("probe", ns.Name).Values("lr", "0.1", "0.01").Obj()
	probe := jobspec.New(exp, builder.MakeTrial(exp, "probe-1").Index(1).Obj())
	probe.OwnerReferences = nil
	Eventually(ctx, func() error {
		return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll)
	}, Timeout, Interval).Should(MatchError(ContainSubstring("the second trial may not run here")))
}
