package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// pluginRun is one run of the kubectl-crucible binary.
type pluginRun struct {
	Code           int
	Stdout, Stderr string
}

// runPlugin runs bin with args, with no kubeconfig but the one args name.
func runPlugin(ctx context.Context, bin string, args ...string) pluginRun {
	cmd := exec.CommandContext(ctx, bin, args...)
	// No ~/.kube/config or KUBECONFIG of the machine's.
	cmd.Env = []string{"HOME=" + filepath.Dir(bin), "PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = nil
	}
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "running %s", bin)
	return pluginRun{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errOut.String()}
}

var _ = Describe("The kubectl plugin against the API server", func() {
	It("names the permission a user lacks, and works with the user's own RBAC once a Role grants it", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		bin := filepath.Join(dir, "kubectl-crucible")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, filepath.Join("..", "..", "cmd", "kubectl-crucible"))
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build: %s", out)

		ns := newNamespace(ctx)
		exp := builder.MakeExperiment("sweep", ns).Values("lr", "0.1", "0.01").Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		trial := builder.MakeTrial(exp, "sweep-0123456789ab").Index(1).Seed(7).Param("lr", "0.01").Obj()
		trial.UID = ""
		Expect(k8sClient.Create(ctx, trial)).To(Succeed())
		trial.Status = crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: "0.231",
			Metrics: map[string]string{"val_loss": "0.231", "accuracy": "0.912"}}
		Expect(k8sClient.Status().Update(ctx, trial)).To(Succeed())

		// A user with no rights at all.
		user, err := testEnv.AddUser(envtest.User{Name: "alice-" + ns}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfigFile := filepath.Join(dir, "kubeconfig")
		Expect(os.WriteFile(kubeconfigFile, kubeconfig, 0o600)).To(Succeed())
		leaderboard := func() pluginRun {
			return runPlugin(ctx, bin, "leaderboard", "sweep", "-n", ns, "--kubeconfig", kubeconfigFile)
		}

		By("refusing a user without get on experiments, naming it")
		r := leaderboard()
		Expect(r.Code).To(Equal(1), "stdout %q, stderr %q", r.Stdout, r.Stderr)
		Expect(r.Stdout).To(BeEmpty())
		Expect(r.Stderr).To(Equal(`error: you may not get experiments.crucible.dev "sweep" in namespace "` + ns +
			`": your RBAC needs the verb get on experiments.crucible.dev (kubectl auth can-i get experiments.crucible.dev -n ` + ns + ")\n"))

		By("refusing a user with get on experiments but not list on trials, naming that")
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "crucible-reader", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"crucible.dev"}, Resources: []string{"experiments"}, Verbs: []string{"get"}}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "crucible-reader", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice-" + ns}},
		})).To(Succeed())
		Eventually(leaderboard, Timeout, Interval).Should(SatisfyAll(
			HaveField("Code", Equal(1)),
			HaveField("Stderr", Equal(`error: you may not list trials.crucible.dev in namespace "`+ns+
				`": your RBAC needs the verb list on trials.crucible.dev (kubectl auth can-i list trials.crucible.dev -n `+ns+")\n")),
		))

		By("working once the Role grants get and list on experiments and trials")
		role.Rules = []rbacv1.PolicyRule{{APIGroups: []string{"crucible.dev"}, Resources: []string{"experiments", "trials"}, Verbs: []string{"get", "list"}}}
		Expect(k8sClient.Update(ctx, role)).To(Succeed())
		Eventually(leaderboard, Timeout, Interval).Should(HaveField("Code", Equal(0)))
		r = leaderboard()
		Expect(r.Stderr).To(BeEmpty())
		Expect(r.Stdout).To(Equal("experiment " + ns + "/sweep: minimize val_loss; 1 of 1 trials succeeded\n" +
			"RANK   TRIAL                VAL_LOSS   PARAMETERS   SEED\n" +
			"1      sweep-0123456789ab   0.231      lr=0.01      7\n"))

		By("refusing a note without patch on trials, then writing it through the trial-record policy once granted")
		note := func() pluginRun {
			return runPlugin(ctx, bin, "note", "trial/sweep-0123456789ab", "best so far", "-n", ns, "--kubeconfig", kubeconfigFile)
		}
		r = note()
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(`you may not patch trials.crucible.dev "sweep-0123456789ab" in namespace "` + ns +
			`": your RBAC needs the verb patch on trials.crucible.dev`))
		role.Rules[0].Verbs = append(role.Rules[0].Verbs, "patch")
		Expect(k8sClient.Update(ctx, role)).To(Succeed())
		Eventually(note, Timeout, Interval).Should(HaveField("Stdout", Equal("trial.crucible.dev/sweep-0123456789ab annotated\n")))
		got := &crucible.Trial{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(trial), got)).To(Succeed())
		Expect(got.Annotations).To(HaveKeyWithValue("crucible.dev/note", "best so far"))
		Expect(got.Spec).To(Equal(trial.Spec))
		Expect(got.Status.Objective).To(Equal("0.231"))

		r = runPlugin(ctx, bin, "leaderboard", "sweep", "-n", ns, "--kubeconfig", kubeconfigFile, "-o", "wide")
		Expect(r.Code).To(Equal(0), r.Stderr)
		Expect(r.Stdout).To(ContainSubstring("accuracy=0.912 val_loss=0.231   best so far\n"))
	})
})
