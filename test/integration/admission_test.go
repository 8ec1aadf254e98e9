package integration

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// psaEnforce is the namespace label Pod Security admission reads.
const psaEnforce = "pod-security.kubernetes.io/enforce"

var _ = Describe("Experiment admission", func() {
	BeforeEach(func(ctx SpecContext) { waitForAdmissionPolicies(ctx) })

	Describe("the user's own permissions", func() {
		var ns string
		BeforeEach(func(ctx SpecContext) {
			ns = newNamespace(ctx)
			bindExperimentEditor(ctx, ns, "alice")
		})

		It("refuses a user who may only edit Experiments, naming create on jobs.batch", func(ctx SpecContext) {
			alice := clientAs("alice")
			exp := builder.MakeExperiment("e", ns).Values("lr", "0.1").Obj()
			Eventually(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, Timeout, Interval).
				Should(MatchError(And(
					ContainSubstring(`user "alice" may not create jobs.batch in namespace `+ns),
					ContainSubstring("creating an Experiment or changing its spec runs Jobs"))))
			err := alice.Create(ctx, exp, client.DryRunAll)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a permission refusal is Forbidden: %v", err)
		})

		It("accepts the same user once they may create jobs.batch", func(ctx SpecContext) {
			alice := clientAs("alice")
			exp := builder.MakeExperiment("e", ns).Values("lr", "0.1").Obj()
			Eventually(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, Timeout, Interval).
				Should(MatchError(ContainSubstring("may not create jobs.batch")))

			grant(ctx, ns, "alice", "create-jobs", rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}})
			Eventually(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, Timeout, Interval).Should(Succeed())
		})

		It("refuses a ModelVersion whose store names a Secret the user may not get", func(ctx SpecContext) {
			grant(ctx, ns, "alice", "create-versions", rbacv1.PolicyRule{APIGroups: []string{"crucible.dev"}, Resources: []string{"modelversions"}, Verbs: []string{"create"}})
			alice := clientAs("alice")
			mv := &crucible.ModelVersion{
				ObjectMeta: metav1.ObjectMeta{Name: "resnet-v1", Namespace: ns},
				Spec: crucible.ModelVersionSpec{Model: "resnet", Version: 1, Image: builder.Image,
					Source: crucible.ModelVersionSource{Experiment: "e", Trial: "e-0123456789ab", TrialUID: "u"},
					Store:  s3Artifacts("creds").S3},
			}
			Eventually(ctx, func() error { return alice.Create(ctx, mv, client.DryRunAll) }, Timeout, Interval).
				Should(MatchError(And(
					ContainSubstring("spec.store.credentialsSecret.name"),
					ContainSubstring(`user "alice" may not get secret "creds" in namespace `+ns))))

			By("accepting a version without a store, and one once the user may get the Secret")
			noStore := mv.DeepCopy()
			noStore.Spec.Store = nil
			Expect(alice.Create(ctx, noStore, client.DryRunAll)).To(Succeed())
			grant(ctx, ns, "alice", "get-creds", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
				ResourceNames: []string{"creds"}, Verbs: []string{"get"}})
			Eventually(ctx, func() error { return alice.Create(ctx, mv, client.DryRunAll) }, Timeout, Interval).Should(Succeed())
		})

		It("refuses an s3 credentials Secret the user may not get, naming the Secret, and accepts it once they may", func(ctx SpecContext) {
			grant(ctx, ns, "alice", "create-jobs", rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}})
			alice := clientAs("alice")
			exp := builder.MakeExperiment("e", ns).Values("lr", "0.1").Obj()
			exp.Spec.Artifacts = s3Artifacts("creds")
			Eventually(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, Timeout, Interval).
				Should(MatchError(And(
					ContainSubstring("spec.artifacts.s3.credentialsSecret.name"),
					ContainSubstring(`user "alice" may not get secret "creds" in namespace `+ns))))

			By("granting get on another Secret only")
			grant(ctx, ns, "alice", "get-other", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
				ResourceNames: []string{"other"}, Verbs: []string{"get"}})
			Consistently(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, ConsistentlyDuration, Interval).
				Should(MatchError(ContainSubstring(`may not get secret "creds"`)))

			By("granting get on that Secret")
			grant(ctx, ns, "alice", "get-creds", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
				ResourceNames: []string{"creds"}, Verbs: []string{"get"}})
			Eventually(ctx, func() error { return alice.Create(ctx, exp, client.DryRunAll) }, Timeout, Interval).Should(Succeed())
		})

		It("lets a user who may not create Jobs change an Experiment's metadata, not its spec", func(ctx SpecContext) {
			exp := builder.MakeExperiment("e", ns).Values("lr", "0.1").Obj()
			Expect(k8sClient.Create(ctx, exp)).To(Succeed())
			alice := clientAs("alice")

			By("refusing a spec change: parallelism decides how many Jobs run")
			Eventually(ctx, func() error {
				got := &crucible.Experiment{}
				if err := alice.Get(ctx, client.ObjectKeyFromObject(exp), got); err != nil {
					return err
				}
				got.Spec.Parallelism = 4
				return alice.Update(ctx, got)
			}, Timeout, Interval).Should(MatchError(ContainSubstring("may not create jobs.batch")))

			By("accepting a new label")
			Eventually(ctx, func() error {
				got := &crucible.Experiment{}
				if err := alice.Get(ctx, client.ObjectKeyFromObject(exp), got); err != nil {
					return err
				}
				got.Labels = map[string]string{"team": "vision"}
				return alice.Update(ctx, got)
			}, Timeout, Interval).Should(Succeed())
		})
	})

	Describe("Pod Security Standards for the pod template", func() {
		// Each case breaks one check; level is the lowest Pod Security
		// level that forbids it.
		DescribeTable("refuses what the namespace's level forbids, holding an unlabelled namespace to restricted",
			func(ctx SpecContext, mutate func(*corev1.PodTemplateSpec), level, wantField, wantMessage string) {
				template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: crucible.TrainerContainerName},
					{Name: "sidecar", Image: pinnedImage},
				}}}
				mutate(&template)
				for _, label := range []string{"", "restricted", "baseline", "privileged"} {
					ns := newNamespaceLabelled(ctx, label)
					exp := builder.MakeExperiment("psa", ns).PodTemplate(template).Obj()
					err := k8sClient.Create(ctx, exp, client.DryRunAll)
					forbidden := label == "" || label == "restricted" || (label == "baseline" && level == "baseline")
					if !forbidden {
						Expect(err).NotTo(HaveOccurred(), "under enforce=%s", label)
						continue
					}
					Expect(err).To(HaveOccurred(), "under enforce=%q", label)
					Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a pod security refusal is Forbidden: %v", err)
					Expect(err.Error()).To(ContainSubstring(wantField+": "), "under enforce=%q", label)
					Expect(err.Error()).To(ContainSubstring(`Pod Security Standard "%s" %s`, level, wantMessage), "under enforce=%q", label)
					if label == "" {
						Expect(err.Error()).To(ContainSubstring("has no pod-security.kubernetes.io/enforce label"))
					} else {
						Expect(err.Error()).To(ContainSubstring("enforces pod-security.kubernetes.io/enforce=" + label))
					}
				}
			},
			Entry("a privileged container", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}, "baseline", "spec.podTemplate.spec.containers[0].securityContext.privileged", "forbids privileged containers"),
			Entry("hostNetwork", func(t *corev1.PodTemplateSpec) {
				t.Spec.HostNetwork = true
			}, "baseline", "spec.podTemplate.spec.hostNetwork", "forbids sharing the node's network"),
			Entry("hostPID", func(t *corev1.PodTemplateSpec) {
				t.Spec.HostPID = true
			}, "baseline", "spec.podTemplate.spec.hostPID", "forbids sharing the node's network, PID or IPC namespace"),
			Entry("a hostPath volume of the node's root", func(t *corev1.PodTemplateSpec) {
				t.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
				t.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "root", MountPath: "/host"}}
			}, "baseline", "spec.podTemplate.spec.volumes[0].hostPath", "forbids hostPath volumes"),
			Entry("an added capability SYS_ADMIN", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"CHOWN", "SYS_ADMIN"}}}
			}, "baseline", "spec.podTemplate.spec.containers[1].securityContext.capabilities.add: SYS_ADMIN", "allows adding only AUDIT_WRITE"),
			Entry("a host port", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 80}}
			}, "baseline", "spec.podTemplate.spec.containers[1].ports[0].hostPort", "forbids host ports"),
			Entry("a probe with a host of its own", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[1].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Host: "169.254.169.254", Port: intstr.FromInt32(80)}}}
			}, "baseline", "spec.podTemplate.spec.containers[1].livenessProbe.httpGet.host", "forbids probes and lifecycle hooks with a host"),
			Entry("an unconfined seccomp profile", func(t *corev1.PodTemplateSpec) {
				t.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
			}, "baseline", "spec.podTemplate.spec.securityContext.seccompProfile.type", "allows only the RuntimeDefault and Localhost seccomp profiles"),
			Entry("an unconfined AppArmor profile", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}
			}, "baseline", "spec.podTemplate.spec.containers[0].securityContext.appArmorProfile.type", "allows only the RuntimeDefault and Localhost AppArmor profiles"),
			Entry("an unconfined AppArmor annotation", func(t *corev1.PodTemplateSpec) {
				t.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/trainer": "unconfined"}
			}, "baseline", "spec.podTemplate.metadata.annotations[container.apparmor.security.beta.kubernetes.io/trainer]", "allows only the RuntimeDefault and Localhost AppArmor profiles"),
			Entry("an SELinux type override", func(t *corev1.PodTemplateSpec) {
				t.Spec.SecurityContext = &corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t"}}
			}, "baseline", "spec.podTemplate.spec.securityContext.seLinuxOptions", "forbids an SELinux user or role, and types other than"),
			Entry("an unmasked /proc", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}
			}, "baseline", "spec.podTemplate.spec.containers[0].securityContext.procMount", "forbids an unmasked /proc outside a user namespace"),
			Entry("an unsafe sysctl", func(t *corev1.PodTemplateSpec) {
				t.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}}
			}, "baseline", "spec.podTemplate.spec.securityContext.sysctls[0].name: kernel.msgmax", "allows only the safe sysctls"),
			Entry("runAsNonRoot: false", func(t *corev1.PodTemplateSpec) {
				t.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)}
			}, "restricted", "spec.podTemplate.spec.securityContext.runAsNonRoot", "forbids runAsNonRoot: false"),
			Entry("runAsUser: 0 in a container", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
			}, "restricted", "spec.podTemplate.spec.containers[1].securityContext.runAsUser", "forbids runAsUser: 0"),
			Entry("allowPrivilegeEscalation: true in an init container", func(t *corev1.PodTemplateSpec) {
				t.Spec.InitContainers = []corev1.Container{{Name: "fetch", Image: pinnedImage,
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}}}
			}, "restricted", "spec.podTemplate.spec.initContainers[0].securityContext.allowPrivilegeEscalation", "forbids allowPrivilegeEscalation: true"),
			Entry("an added capability of the baseline set", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "CHOWN"}}}
			}, "restricted", "spec.podTemplate.spec.containers[0].securityContext.capabilities.add: CHOWN", "allows adding only NET_BIND_SERVICE"),
			Entry("capabilities dropped without ALL", func(t *corev1.PodTemplateSpec) {
				t.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}
			}, "restricted", "spec.podTemplate.spec.containers[1].securityContext.capabilities.drop", "requires dropping ALL capabilities"),
			Entry("an nfs volume", func(t *corev1.PodTemplateSpec) {
				t.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/exports"}}}}
			}, "restricted", "spec.podTemplate.spec.volumes[0].nfs", "allows only configMap, csi"),
		)

		It("accepts a template that leaves the security fields unset, or sets them to restricted values", func(ctx SpecContext) {
			ns := newNamespaceLabelled(ctx, "")
			exp := builder.MakeExperiment("restricted", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				SecurityContext: &corev1.PodSecurityContext{
					RunAsNonRoot:   ptr.To(true),
					RunAsUser:      ptr.To[int64](1000),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}},
				},
				Containers: []corev1.Container{
					{Name: crucible.TrainerContainerName, VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}},
					{Name: "sidecar", Image: pinnedImage, SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false),
						Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
						AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault},
						SELinuxOptions:           &corev1.SELinuxOptions{Type: "container_t", Level: "s0:c1,c2"},
					}},
				},
				Volumes: []corev1.Volume{
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "weights", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: pinnedImage}}},
					{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: "train-config"}}}},
				},
			}}).Obj()
			Expect(k8sClient.Create(ctx, exp, client.DryRunAll)).To(Succeed())
		})

		It("allows root in a user namespace (hostUsers: false) under restricted", func(ctx SpecContext) {
			ns := newNamespaceLabelled(ctx, "restricted")
			exp := builder.MakeExperiment("userns", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				HostUsers:       ptr.To(false),
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false), RunAsUser: ptr.To[int64](0)},
				Containers:      []corev1.Container{{Name: crucible.TrainerContainerName}},
			}}).Obj()
			Expect(k8sClient.Create(ctx, exp, client.DryRunAll)).To(Succeed())
		})
	})

	Describe("pinned images in the pod template", func() {
		var ns string
		BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

		It("refuses an image volume by tag", func(ctx SpecContext) {
			exp := builder.MakeExperiment("e", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: crucible.TrainerContainerName}},
				Volumes: []corev1.Volume{
					{Name: "pinned", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: pinnedImage}}},
					{Name: "weights", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "ghcr.io/acme/weights:v1"}}},
				},
			}}).Obj()
			Expect(k8sClient.Create(ctx, exp, client.DryRunAll)).To(MatchError(And(
				ContainSubstring("spec.podTemplate.spec.volumes[1].image.reference: "),
				ContainSubstring("every image volume in podTemplate must be pinned by digest"))))
		})

		It("refuses an ephemeral container by tag, and a pinned one because a Job's template cannot have any", func(ctx SpecContext) {
			byTag := builder.MakeExperiment("e", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: crucible.TrainerContainerName}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Image: "busybox:latest"}}},
			}}).Obj()
			// Two policies refuse it, and the API server reports the first
			// it evaluated, in no fixed order between policies.
			Expect(k8sClient.Create(ctx, byTag, client.DryRunAll)).To(MatchError(And(
				ContainSubstring("spec.podTemplate.spec.ephemeralContainers"),
				Or(ContainSubstring("spec.podTemplate.spec.ephemeralContainers[0].image: every ephemeral container image in podTemplate must be pinned by digest"),
					ContainSubstring("the API server refuses ephemeral containers in a Job's pod template")))))

			pinned := byTag.DeepCopy()
			pinned.Spec.PodTemplate.Spec.EphemeralContainers[0].Image = pinnedImage
			Expect(k8sClient.Create(ctx, pinned, client.DryRunAll)).To(MatchError(
				ContainSubstring("spec.podTemplate.spec.ephemeralContainers: the API server refuses ephemeral containers in a Job's pod template")))
		})
	})

	Describe("templates the operator or the API server could not run", func() {
		var ns string
		BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

		trainerWith := func(c corev1.Container) corev1.PodTemplateSpec {
			c.Name = crucible.TrainerContainerName
			return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
		}

		DescribeTable("refuses it at creation, naming the field and what to do",
			func(ctx SpecContext, mutate func(*crucible.Experiment), wantField, wantMessage string) {
				exp := builder.MakeExperiment("e", ns).Values("lr", "0.1").Obj()
				mutate(exp)
				err := k8sClient.Create(ctx, exp, client.DryRunAll)
				Expect(err).To(HaveOccurred(), "the API server accepted it")
				Expect(err.Error()).To(ContainSubstring(wantField))
				Expect(err.Error()).To(ContainSubstring(wantMessage))
			},
			Entry("spec.resources requesting more than its limit", func(e *crucible.Experiment) {
				e.Spec.Resources = &corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2000m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				}
			}, "spec.resources.requests[cpu]: 4 is above limits[cpu]: 2", "a request may not exceed its limit; lower the request or raise the limit"),
			Entry("a sidecar requesting more than its limit", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: crucible.TrainerContainerName},
					{Name: "sidecar", Image: pinnedImage, Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1536Mi")},
					}},
				}}}
			}, "spec.podTemplate.spec.containers[1].resources.requests[memory]: 2Gi is above limits[memory]: 1536Mi", "a request may not exceed its limit"),
			Entry("a GPU requested without a limit", func(e *crucible.Experiment) {
				e.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}
			}, "spec.resources.requests[nvidia.com/gpu]", "needs a limit equal to its request; set only limits"),
			Entry("a volume named like the dataset's", func(e *crucible.Experiment) {
				t := trainerWith(corev1.Container{})
				t.Spec.Volumes = []corev1.Volume{{Name: "crucible-dataset", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.volumes[0].name: crucible-dataset", "the operator adds the volumes crucible-dataset and crucible-artifacts itself; rename the volume"),
			Entry("a volume named like the artifact store's", func(e *crucible.Experiment) {
				t := trainerWith(corev1.Container{})
				t.Spec.Volumes = []corev1.Volume{
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "crucible-artifacts", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				}
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.volumes[1].name: crucible-artifacts", "rename the volume"),
			Entry("a trainer mount at the dataset's mountPath", func(e *crucible.Experiment) {
				e.Spec.Dataset = builder.MakeExperiment("x", "y").PVCDataset("datasets", "cifar", "/data").Obj().Spec.Dataset
				t := trainerWith(corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/data/"}}})
				t.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.containers[0].volumeMounts[0].mountPath: /data/", "the operator mounts the dataset at spec.dataset.mountPath in the trainer; mount this volume at another path, or change spec.dataset.mountPath"),
			Entry("a trainer mount at /artifacts with a claim for artifacts", func(e *crucible.Experiment) {
				e.Spec.Artifacts = &crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "out"}}
				t := trainerWith(corev1.Container{VolumeMounts: []corev1.VolumeMount{
					{Name: "scratch", MountPath: "/scratch"}, {Name: "out", MountPath: crucible.ArtifactsMountPath}}})
				t.Spec.Volumes = []corev1.Volume{
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				}
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.containers[0].volumeMounts[1].mountPath: /artifacts", "the operator mounts the artifact store at /artifacts in the trainer"),
			Entry("a sidecar without an image", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: crucible.TrainerContainerName}, {Name: "logger"}}}}
			}, "spec.podTemplate.spec.containers[1].image", `only the trainer container takes its image from spec.image; give this container an image pinned by digest, or name it "trainer"`),
			Entry("two trainer containers (the CRD's list of containers is keyed by name)", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: crucible.TrainerContainerName}, {Name: crucible.TrainerContainerName, Image: pinnedImage}}}}
			}, "spec.podTemplate.spec.containers[1]", "Duplicate value"),
			Entry("an init container named trainer", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: crucible.TrainerContainerName, Image: pinnedImage}},
					Containers:     []corev1.Container{{Name: "sidecar", Image: pinnedImage}}}}
			}, `spec.podTemplate.spec: container name "trainer" is used more than once`, "the operator adds the trainer container"),
			Entry("an init container and a sidecar of one name", func(e *crucible.Experiment) {
				e.Spec.PodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "fetch", Image: pinnedImage}},
					Containers:     []corev1.Container{{Name: crucible.TrainerContainerName}, {Name: "fetch", Image: pinnedImage}}}}
			}, `spec.podTemplate.spec: container name "fetch" is used more than once`, "give every container a name of its own"),
			Entry("CRUCIBLE_SEED in spec.env (the CRD refuses it)", func(e *crucible.Experiment) {
				e.Spec.Env = []crucible.EnvVar{{Name: crucible.EnvSeed, Value: "0"}}
			}, "spec.env[0].name", "names starting with CRUCIBLE_ are set by the operator"),
			Entry("CRUCIBLE_SEED in the trainer's template env", func(e *crucible.Experiment) {
				t := trainerWith(corev1.Container{Env: []corev1.EnvVar{{Name: "WANDB_PROJECT", Value: "x"}, {Name: crucible.EnvSeed, Value: "0"}}})
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.containers[0].env[1].name: CRUCIBLE_SEED", "variables named CRUCIBLE_* are set by the operator; rename the variable"),
			Entry("AWS_ACCESS_KEY_ID in spec.env with an s3 artifact store", func(e *crucible.Experiment) {
				e.Spec.Artifacts = s3Artifacts("creds")
				e.Spec.Env = []crucible.EnvVar{{Name: "EPOCHS", Value: "3"}, {Name: crucible.SecretKeyAccessKeyID, Value: "AKIA"}}
			}, "spec.env[1].name: AWS_ACCESS_KEY_ID", "variables named CRUCIBLE_* or AWS_* are set by the operator (AWS_* for the s3 artifact store); rename the variable"),
			Entry("AWS_ACCESS_KEY_ID in the trainer's template env with an s3 artifact store", func(e *crucible.Experiment) {
				e.Spec.Artifacts = s3Artifacts("creds")
				t := trainerWith(corev1.Container{Env: []corev1.EnvVar{{Name: crucible.SecretKeyAccessKeyID, ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}, Key: "id"}}}}})
				e.Spec.PodTemplate = &t
			}, "spec.podTemplate.spec.containers[0].env[0].name: AWS_ACCESS_KEY_ID", "are set by the operator (AWS_* for the s3 artifact store)"),
		)

		It("accepts a template that leaves room for what the operator adds", func(ctx SpecContext) {
			exp := builder.MakeExperiment("room", ns).Values("lr", "0.1").PVCDataset("datasets", "cifar", "/data").
				Resources(corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("1")},
				}).
				Env("AWS_REGION", "eu-west-1"). // the user's own without an s3 store: say, to read a dataset
				PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "fetch", Image: pinnedImage}},
					Containers: []corev1.Container{
						{Name: crucible.TrainerContainerName, VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
							Env: []corev1.EnvVar{{Name: "AWS_PROFILE", Value: "datasets"}}},
						{Name: "sidecar", Image: pinnedImage, Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), "nvidia.com/gpu": resource.MustParse("1")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), "nvidia.com/gpu": resource.MustParse("1")},
						}},
					},
					Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				}}).Obj()
			exp.Spec.Artifacts = &crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "out"}}
			Expect(k8sClient.Create(ctx, exp, client.DryRunAll)).To(Succeed())
		})
	})
})

