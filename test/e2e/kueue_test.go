package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

// gpu is the extended resource the queue's quota is of; the KWOK nodes have
// 8 each (hack/cluster/up.sh), so only the quota limits the trainers.
const gpu corev1.ResourceName = "nvidia.com/gpu"

// The real Kueue controller (make kueue: built from sigs.k8s.io/kueue) runs
// as a process against the cluster, as the operator does. A ClusterQueue has
// quota for 4 GPUs; every trainer asks for one.
var _ = Describe("Trials queued by Kueue", Ordered, func() {
	const quota = 4
	var (
		kueue    *framework.Manager
		kueueDir string
		// suffix keeps the cluster-scoped objects of two runs apart.
		suffix = fmt.Sprintf("%d", time.Now().UnixNano()%100000)
		cq     = "crucible-e2e-gpus-" + suffix
		flavor = "crucible-e2e-default-" + suffix
		high   = "crucible-e2e-high-" + suffix
	)

	BeforeAll(func(ctx SpecContext) {
		root := framework.Root()
		By("installing Kueue's CRDs")
		crds, err := filepath.Glob(filepath.Join(root, "bin", "kueue-crds", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(crds).NotTo(BeEmpty(), "no CRDs in bin/kueue-crds: run make kueue")
		Expect(framework.InstallFiles(ctx, k8sClient, crds...)).To(Succeed())

		By("starting the Kueue controller")
		kueueDir = filepath.Join(root, ".cluster", "kueue")
		Expect(os.RemoveAll(kueueDir)).To(Succeed())
		Expect(os.MkdirAll(kueueDir, 0o755)).To(Succeed())
		kueue, err = framework.StartKueue(kubeconfig, kueueDir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			Expect(kueue.Stop(StopTimeout)).To(Succeed(), "kueue did not exit cleanly; log: %s", kueue.Log)
		})

		By("creating a ResourceFlavor, a ClusterQueue with 4 GPUs that preempts lower priorities, and a WorkloadPriorityClass")
		objects := []*unstructured.Unstructured{
			kueueObject("ResourceFlavor", flavor, "", map[string]any{}),
			kueueObject("ClusterQueue", cq, "", map[string]any{
				"namespaceSelector": map[string]any{},
				"preemption":        map[string]any{"withinClusterQueue": "LowerPriority"},
				"resourceGroups": []any{map[string]any{
					"coveredResources": []any{string(gpu)},
					"flavors": []any{map[string]any{
						"name":      flavor,
						"resources": []any{map[string]any{"name": string(gpu), "nominalQuota": quota}},
					}},
				}},
			}),
		}
		wpc := kueueObject("WorkloadPriorityClass", high, "", nil)
		wpc.Object["value"] = int64(1000)
		objects = append(objects, wpc)
		for _, o := range objects {
			Expect(k8sClient.Create(ctx, o)).To(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
			// Deleted, and gone, while Kueue still runs to remove its
			// finalizers: cleanups run last-in first-out.
			DeferCleanup(func(ctx SpecContext) {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, o))).To(Succeed())
				Eventually(ctx, func() bool {
					return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()))
				}, Timeout, Interval).Should(BeTrue(), "%s %s is not gone", o.GetKind(), o.GetName())
			})
		}
	}, NodeTimeout(3*time.Minute))

	// newQueuedNamespace is a namespace with a LocalQueue "gpus" of cq.
	newQueuedNamespace := func(ctx context.Context) string {
		GinkgoHelper()
		ns := newNamespace(ctx)
		Expect(k8sClient.Create(ctx, kueueObject("LocalQueue", "gpus", ns, map[string]any{"clusterQueue": cq}))).To(Succeed())
		return ns
	}

	// gpuExperiment is a sweep of lrs × depths whose trainers ask for a GPU
	// each and queue in the LocalQueue gpus.
	gpuExperiment := func(name, ns string, lrs []string, depths int64, parallelism int32, duration time.Duration) *crucible.Experiment {
		exp := builder.MakeExperiment(name, ns).Values("lr", lrs...).IntRange("depth", 1, depths, 1).
			Seeds(baseSeed, 1).Parallelism(parallelism).MaxFailedTrials(0).
			Resources(corev1.ResourceRequirements{
				Requests: corev1.ResourceList{gpu: resource.MustParse("1")},
				Limits:   corev1.ResourceList{gpu: resource.MustParse("1")},
			}).Obj()
		exp.Spec.QueueName = "gpus"
		return withPodAnnotations(exp, map[string]string{durationAnnotation: duration.String()})
	}

	It("runs a 24-trial sweep with parallelism 12 at most 4 trainers at a time", SpecTimeout(5*time.Minute), func(ctx SpecContext) {
		ns := newQueuedNamespace(ctx)
		exp := gpuExperiment("queued", ns, []string{"0.001", "0.003", "0.01", "0.03"}, 6, 12, 8*time.Second)
		watch := watchTrainers(ctx, ns)
		start := time.Now()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		end := waitForEnd(ctx, key(ns, "queued"), crucible.ExperimentSucceeded, 4*time.Minute)
		maxRunning, queued := watch.stop()
		GinkgoWriter.Printf("kueue: 24 trials, parallelism 12, quota %d GPUs: at most %d trainers ran at once; %d trials recorded Queued; %s\n",
			quota, maxRunning, len(queued), since(start))
		AddReportEntry("kueue max concurrent trainers", maxRunning)

		Expect(end.Status.Trials.Succeeded).To(BeNumerically("==", 24))
		Expect(end.Status.Trials.Failed).To(BeZero())
		Expect(maxRunning).To(Equal(quota), "Kueue admits as many trainers as the quota has GPUs, never more")
		Expect(queued).NotTo(BeEmpty(), "trials waiting for admission show Pending with reason Queued")
		for _, job := range jobsOf(ctx, ns) {
			Expect(job.Labels).To(HaveKeyWithValue(crucible.QueueNameLabel, "gpus"), "job %s", job.Name)
		}
	})

	It("requeues trials a higher-priority workload preempts, and they finish without a failure", SpecTimeout(5*time.Minute), func(ctx SpecContext) {
		ns := newQueuedNamespace(ctx)
		exp := gpuExperiment("preempted", ns, []string{"0.001", "0.003", "0.01", "0.03"}, 1, 4, 20*time.Second)
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("waiting for the 4 trials to run")
		Eventually(ctx, func(g Gomega) {
			g.Expect(runningTrainers(ctx, ns)).To(HaveLen(quota))
			for _, t := range trialsOf(ctx, ns) {
				g.Expect(t.Status.Phase).To(Equal(crucible.TrialRunning), "trial %s", t.Name)
			}
		}, Timeout, Interval).Should(Succeed())

		By("submitting a Job of higher priority that needs 2 of the 4 GPUs")
		urgent := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "urgent", Namespace: ns, Labels: map[string]string{
				crucible.QueueNameLabel:         "gpus",
				"kueue.x-k8s.io/priority-class": high,
			}},
			Spec: batchv1.JobSpec{
				Suspend:      ptr.To(true),
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "urgent", Image: "registry.example.com/urgent@sha256:" + sha64("e"),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{gpu: resource.MustParse("2")},
							Limits:   corev1.ResourceList{gpu: resource.MustParse("2")},
						}}},
				}},
			},
		}
		Expect(k8sClient.Create(ctx, urgent)).To(Succeed())

		By("seeing preempted trials go back to Queued, with the attempt recorded")
		Eventually(ctx, func(g Gomega) {
			n := 0
			for _, t := range trialsOf(ctx, ns) {
				if t.Status.Phase == crucible.TrialPending && t.Status.Reason == crucible.ReasonQueued && t.Status.Attempts >= 1 {
					n++
				}
			}
			g.Expect(n).To(BeNumerically(">=", 2))
		}, Timeout, Interval).Should(Succeed())
		Eventually(ctx, func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(urgent), urgent)).To(Succeed())
			g.Expect(jobCondition(urgent, batchv1.JobComplete)).To(BeTrue(), "the urgent Job ran")
		}, Timeout, Interval).Should(Succeed())

		end := waitForEnd(ctx, key(ns, "preempted"), crucible.ExperimentSucceeded, 3*time.Minute)
		Expect(end.Status.Trials.Succeeded).To(BeNumerically("==", 4))
		Expect(end.Status.Trials.Failed).To(BeZero(), "a preemption is no failure: maxFailedTrials is 0")
		rerun := 0
		for _, t := range trialsOf(ctx, ns) {
			Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), "%s: %s %s", t.Name, t.Status.Reason, t.Status.Message)
			if t.Status.Attempts >= 2 {
				rerun++
			}
		}
		Expect(rerun).To(BeNumerically(">=", 2), "the preempted trials ran again, and counted the attempt")
		Expect(jobsOf(ctx, ns)).To(HaveLen(4), "one Job per trial: Kueue suspended and resumed the same Job")
	})
})

