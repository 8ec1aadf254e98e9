package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

// NamespaceDeletionTimeout bounds how long a deleted namespace with running
// trials may take to go. On a real cluster that is the pods' grace period
// and the controllers' work; the KWOK Stages kill at once, so a few seconds.
const NamespaceDeletionTimeout = 60 * time.Second

// evictionReason is the reason of the DisruptionTarget condition the API
// server adds to a pod it evicts (pkg/registry/core/pod/storage/eviction.go);
// k8s.io/api has no constant for it.
const evictionReason = "EvictionByEvictionAPI"

var _ = Describe("A trial Pod deleted before it ended", func() {
	It("ends Failed, its containers killed, and a deleted namespace goes", SpecTimeout(4*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// Trainers that never end on their own, as in deletion_test.go.
		exp := withPodAnnotations(builder.MakeExperiment("hung", ns).
			Values("lr", "0.1", "0.01", "0.001", "0.0001").Parallelism(3).Obj(),
			map[string]string{outcomeAnnotation: "hang"})
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("waiting for three running trial Pods held by the Job controller's finalizer")
		running := waitForRunningTrialPods(ctx, ns, 3)
		for _, p := range running {
			Expect(p.Finalizers).To(ContainElement(batchv1.JobTrackingFinalizer), "Pod %s", p.Name)
		}

		By("deleting the namespace the way kubectl delete does")
		ends := watchPodEnds(ctx, ns)
		deleteNamespace(ctx, ns, NamespaceDeletionTimeout)

		By("having made every trial Pod terminal before it was removed, as a kubelet does")
		last := ends.result()
		for _, p := range running {
			Expect(last).To(HaveKey(p.Name), "Pod %s was not seen deleted", p.Name)
			expectKilled(last[p.Name])
			cond := podCondition(last[p.Name], corev1.DisruptionTarget)
			Expect(cond).To(BeNil(), "Pod %s: a kubelet adds no DisruptionTarget condition to a deleted Pod", p.Name)
		}
	})

	// What the operator then makes of the evicted run is eviction_test.go's
	// business; this checks the Pod the Job controller and the operator see.
	It("ends Failed with the API server's DisruptionTarget condition when it is evicted", SpecTimeout(3*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		exp := withPodAnnotations(builder.MakeExperiment("evicted", ns).Values("lr", "0.01").Obj(),
			map[string]string{outcomeAnnotation: "hang"})
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		pod := waitForRunningTrialPods(ctx, ns, 1)[0]

		By("evicting the trial's Pod through the eviction API")
		ends := watchPodEnds(ctx, ns)
		Expect(k8sClient.SubResource("eviction").Create(ctx, &pod, &policyv1.Eviction{})).To(Succeed())
		Eventually(ctx, func(g Gomega) {
			g.Expect(ends.result()).To(HaveKey(pod.Name))
		}, Timeout, Interval).Should(Succeed(), "Pod %s was not removed: %s", pod.Name, podSummary(ctx, ns))
		last := ends.result()[pod.Name]
		expectKilled(last)
		cond := podCondition(last, corev1.DisruptionTarget)
		Expect(cond).NotTo(BeNil(), "the API server marks an evicted Pod")
		Expect(cond.Status).To(Equal(corev1.ConditionTrue))
		Expect(cond.Reason).To(Equal(evictionReason))
	})
})

// waitForRunningTrialPods waits until ns has exactly n trial Pods, all
// Running, and returns them.
func waitForRunningTrialPods(ctx context.Context, ns string, n int) []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Eventually(ctx, func(g Gomega) {
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(n))
		for _, p := range pods.Items {
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "Pod %s", p.Name)
		}
	}, Timeout, Interval).Should(Succeed())
	return pods.Items
}

// expectKilled checks the last state of a Pod that was deleted while its
// trainer ran: Failed, every container terminated as a kubelet reports a
// container it killed (exit code 137, reason Error), not Ready.
func expectKilled(pod *corev1.Pod) {
	GinkgoHelper()
	Expect(pod.Status.Phase).To(Equal(corev1.PodFailed), "Pod %s was removed in phase %s", pod.Name, pod.Status.Phase)
	Expect(pod.Status.ContainerStatuses).To(HaveLen(len(pod.Spec.Containers)))
	for _, cs := range pod.Status.ContainerStatuses {
		Expect(cs.State.Terminated).NotTo(BeNil(), "Pod %s container %s: %+v", pod.Name, cs.Name, cs.State)
		Expect(cs.State.Terminated.ExitCode).To(Equal(int32(137)), "Pod %s container %s", pod.Name, cs.Name)
		Expect(cs.State.Terminated.Reason).To(Equal("Error"), "Pod %s container %s", pod.Name, cs.Name)
		Expect(cs.Ready).To(BeFalse())
	}
	ready := podCondition(pod, corev1.PodReady)
	Expect(ready).NotTo(BeNil())
	Expect(ready.Status).To(Equal(corev1.ConditionFalse))
}

// podCondition returns the Pod's condition of type t, or nil.
func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// deleteNamespace deletes ns as kubectl delete does and waits until it is
// gone, at most timeout, reporting how long it took.
func deleteNamespace(ctx context.Context, ns string, timeout time.Duration) {
	GinkgoHelper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	start := time.Now()
	Expect(k8sClient.Delete(ctx, nsObj)).To(Succeed())
	Eventually(ctx, func(g Gomega) {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nsObj), nsObj)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(),
			"namespace %s is still there (phase %s, conditions %v; Pods left: %s)",
			ns, nsObj.Status.Phase, nsObj.Status.Conditions, podSummary(ctx, ns))
	}, timeout, Interval).Should(Succeed())
	AddReportEntry("namespace gone after", since(start))
}

// podSummary says, for a failure message, which Pods ns still has and in
// what state.
func podSummary(ctx context.Context, ns string) string {
	var pods corev1.PodList
	if err := k8sClient.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, fmt.Sprintf("%s phase=%s deleting=%t finalizers=%v", p.Name, p.Status.Phase, p.DeletionTimestamp != nil, p.Finalizers))
	}
	return fmt.Sprint(out)
}

// podEnds watches a namespace's Pods and keeps the last state of each one
// deleted: what the watch's Deleted event carries.
type podEnds struct {
	mu   sync.Mutex
	last map[string]*corev1.Pod
}

// watchPodEnds starts watching ns; the watch ends with the spec.
func watchPodEnds(ctx context.Context, ns string) *podEnds {
	GinkgoHelper()
	cfg, err := framework.Config(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	e := &podEnds{last: map[string]*corev1.Pod{}}
	DeferCleanup(w.Stop)
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Deleted {
				continue
			}
			e.mu.Lock()
			e.last[pod.Name] = pod
			e.mu.Unlock()
		}
	}()
	return e
}

// result returns the Pods seen deleted so far, by name.
func (e *podEnds) result() map[string]*corev1.Pod {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]*corev1.Pod, len(e.last))
	for k, v := range e.last {
		out[k] = v
	}
	return out
}