// admissionPoliciesReady is set once the API server enforces
// crucible-experiment-permissions, -pod-security and -template.
var admissionPoliciesReady bool

// waitForAdmissionPolicies waits, once per suite, until the API server
// enforces crucible-experiment-permissions, -pod-security and -template: a
// new policy takes a moment to reach the API server's informer, and a spec
// that expects acceptance would otherwise pass for the wrong reason.
func waitForAdmissionPolicies(ctx context.Context) {
	if admissionPoliciesReady {
		return
	}
	GinkgoHelper()
	ns := newNamespace(ctx)
	bindExperimentEditor(ctx, ns, "policy-probe")
	probeUser := clientAs("policy-probe")
	Eventually(ctx, func() error {
		return probeUser.Create(ctx, builder.MakeExperiment("probe", ns).Obj(), client.DryRunAll)
	}, Timeout, Interval).Should(MatchError(ContainSubstring("may not create jobs.batch")), "crucible-experiment-permissions")

	privileged := builder.MakeExperiment("probe", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostIPC: true,
		Containers: []corev1.Container{{Name: crucible.TrainerContainerName}}}}).Obj()
	Eventually(ctx, func() error { return k8sClient.Create(ctx, privileged, client.DryRunAll) }, Timeout, Interval).
		Should(MatchError(ContainSubstring("spec.podTemplate.spec.hostIPC")), "crucible-experiment-pod-security")

	reserved := builder.MakeExperiment("probe", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: crucible.TrainerContainerName}},
		Volumes:    []corev1.Volume{{Name: "crucible-dataset", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}).Obj()
	Eventually(ctx, func() error { return k8sClient.Create(ctx, reserved, client.DryRunAll) }, Timeout, Interval).
		Should(MatchError(ContainSubstring("spec.podTemplate.spec.volumes[0].name: crucible-dataset")), "crucible-experiment-template")
	admissionPoliciesReady = true
}

