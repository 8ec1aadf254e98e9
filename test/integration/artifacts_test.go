package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/s3server"
)

const (
	artifactBucket = "runs"
	artifactPrefix = "team-a/sweeps"
	storeSecret    = "store-credentials"
)

// written is what the simulated trainer wrote for one trial.
type written struct{ objects, bytes int64 }

// store is a real S3 server (versitygw) with a bucket, and the trainer's
// side of it.
type store struct {
	srv *s3server.Server
	mc  *minio.Client
	// wrote records, by Trial name, what the trainer wrote.
	wrote map[string]written
}

func newStore(ctx context.Context, ns string) *store {
	srv, err := s3server.Start(ctx, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(srv.Stop()).To(Succeed()) })
	mc, err := srv.Client()
	Expect(err).NotTo(HaveOccurred())
	Expect(mc.MakeBucket(ctx, artifactBucket, minio.MakeBucketOptions{})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: storeSecret, Namespace: ns},
		StringData: map[string]string{
			crucible.SecretKeyAccessKeyID:     srv.AccessKey,
			crucible.SecretKeySecretAccessKey: srv.SecretKey,
		},
	})).To(Succeed())
	return &store{srv: srv, mc: mc, wrote: map[string]written{}}
}

// spec is the Experiment's artifacts field for this store.
func (s *store) spec(required bool) *crucible.ArtifactsSpec {
	return &crucible.ArtifactsSpec{
		S3: &crucible.S3ArtifactStore{
			Endpoint:          s.srv.Host(),
			Bucket:            artifactBucket,
			Prefix:            artifactPrefix,
			Region:            s.srv.Region,
			CredentialsSecret: crucible.SecretReference{Name: storeSecret},
			Insecure:          true,
		},
		Required: required,
	}
}

