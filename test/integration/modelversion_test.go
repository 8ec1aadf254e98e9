package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/test/builder"
)

const (
	// promotionDeletionTimeout is the manager's --artifact-deletion-timeout
	// in the ModelVersion specs: short, so that a version deleted while
	// the store is down goes within a spec.
	promotionDeletionTimeout = 3 * time.Second

	// EnvBenchPromote, set to 1, makes the promotion measurement copy a
	// 1 GiB artifact set (64 objects of 16 MiB) instead of 4 MiB.
	EnvBenchPromote = "CRUCIBLE_BENCH_PROMOTE"
)

// trialArtifacts is what a simulated trainer wrote under a trial's prefix.
type trialArtifacts struct {
	prefix   string
	objects  []artifacts.Object // keys relative to prefix, as PutObject reported them
	bytes    int64
	manifest artifacts.Manifest
}

// writeTrialArtifacts plays a trainer that wrote n objects of size bytes
// under the prefix of a trial run of experiment "sweep", with the AWS SDKs'
// multipart threshold and part size (8 MiB), 8 at a time.
func writeTrialArtifacts(ctx context.Context, s *store, ns, trial string, n, size int) *trialArtifacts {
	GinkgoHelper()
	const partSize = 8 << 20
	prefix := artifacts.TrialPrefix(artifactPrefix, ns, "sweep", "e-uid", trial, trial+"-uid")
	t := &trialArtifacts{prefix: prefix, objects: make([]artifacts.Object, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				key := fmt.Sprintf("checkpoints/shard-%05d-of-%05d.safetensors", i, n)
				if i == 0 {
					key = "model.safetensors"
				}
				data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
				opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
				if size > partSize {
					opts.PartSize = partSize
				} else {
					opts.DisableMultipart = true
				}
				info, err := s.mc.PutObject(ctx, artifactBucket, prefix+key, bytes.NewReader(data), int64(size), opts)
				t.objects[i], errs[i] = artifacts.Object{Key: key, Size: info.Size, ETag: info.ETag}, err
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
	for _, o := range t.objects {
		t.bytes += o.Size
	}
	t.manifest = artifacts.NewManifest(t.objects)
	return t
}

// promotedVersion is version n of model as `kubectl crucible promote`
// writes it for a trial of an Experiment whose artifacts are in s, with
// what the trial recorded of its artifacts.
func promotedVersion(ns, model string, n int32, s *store, a *trialArtifacts) *crucible.ModelVersion {
	trial := strings.Split(strings.TrimSuffix(a.prefix, "/"), "/")
	return &crucible.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-v%d", model, n), Namespace: ns,
			Labels: map[string]string{crucible.ModelLabel: model}},
		Spec: crucible.ModelVersionSpec{
			Model:   model,
			Version: n,
			Source: crucible.ModelVersionSource{Experiment: "sweep", Trial: trial[len(trial)-2], TrialUID: trial[len(trial)-1],
				SpecDigest: "sha256:" + strings.Repeat("d", 64)},
			Parameters: []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}},
			Seed:       1234,
			Objective:  crucible.ModelObjective{Metric: "val_loss", Value: "0.231"},
			Metrics:    map[string]string{"val_loss": "0.231", "accuracy": "0.912"},
			Image:      builder.Image,
			Artifacts: &crucible.ModelVersionArtifacts{URI: artifacts.S3URI(artifactBucket, a.prefix),
				ManifestDigest: a.manifest.Digest, Objects: ptr.To(a.manifest.Objects), Bytes: ptr.To(a.manifest.Bytes)},
			Store: s.spec(false).S3,
		},
	}
}

func getVersion(ctx context.Context, g Gomega, mv *crucible.ModelVersion) *crucible.ModelVersion {
	got := &crucible.ModelVersion{}
	g.ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(mv), got)).To(Succeed())
	return got
}

