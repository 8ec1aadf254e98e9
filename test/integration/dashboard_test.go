package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/dashboard"
	"github.com/crucible-dev/crucible/test/builder"
)

// serveDashboard runs the dashboard with cfg's credentials on a free
// loopback port until the spec ends, and returns its URL.
func serveDashboard(cfg *rest.Config) string {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- dashboard.Serve(ctx, cfg, dashboard.Options{Address: "127.0.0.1:0", Listening: func(u string) { urls <- u }})
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done, Timeout).Should(Receive(BeNil()))
	})
	var url string
	Eventually(urls, Timeout).Should(Receive(&url))
	return url
}

func getPage(url string) (int, string) {
	GinkgoHelper()
	resp, err := http.Get(url)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

func createEndedTrial(ctx context.Context, exp *crucible.Experiment, i int64, objective string) {
	GinkgoHelper()
	t := builder.MakeTrial(exp, fmt.Sprintf("%s-%012d", exp.Name, i)).Index(i).Seed(7).Param("lr", fmt.Sprint(i)).Obj()
	t.UID = ""
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
	t.Status = crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: objective, Metrics: map[string]string{"val_loss": objective}}
	Expect(k8sClient.Status().Update(ctx, t)).To(Succeed())
}

var _ = Describe("The dashboard against the API server", func() {
	It("caches an Experiment's trials and keeps them current by a watch", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		exp := builder.MakeExperiment("sweep", ns).Values("lr", "1", "2", "3", "4").Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		for i := range int64(3) {
			createEndedTrial(ctx, exp, i, fmt.Sprintf("0.%d", 5+i))
		}
		page := serveDashboard(cfg) + "namespaces/" + ns + "/experiments/sweep"

		code, body := getPage(page)
		Expect(code).To(Equal(http.StatusOK), body)
		Expect(strings.Count(body, "data-trial=")).To(Equal(3))

		By("showing a trial that ended after the first page, from the watch")
		createEndedTrial(ctx, exp, 3, "0.1")
		Eventually(func() int {
			_, body := getPage(page)
			return strings.Count(body, "data-trial=")
		}, Timeout, Interval).Should(Equal(4))
		_, body = getPage(page)
		Expect(body).To(MatchRegexp(`data-trial="sweep-000000000003"[^>]*data-rank="1"|data-rank="1"[^>]*data-trial="sweep-000000000003"`), "the new best on top")
	})

	It("refuses a user who may not list trials with a page that names the permission", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		exp := builder.MakeExperiment("sweep", ns).Values("lr", "1").Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		name := "bob-" + ns
		user, err := testEnv.AddUser(envtest.User{Name: name}, nil)
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"crucible.dev"}, Resources: []string{"experiments"}, Verbs: []string{"get", "list", "watch"}}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
		})).To(Succeed())
		page := serveDashboard(user.Config()) + "namespaces/" + ns + "/experiments/sweep"

		Eventually(func(g Gomega) {
			code, body := getPage(page)
			g.Expect(code).To(Equal(http.StatusForbidden))
			g.Expect(body).To(ContainSubstring("list trials.crucible.dev in namespace " + ns))
		}, Timeout, Interval).Should(Succeed())
	})
})