// write plays the trainer: n objects of growing sizes under the prefix the
// Job's environment names, some in a subdirectory.
func (s *store) write(ctx context.Context, job *batchv1.Job, n int) {
	env := envOf(job)
	prefix := env[crucible.EnvArtifactPrefix]
	ExpectWithOffset(1, env[crucible.EnvArtifactBucket]).To(Equal(artifactBucket))
	ExpectWithOffset(1, prefix).NotTo(BeEmpty())
	var w written
	for i := range n {
		body := bytes.Repeat([]byte{byte('a' + i)}, 100*(i+1)+len(job.Name))
		key := prefix + fmt.Sprintf("checkpoints/step-%d.bin", i)
		if i == 0 {
			key = prefix + "model.bin"
		}
		_, err := s.mc.PutObject(ctx, artifactBucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		w.objects++
		w.bytes += int64(len(body))
	}
	s.wrote[job.Name] = w
}

// keys lists every key under prefix.
func (s *store) keys(ctx context.Context, prefix string) []string {
	var out []string
	for o := range s.mc.ListObjects(ctx, artifactBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		ExpectWithOffset(1, o.Err).NotTo(HaveOccurred())
		out = append(out, o.Key)
	}
	return out
}

// trialsWithArtifacts is the names of the trials with objects in the store,
// of any run of the experiment: artifacts, not the provenance records
// beside them, which retention keeps.
func (s *store) trialsWithArtifacts(ctx context.Context, ns, experiment string) []string {
	return s.trialsWith(ctx, ns, experiment, false)
}

// trialsWithRecords is the names of the trials with a provenance record in
// the store, of any run of the experiment.
func (s *store) trialsWithRecords(ctx context.Context, ns, experiment string) []string {
	return s.trialsWith(ctx, ns, experiment, true)
}

func (s *store) trialsWith(ctx context.Context, ns, experiment string, records bool) []string {
	expPrefix := artifactPrefix + "/" + ns + "/" + experiment + "/"
	seen := map[string]bool{}
	for _, k := range s.keys(ctx, expPrefix) {
		if strings.HasSuffix(k, artifacts.ProvenanceSuffix) != records {
			continue
		}
		// <experiment uid>/<trial>/<trial uid>/...
		seen[strings.SplitN(strings.TrimPrefix(k, expPrefix), "/", 3)[1]] = true
	}
	var out []string
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// trialKey is the key prefix of t's run: the documented layout
// <prefix>/<namespace>/<experiment>/<experiment uid>/<trial>/<trial uid>/.
func trialKey(t *crucible.Trial) string {
	exp := metav1.GetControllerOf(t)
	ExpectWithOffset(1, exp).NotTo(BeNil())
	return artifactPrefix + "/" + t.Namespace + "/" + exp.Name + "/" + string(exp.UID) + "/" + t.Name + "/" + string(t.UID) + "/"
}

// manifestDigest computes the documented manifest digest from a listing of
// the store, independently of the operator's code: one JSON array
// [key relative to the prefix, size, ETag] and a newline per object, sorted
// by key, hashed with sha256.
func (s *store) manifestDigest(ctx context.Context, prefix string) string {
	type entry struct {
		key  string
		line []byte
	}
	var entries []entry
	for o := range s.mc.ListObjects(ctx, artifactBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		ExpectWithOffset(1, o.Err).NotTo(HaveOccurred())
		rel := strings.TrimPrefix(o.Key, prefix)
		line, err := json.Marshal([]any{rel, o.Size, strings.Trim(o.ETag, `"`)})
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		entries = append(entries, entry{rel, append(line, '\n')})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	h := sha256.New()
	for _, e := range entries {
		h.Write(e.line)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ranked is the succeeded trials, best (lowest val_loss) first, ties to the
// lower index: the test's own ranking.
func ranked(trials []crucible.Trial) []crucible.Trial {
	var out []crucible.Trial
	for _, t := range trials {
		if t.Status.Phase == crucible.TrialSucceeded {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := strconv.ParseFloat(out[i].Status.Objective, 64)
		b, _ := strconv.ParseFloat(out[j].Status.Objective, 64)
		if a != b {
			return a < b
		}
		return out[i].Spec.Index < out[j].Spec.Index
	})
	return out
}

func names(trials []crucible.Trial) []string {
	out := make([]string, 0, len(trials))
	for _, t := range trials {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

func getExperiment(ctx context.Context, ns, name string) *crucible.Experiment {
	exp := &crucible.Experiment{}
	ExpectWithOffset(1, k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, exp)).To(Succeed())
	return exp
}

// artifactSweep is a 3×2 grid, one seed, all trials at once.
func artifactSweep(name, ns string, s *store) *crucible.Experiment {
	exp := builder.MakeExperiment(name, ns).
		Values("lr", "0.1", "0.01", "0.001").
		IntRange("depth", 2, 4, 2).
		Seeds(baseSeed, 1).
		Parallelism(6).
		Obj()
	exp.Spec.Artifacts = s.spec(false)
	return exp
}

var _ = Describe("Artifacts and retention", func() {
	var (
		ctx context.Context
		ns  string
		s   *store
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		s = newStore(ctx, ns)
	})

	When("the operator runs without interruption", func() {
		BeforeEach(func() { DeferCleanup(startManager()) })

		It("records what each trial wrote, with a manifest digest anyone can recompute, and fails a trial that wrote nothing", func() {
			exp := artifactSweep("art", ns, s)
			exp.Spec.Artifacts.Required = true
			exp.Spec.MaxFailedTrials = 1
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())

			c := newCluster(ns)
			c.runUntil(ctx, "art", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
				idx, _ := strconv.Atoi(job.Spec.Template.Annotations[crucible.TrialIndexAnnotation])
				if idx != 5 {
					s.write(ctx, job, idx+1)
				}
				return trainer(job)
			})

			By("recording the URI, counts, bytes and manifest digest of every trial")
			trials := trialsOf(ctx, ns)
			Expect(trials).To(HaveLen(6))
			for _, t := range trials {
				key := trialKey(&t)
				Expect(t.Status.Artifacts).NotTo(BeNil(), t.Name)
				Expect(t.Status.Artifacts.URI).To(Equal("s3://" + artifactBucket + "/" + key))
				Expect(t.Status.Artifacts.Objects).To(Equal(ptr.To(s.wrote[t.Name].objects)), t.Name)
				Expect(t.Status.Artifacts.Bytes).To(Equal(ptr.To(s.wrote[t.Name].bytes)), t.Name)
				Expect(t.Status.Artifacts.ManifestDigest).To(Equal(s.manifestDigest(ctx, key)), t.Name)
				By("keeping a provenance record beside each trial's artifacts, of the digest on the Trial")
				Expect(t.Status.Provenance).NotTo(BeNil(), t.Name)
				recordKey := strings.TrimSuffix(key, "/") + ".provenance.intoto.jsonl"
				Expect(t.Status.Provenance.URI).To(Equal("s3://" + artifactBucket + "/" + recordKey))
				obj, err := s.mc.GetObject(ctx, artifactBucket, recordKey, minio.GetObjectOptions{})
				Expect(err).NotTo(HaveOccurred())
				line, err := io.ReadAll(obj)
				Expect(err).NotTo(HaveOccurred(), t.Name)
				rec, err := provenance.Read(line)
				Expect(err).NotTo(HaveOccurred(), t.Name)
				Expect(rec.PayloadDigest).To(Equal(t.Status.Provenance.Digest))
				Expect(rec.Signed).To(BeFalse(), "the test manager has no signing key")
				Expect(rec.Metrics).To(Equal(t.Status.Metrics))
				Expect(rec.Artifacts).NotTo(BeNil())
				Expect(rec.Artifacts.ManifestDigest).To(Equal(t.Status.Artifacts.ManifestDigest),
					"the record's subject is the manifest, which does not count the record itself")
				if t.Spec.Index == 5 {
					Expect(t.Status.Phase).To(Equal(crucible.TrialFailed))
					Expect(t.Status.Reason).To(Equal(crucible.ReasonArtifactsMissing))
					Expect(t.Status.Message).To(ContainSubstring("wrote no artifact under s3://"))
				} else {
					Expect(t.Status.Phase).To(Equal(crucible.TrialSucceeded), t.Status.Message)
				}
			}

			By("giving the trainer the credentials by reference only")
			keys := map[string]string{}
			for _, t := range trials {
				keys[t.Name] = trialKey(&t)
			}
			for _, job := range jobsOf(ctx, ns) {
				raw, err := json.Marshal(job.Spec)
				Expect(err).NotTo(HaveOccurred())
				Expect(string(raw)).NotTo(ContainSubstring(s.srv.SecretKey))
				Expect(string(raw)).NotTo(ContainSubstring(s.srv.AccessKey))
				env := map[string]corev1.EnvVar{}
				for _, e := range job.Spec.Template.Spec.Containers[0].Env {
					env[e.Name] = e
				}
				for _, k := range []string{crucible.SecretKeyAccessKeyID, crucible.SecretKeySecretAccessKey} {
					Expect(env[k].ValueFrom).NotTo(BeNil(), k)
					Expect(env[k].ValueFrom.SecretKeyRef.Name).To(Equal(storeSecret))
					Expect(env[k].ValueFrom.SecretKeyRef.Key).To(Equal(k))
				}
				Expect(env["AWS_ENDPOINT_URL"].Value).To(Equal("http://" + s.srv.Host()))
				Expect(env[crucible.EnvArtifactURI].Value).To(Equal("s3://" + artifactBucket + "/" + keys[job.Name]))
			}
		})

		It("keeps the best K trials' artifacts and Trials, deletes the rest and the Jobs, and counts what it freed", func() {
			exp := artifactSweep("keep", ns, s)
			exp.Spec.MaxFailedTrials = 1
			exp.Spec.Retention = &crucible.RetentionSpec{
				Jobs:      crucible.JobRetention{TTLSecondsAfterFinished: ptr.To[int32](0)},
				Trials:    crucible.TrialRetention{KeepBest: ptr.To[int32](3), Failed: crucible.FailedKeep},
				Artifacts: crucible.ArtifactRetention{KeepBest: ptr.To[int32](2), Failed: crucible.FailedDelete},
			}
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())

			c := newCluster(ns)
			c.runUntil(ctx, "keep", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
				s.write(ctx, job, 2)
				if job.Spec.Template.Annotations[crucible.TrialIndexAnnotation] == "0" {
					return exited(1) // wrote a checkpoint, then crashed
				}
				return trainer(job)
			})
			all := trialsOf(ctx, ns)
			Expect(all).To(HaveLen(6))
			best := ranked(all)
			Expect(best).To(HaveLen(5))
			var failed crucible.Trial
			for _, t := range all {
				if t.Status.Phase == crucible.TrialFailed {
					failed = t
				}
			}

			By("deleting the Jobs of ended trials (those of deleted Trials are the garbage collector's, which envtest lacks)")
			Eventually(func() []string {
				trials := map[types.UID]bool{}
				for _, t := range trialsOf(ctx, ns) {
					trials[t.UID] = true
				}
				var left []string
				for _, j := range jobsOf(ctx, ns) {
					if trials[metav1.GetControllerOf(&j).UID] {
						left = append(left, j.Name)
					}
				}
				return left
			}, Timeout, Interval).Should(BeEmpty())

			By("keeping the artifacts of the best 2 only")
			Eventually(func(g Gomega) {
				exp := getExperiment(ctx, ns, "keep")
				g.Expect(meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentCollectedCondition)).To(BeTrue())
			}, Timeout, Interval).Should(Succeed())
			Expect(s.trialsWithArtifacts(ctx, ns, "keep")).To(Equal(names(best[:2])))
			Expect(s.trialsWithRecords(ctx, ns, "keep")).To(HaveLen(6), "retention keeps every trial's provenance record")

			By("keeping the best 3 Trials and the failed one")
			Eventually(func() []string { return names(trialsOf(ctx, ns)) }, Timeout, Interval).
				Should(Equal(names(append(slices.Clone(best[:3]), failed))))

			By("counting what was deleted, and keeping the Experiment's record")
			exp = getExperiment(ctx, ns, "keep")
			freed := written{}
			for _, t := range append(slices.Clone(best[2:]), failed) {
				freed.objects += s.wrote[t.Name].objects
				freed.bytes += s.wrote[t.Name].bytes
			}
			Expect(exp.Status.Retention.TrialsDeleted).To(Equal(int32(2)))
			Expect(exp.Status.Retention.ArtifactsDeleted).To(Equal(crucible.ArtifactCounts{Trials: 4, Objects: freed.objects, Bytes: freed.bytes}))
			Expect(exp.Status.Trials).To(Equal(crucible.TrialCounts{Total: 6, Created: 6, Succeeded: 5, Failed: 1}))
			Expect(exp.Status.BestTrial.Name).To(Equal(best[0].Name))

			By("collecting only what a narrower policy adds, and counting it once")
			exp.Spec.Retention.Artifacts.KeepBest = ptr.To[int32](1)
			Expect(k8sClient.Update(ctx, exp)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(s.trialsWithArtifacts(ctx, ns, "keep")).To(Equal(names(best[:1])))
				exp := getExperiment(ctx, ns, "keep")
				g.Expect(exp.Status.Retention.ArtifactsDeleted).To(Equal(crucible.ArtifactCounts{
					Trials:  5,
					Objects: freed.objects + s.wrote[best[1].Name].objects,
					Bytes:   freed.bytes + s.wrote[best[1].Name].bytes,
				}))
				g.Expect(meta.IsStatusConditionTrue(exp.Status.Conditions, crucible.ExperimentCollectedCondition)).To(BeTrue())
			}, Timeout, Interval).Should(Succeed())
			Expect(getExperiment(ctx, ns, "keep").Status.Retention.TrialsDeleted).To(Equal(int32(2)))
		})

		It("deletes every artifact of a deleted Experiment, even mid-sweep, and then lets it go", func() {
			exp := artifactSweep("gone", ns, s)
			exp.Spec.Parallelism = 2
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			sibling := artifactPrefix + "/" + ns + "/gone2/keep.txt"
			_, err := s.mc.PutObject(ctx, artifactBucket, sibling, strings.NewReader("x"), 1, minio.PutObjectOptions{})
			Expect(err).NotTo(HaveOccurred())

			c := newCluster(ns)
			Eventually(func() int { return len(unfinishedJobs(ctx, ns)) }, Timeout, Interval).Should(Equal(2))
			Eventually(func() bool {
				return controllerutil.ContainsFinalizer(getExperiment(ctx, ns, "gone"), crucible.ArtifactsFinalizer)
			}, Timeout, Interval).Should(BeTrue())
			c.step(ctx, 2, func(job *batchv1.Job) outcome { s.write(ctx, job, 3); return trainer(job) })
			Eventually(func() int { return len(unfinishedJobs(ctx, ns)) }, Timeout, Interval).Should(Equal(2))
			for _, job := range unfinishedJobs(ctx, ns) {
				s.write(ctx, &job, 1) // still running, with a checkpoint
			}
			Expect(s.trialsWithArtifacts(ctx, ns, "gone")).To(HaveLen(4))

			Expect(k8sClient.Delete(ctx, getExperiment(ctx, ns, "gone"))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gone"}, &crucible.Experiment{}))
			}, Timeout, Interval).Should(BeTrue())
			Expect(s.keys(ctx, artifactPrefix+"/"+ns+"/gone/")).To(BeEmpty())
			Expect(s.keys(ctx, sibling)).To(Equal([]string{sibling}))
			By("stopping the runs first")
			Expect(unfinishedJobs(ctx, ns)).To(BeEmpty())
		})

		It("keeps a deleted Experiment, with a condition, while the store is down, and lets it go once the store is back", func() {
			exp := artifactSweep("down", ns, s)
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			c := newCluster(ns)
			c.runUntil(ctx, "down", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
				s.write(ctx, job, 1)
				return trainer(job)
			})
			Expect(s.trialsWithArtifacts(ctx, ns, "down")).To(HaveLen(6))

			Expect(s.srv.Stop()).To(Succeed())
			Expect(k8sClient.Delete(ctx, getExperiment(ctx, ns, "down"))).To(Succeed())
			Eventually(func(g Gomega) {
				exp := getExperiment(ctx, ns, "down")
				cond := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentCollectedCondition)
				g.Expect(cond).NotTo(BeNil())
				g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(cond.Reason).To(Equal(crucible.ReasonStoreError))
			}, Timeout, Interval).Should(Succeed())
			Consistently(func() []string {
				return getExperiment(ctx, ns, "down").Finalizers
			}, ConsistentlyDuration, Interval).Should(ContainElement(crucible.ArtifactsFinalizer))

			Expect(s.srv.Restart(ctx)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "down"}, &crucible.Experiment{}))
			}, 2*time.Minute, Interval).Should(BeTrue())
			Expect(s.keys(ctx, artifactPrefix+"/"+ns+"/down/")).To(BeEmpty())
		})
	})

	It("ends a collection interrupted by a restart in the state an uninterrupted one reaches", func() {
		stop := startManager()
		exp := artifactSweep("resume", ns, s)
		exp.Spec.Retention = &crucible.RetentionSpec{
			Trials:    crucible.TrialRetention{KeepBest: ptr.To[int32](2)},
			Artifacts: crucible.ArtifactRetention{KeepBest: ptr.To[int32](2), TTLSecondsAfterFinished: 3600},
		}
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		c := newCluster(ns)
		c.runUntil(ctx, "resume", crucible.ExperimentSucceeded, func(job *batchv1.Job) outcome {
			s.write(ctx, job, 2)
			return trainer(job)
		})
		Eventually(func(g Gomega) {
			cond := meta.FindStatusCondition(getExperiment(ctx, ns, "resume").Status.Conditions, crucible.ExperimentCollectedCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(crucible.ReasonWaitingForTTL))
		}, Timeout, Interval).Should(Succeed())
		stop()

		By("leaving the store as an operator killed after deleting two prefixes would")
		best := ranked(trialsOf(ctx, ns))
		for _, t := range best[4:] {
			for _, k := range s.keys(ctx, trialKey(&t)) {
				Expect(s.mc.RemoveObject(ctx, artifactBucket, k, minio.RemoveObjectOptions{})).To(Succeed())
			}
		}
		exp = getExperiment(ctx, ns, "resume")
		exp.Spec.Retention.Artifacts.TTLSecondsAfterFinished = 0
		Expect(k8sClient.Update(ctx, exp)).To(Succeed())

		DeferCleanup(startManager())
		Eventually(func(g Gomega) {
			g.Expect(meta.IsStatusConditionTrue(getExperiment(ctx, ns, "resume").Status.Conditions, crucible.ExperimentCollectedCondition)).To(BeTrue())
			g.Expect(names(trialsOf(ctx, ns))).To(Equal(names(best[:2])))
		}, Timeout, Interval).Should(Succeed())
		Expect(s.trialsWithArtifacts(ctx, ns, "resume")).To(Equal(names(best[:2])))
		freed := written{}
		for _, t := range best[2:] {
			freed.objects += s.wrote[t.Name].objects
			freed.bytes += s.wrote[t.Name].bytes
		}
		status := getExperiment(ctx, ns, "resume").Status.Retention
		Expect(status.ArtifactsDeleted).To(Equal(crucible.ArtifactCounts{Trials: 4, Objects: freed.objects, Bytes: freed.bytes}))
		Expect(status.TrialsDeleted).To(Equal(int32(4)))
	})
})