// expectVersion waits until mv has phase and its Ready condition reason,
// and returns it.
func expectVersion(ctx context.Context, mv *crucible.ModelVersion, phase crucible.ModelVersionPhase, reason string) *crucible.ModelVersion {
	GinkgoHelper()
	var got *crucible.ModelVersion
	Eventually(ctx, func(g Gomega) {
		got = getVersion(ctx, g, mv)
		c := meta.FindStatusCondition(got.Status.Conditions, crucible.ModelVersionReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(got.Status.Phase).To(Equal(phase), "%+v", c)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
	}, Timeout, Interval).Should(Succeed())
	return got
}

func readyMessage(mv *crucible.ModelVersion) string {
	return meta.FindStatusCondition(mv.Status.Conditions, crucible.ModelVersionReadyCondition).Message
}

// relativeKeys is the keys under prefix, relative to it.
func relativeKeys(ctx context.Context, s *store, prefix string) []string {
	var out []string
	for _, k := range s.keys(ctx, prefix) {
		out = append(out, strings.TrimPrefix(k, prefix))
	}
	return out
}

func keysOf(objs []artifacts.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

var _ = Describe("ModelVersion promotion", func() {
	var (
		ns string
		s  *store
	)
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		s = newStore(ctx, ns)
		o := managerOptions()
		o.ArtifactDeletionTimeout = promotionDeletionTimeout
		DeferCleanup(startManagerWith(o))
	})

	It("copies a trial's artifacts to the model's prefix and verifies them, keeps them when the trial's are deleted, and deletes them with the version", func(ctx SpecContext) {
		// Two objects over the 8 MiB multipart threshold: their ETags are
		// "<hex>-2", which a plain copy would not keep.
		trial := writeTrialArtifacts(ctx, s, ns, "sweep-3f9a1c2e", 3, 9<<20)
		mv := promotedVersion(ns, "resnet", 1, s, trial)
		Expect(k8sClient.Create(ctx, mv)).To(Succeed())

		By("copying and verifying the copy's manifest digest against the trial's")
		got := expectVersion(ctx, mv, crucible.ModelVersionReady, crucible.ReasonVerified)
		modelPrefix := artifactPrefix + "/" + ns + "/models/resnet/v1/"
		Expect(got.Status.Artifacts).To(Equal(&crucible.ModelVersionArtifacts{
			URI:            "s3://" + artifactBucket + "/" + modelPrefix,
			ManifestDigest: trial.manifest.Digest,
			Objects:        ptr.To[int64](3),
			Bytes:          ptr.To(trial.bytes),
		}))
		Expect(got.Finalizers).To(ContainElement(crucible.ModelArtifactsFinalizer))
		Expect(relativeKeys(ctx, s, modelPrefix)).To(ConsistOf(keysOf(trial.objects)))
		Expect(s.manifestDigest(ctx, modelPrefix)).To(Equal(trial.manifest.Digest), "the copy's digest, recomputed by the test")
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, ns, mv.Name, "Ready") }, Timeout, Interval).Should(HaveLen(1), "events are recorded asynchronously")

		By("keeping the model's copy when the Experiment's retention deletes the trial's")
		for _, k := range s.keys(ctx, trial.prefix) {
			Expect(s.mc.RemoveObject(ctx, artifactBucket, k, minio.RemoveObjectOptions{})).To(Succeed())
		}
		Consistently(ctx, func(g Gomega) {
			g.Expect(getVersion(ctx, g, mv).Status.Phase).To(Equal(crucible.ModelVersionReady))
		}, ConsistentlyDuration, Interval).Should(Succeed())
		Expect(s.manifestDigest(ctx, modelPrefix)).To(Equal(trial.manifest.Digest))

		By("deleting the copy with the version, and nothing else")
		sibling := writeTrialArtifacts(ctx, s, ns, "sweep-other", 1, 10)
		Expect(k8sClient.Delete(ctx, mv)).To(Succeed())
		Eventually(ctx, func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mv), &crucible.ModelVersion{}))
		}, Timeout, Interval).Should(BeTrue())
		Expect(s.keys(ctx, modelPrefix)).To(BeEmpty())
		Expect(relativeKeys(ctx, s, sibling.prefix)).To(Equal(keysOf(sibling.objects)))
	})

	It("fails a version whose trial's artifacts changed since they were recorded, naming both digests", func(ctx SpecContext) {
		trial := writeTrialArtifacts(ctx, s, ns, "sweep-3f9a1c2e", 3, 1000)
		mv := promotedVersion(ns, "resnet", 2, s, trial)
		corrupt := bytes.Repeat([]byte{'x'}, 1000)
		_, err := s.mc.PutObject(ctx, artifactBucket, trial.prefix+"model.safetensors", bytes.NewReader(corrupt), 1000, minio.PutObjectOptions{})
		Expect(err).NotTo(HaveOccurred())
		changed := s.manifestDigest(ctx, trial.prefix)
		Expect(changed).NotTo(Equal(trial.manifest.Digest))
		Expect(k8sClient.Create(ctx, mv)).To(Succeed())

		got := expectVersion(ctx, mv, crucible.ModelVersionFailed, crucible.ReasonDigestMismatch)
		Expect(readyMessage(got)).To(And(ContainSubstring(changed), ContainSubstring(trial.manifest.Digest)))
		Expect(got.Status.Artifacts).To(BeNil())
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, ns, mv.Name, "Failed") }, Timeout, Interval).Should(HaveLen(1), "events are recorded asynchronously")
	})

	It("fails a version whose trial's artifacts are gone, and records the trial's URI for one without a store", func(ctx SpecContext) {
		trial := writeTrialArtifacts(ctx, s, ns, "sweep-3f9a1c2e", 2, 100)
		for _, k := range s.keys(ctx, trial.prefix) {
			Expect(s.mc.RemoveObject(ctx, artifactBucket, k, minio.RemoveObjectOptions{})).To(Succeed())
		}
		gone := promotedVersion(ns, "resnet", 3, s, trial)
		Expect(k8sClient.Create(ctx, gone)).To(Succeed())
		got := expectVersion(ctx, gone, crucible.ModelVersionFailed, crucible.ReasonSourceMissing)
		Expect(readyMessage(got)).To(ContainSubstring("there are no objects under s3://" + artifactBucket + "/" + trial.prefix))

		storeless := promotedVersion(ns, "bert", 1, s, trial)
		storeless.Spec.Store = nil
		Expect(k8sClient.Create(ctx, storeless)).To(Succeed())
		got = expectVersion(ctx, storeless, crucible.ModelVersionReady, crucible.ReasonNoStore)
		Expect(got.Status.Artifacts).To(Equal(storeless.Spec.Artifacts))
		Expect(got.Finalizers).To(BeEmpty())
		Expect(readyMessage(got)).To(ContainSubstring("which the Experiment's retention or deletion may delete"))
	})

	It("keeps a deleted version while the store is down, and lets it go after the deletion timeout, leaving its copy", func(ctx SpecContext) {
		trial := writeTrialArtifacts(ctx, s, ns, "sweep-3f9a1c2e", 2, 100)
		mv := promotedVersion(ns, "resnet", 4, s, trial)
		Expect(k8sClient.Create(ctx, mv)).To(Succeed())
		expectVersion(ctx, mv, crucible.ModelVersionReady, crucible.ReasonVerified)
		modelPrefix := artifactPrefix + "/" + ns + "/models/resnet/v4/"

		Expect(s.srv.Stop()).To(Succeed())
		Expect(k8sClient.Delete(ctx, mv)).To(Succeed())
		By("saying why it stays, with the finalizer")
		Eventually(ctx, func(g Gomega) {
			got := getVersion(ctx, g, mv)
			g.Expect(controllerutil.ContainsFinalizer(got, crucible.ModelArtifactsFinalizer)).To(BeTrue())
			c := meta.FindStatusCondition(got.Status.Conditions, crucible.ModelVersionReadyCondition)
			g.Expect(c.Reason).To(Equal(crucible.ReasonStoreError))
			g.Expect(c.Message).To(ContainSubstring("deleting the model's copy under s3://" + artifactBucket + "/" + modelPrefix))
		}, Timeout, Interval).Should(Succeed())
		By("letting it go once the timeout has passed")
		Eventually(ctx, func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mv), &crucible.ModelVersion{}))
		}, Timeout, Interval).Should(BeTrue())
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, ns, mv.Name, "ArtifactsAbandoned") }, Timeout, Interval).Should(HaveLen(1), "events are recorded asynchronously")
		Eventually(func() []eventsv1.Event { return eventsOf(ctx, ns, mv.Name, "StoreError") }, Timeout, Interval).Should(HaveLen(1), "events are recorded asynchronously")

		Expect(s.srv.Restart(ctx)).To(Succeed())
		Expect(relativeKeys(ctx, s, modelPrefix)).To(ConsistOf(keysOf(trial.objects)), "the copy is left in the store")

		By("starting a version created again under the name from an empty prefix")
		other := writeTrialArtifacts(ctx, s, ns, "sweep-0b1c2d3e", 1, 50)
		again := promotedVersion(ns, "resnet", 4, s, other)
		Expect(k8sClient.Create(ctx, again)).To(Succeed())
		expectVersion(ctx, again, crucible.ModelVersionReady, crucible.ReasonVerified)
		Expect(relativeKeys(ctx, s, modelPrefix)).To(Equal(keysOf(other.objects)))
	})

	It("measures a promotion: the time from create to Ready and the API writes", func(ctx SpecContext) {
		n, size := 64, 64<<10 // 4 MiB
		if os.Getenv(EnvBenchPromote) == "1" {
			size = 16 << 20 // 1 GiB
		}
		began := time.Now()
		trial := writeTrialArtifacts(ctx, s, ns, "sweep-3f9a1c2e", n, size)
		wrote := time.Since(began)

		wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		w, err := wc.Watch(ctx, &crucible.ModelVersionList{}, client.InNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()

		mv := promotedVersion(ns, "resnet", 1, s, trial)
		created := time.Now()
		Expect(k8sClient.Create(ctx, mv)).To(Succeed())
		// Every write of the version, after its create, is one MODIFIED
		// event of the watch.
		var (
			writes  int
			pending time.Duration
			ready   time.Duration
		)
		Eventually(ctx, func() crucible.ModelVersionPhase {
			for {
				select {
				case ev := <-w.ResultChan():
					v, ok := ev.Object.(*crucible.ModelVersion)
					if !ok || v.Name != mv.Name || ev.Type != watch.Modified {
						continue
					}
					writes++
					if v.Status.Phase == crucible.ModelVersionPending && pending == 0 {
						pending = time.Since(created)
					}
					if v.Status.Phase == crucible.ModelVersionReady || v.Status.Phase == crucible.ModelVersionFailed {
						ready = time.Since(created)
						return v.Status.Phase
					}
				default:
					return ""
				}
			}
		}, 5*time.Minute, 10*time.Millisecond).Should(Equal(crucible.ModelVersionReady))
		got := expectVersion(ctx, mv, crucible.ModelVersionReady, crucible.ReasonVerified)
		var events int
		Eventually(func() int { events = len(eventsOf(ctx, ns, mv.Name, "Ready")); return events }, Timeout, Interval).Should(BeNumerically(">=", 1))
		GinkgoWriter.Printf("promotion of %d objects of %d bytes (%.1f MiB in all; written in %v): Pending after %v, Ready after %v; "+
			"%d writes of the ModelVersion, %d event\n",
			n, size, float64(trial.bytes)/(1<<20), wrote.Round(time.Millisecond), pending.Round(time.Millisecond),
			ready.Round(time.Millisecond), writes, events)
		AddReportEntry("promotion", fmt.Sprintf("%d×%d bytes: Ready after %v, %d writes, %d event", n, size, ready.Round(time.Millisecond), writes, events))
		Expect(*got.Status.Artifacts.Bytes).To(Equal(int64(n * size)))
		Expect(writes).To(Equal(3), "the finalizer, Pending and Ready")
		Expect(events).To(Equal(1))
	})
})