// clientAs returns a client that impersonates user. envtest's own user is
// in system:masters, which may impersonate anyone; the API server
// authorizes the impersonated user's requests by RBAC, and the policies'
// authorizer checks ask about that user too.
func clientAs(user string) client.Client {
	GinkgoHelper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// bindExperimentEditor binds the shipped experiment-editor-role
// (config/rbac) to user in ns, and nothing else.
func bindExperimentEditor(ctx context.Context, ns, user string) {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "experiment_editor_role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.Unmarshal(data, role)).To(Succeed())
	if err := k8sClient.Create(ctx, role); !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "experiment-editor-" + user, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

// grant gives user in ns the permissions of rules, by a Role named name.
func grant(ctx context.Context, ns, user, name string, rules ...rbacv1.PolicyRule) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules})).To(Succeed())
	Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

// newNamespaceLabelled creates a namespace whose Pod Security enforce label
// is level; none when level is empty.
func newNamespaceLabelled(ctx context.Context, level string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crucible-test-"}}
	if level != "" {
		ns.Labels = map[string]string{psaEnforce: level}
	}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// s3Artifacts is an s3 artifact store whose credentials are in secret.
func s3Artifacts(secret string) *crucible.ArtifactsSpec {
	return &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
		Endpoint: "s3.example:9000", Bucket: "runs", CredentialsSecret: crucible.SecretReference{Name: secret},
	}}
}