// kueueObject is a Kueue object of kind, with spec unless it is nil.
func kueueObject(kind, name, ns string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion("kueue.x-k8s.io/v1beta2")
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace(ns)
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

// runningTrainers are the trial Pods of ns that run, terminating or not: a
// terminating trainer still holds its GPU.
func runningTrainers(ctx context.Context, ns string) []corev1.Pod {
	GinkgoHelper()
	var running []corev1.Pod
	for _, p := range podsOf(ctx, ns) {
		if p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	return running
}

// trainerWatch samples the running trainers and the Trials of a namespace
// in the background.
type trainerWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	max    int
	queued map[string]bool
}

// watchTrainers samples ns every PollInterval until stop.
func watchTrainers(ctx context.Context, ns string) *trainerWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &trainerWatch{cancel: cancel, done: make(chan struct{}), queued: map[string]bool{}}
	go func() {
		defer GinkgoRecover()
		defer close(w.done)
		for ctx.Err() == nil {
			var pods corev1.PodList
			var trials crucible.TrialList
			errP := k8sClient.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})
			errT := k8sClient.List(ctx, &trials, client.InNamespace(ns))
			if errP == nil && errT == nil {
				running := 0
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodRunning {
						running++
					}
				}
				w.mu.Lock()
				w.max = max(w.max, running)
				for _, t := range trials.Items {
					if t.Status.Reason == crucible.ReasonQueued {
						w.queued[t.Name] = true
					}
				}
				w.mu.Unlock()
			} else if ctx.Err() == nil && !apierrors.IsNotFound(errP) {
				GinkgoWriter.Printf("watchTrainers: %v %v\n", errP, errT)
			}
			select {
			case <-ctx.Done():
			case <-time.After(PollInterval):
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the most trainers seen running at once
// and the Trials seen Queued.
func (w *trainerWatch) stop() (int, map[string]bool) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.queued
}

// sha64 is a 64-character digest made of c.
func sha64(c string) string {
	out := ""
	for range 64 {
		out += c
	}
	return out
}
