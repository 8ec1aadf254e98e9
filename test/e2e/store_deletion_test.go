package e2e

import (
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// ArtifactDeletionTimeout is the operator's --artifact-deletion-timeout in
// this suite (startManager passes it): how long after its deletion an
// Experiment's artifacts are tried to be deleted before it goes without.
// Short, so that a spec can wait for it.
const ArtifactDeletionTimeout = 20 * time.Second

// StoreDeletionTimeout bounds how long a deleted namespace with an
// Experiment whose store cannot be reached may take to go: the timeout,
// then the first retry after it (the failed passes before are retried with
// backoff, so it can come as late again), then the namespace controller's
// own retries, also with backoff.
const StoreDeletionTimeout = 3*ArtifactDeletionTimeout + NamespaceDeletionTimeout

var _ = Describe("A namespace deleted with an Experiment, its s3 store's Secret and running trials", func() {
	It("is gone within the artifact deletion timeout, though the Secret goes first", SpecTimeout(5*time.Minute), func(ctx SpecContext) {
		ns := newNamespace(ctx)
		store, mc := s3Store(ctx, ns)
		bucket := store.S3.Bucket
		exp := withPodAnnotations(builder.MakeExperiment("stored", ns).
			Values("lr", "0.1", "0.01", "0.001").Parallelism(2).Obj(),
			map[string]string{outcomeAnnotation: "hang"})
		exp.Spec.Artifacts = store
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())

		By("waiting for the artifacts finalizer and two running trial Pods")
		Eventually(ctx, func(g Gomega) {
			got := &crucible.Experiment{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exp), got)).To(Succeed())
			g.Expect(controllerutil.ContainsFinalizer(got, crucible.ArtifactsFinalizer)).To(BeTrue())
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{crucible.TrialLabel})).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(2))
			for _, p := range pods.Items {
				g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "Pod %s", p.Name)
			}
		}, Timeout, Interval).Should(Succeed())
		key := "sweeps/" + ns + "/stored/checkpoint.bin"
		_, err := mc.PutObject(ctx, bucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("deleting the namespace the way kubectl delete does")
		deleteNamespace(ctx, ns, StoreDeletionTimeout)

		// Whether the artifacts were deleted depends on whether the
		// namespace controller removed the Secret before the trainers
		// stopped; either way the namespace went.
		left := 0
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "sweeps/" + ns + "/", Recursive: true}) {
			Expect(o.Err).NotTo(HaveOccurred())
			left++
		}
		AddReportEntry("objects left in the store", left)
	})
})
