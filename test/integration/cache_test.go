package integration

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller"
)

var _ = Describe("The manager's cache", func() {
	It("holds only the Jobs and Pods that carry the crucible.dev/experiment label, without their pod specs", func() {
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		ns := newNamespace(ctx)

		podSpec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/x:1"}}}
		for _, labels := range []map[string]string{{crucible.ExperimentLabel: "e"}, {"app": "other"}} {
			name := "ours"
			if labels[crucible.ExperimentLabel] == "" {
				name = "theirs"
			}
			meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
			Expect(k8sClient.Create(ctx, &corev1.Pod{ObjectMeta: meta, Spec: podSpec})).To(Succeed())
			Expect(k8sClient.Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec}}})).To(Succeed())
		}

		opts := controller.CacheOptions()
		opts.Scheme = scheme
		c, err := cache.New(cfg, opts)
		Expect(err).NotTo(HaveOccurred())
		go func() {
			defer GinkgoRecover()
			Expect(c.Start(ctx)).To(Succeed())
		}()
		Expect(c.WaitForCacheSync(ctx)).To(BeTrue())

		var pods corev1.PodList
		Expect(c.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		Expect(pods.Items[0].Name).To(Equal("ours"))
		Expect(pods.Items[0].ManagedFields).To(BeEmpty(), "managedFields are stripped from cached objects")
		Expect(pods.Items[0].Spec.Containers).To(BeEmpty(), "pod specs are stripped from cached Pods")

		var jobs batchv1.JobList
		Expect(c.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(HaveLen(1))
		Expect(jobs.Items[0].Name).To(Equal("ours"))
		Expect(jobs.Items[0].ManagedFields).To(BeEmpty())
		Expect(jobs.Items[0].Spec.Template.Spec.Containers).To(BeEmpty(), "pod templates are stripped from cached Jobs")
	})
})
