package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
	"github.com/crucible-dev/crucible/test/framework"
)

// screenshotDir is where the browser tests leave their screenshots: every
// spec's page when it ends, so a failing spec leaves what it saw.
// E2E_SCREENSHOTS overrides it.
func screenshotDir() string {
	if d := os.Getenv("E2E_SCREENSHOTS"); d != "" {
		return d
	}
	return filepath.Join(framework.Root(), ".cluster", "e2e-screenshots")
}

// startDashboard runs the user's `kubectl crucible dashboard` on a free
// loopback port and returns its URL.
func startDashboard(ctx context.Context) string {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join(framework.Root(), "bin", "kubectl-crucible"),
		"dashboard", "--address", "127.0.0.1:0", "--kubeconfig", kubeconfig)
	stdout, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	cmd.Stderr = GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var url string
	Eventually(ctx, lines, 30*time.Second).Should(Receive(&url, HavePrefix("Dashboard: ")), "the dashboard did not print its URL")
	go func() {
		for range lines {
		}
	}()
	return strings.TrimPrefix(url, "Dashboard: ")
}

// newBrowser starts headless Chromium (hack/chromium.sh finds or installs
// it) and returns its context; each spec opens a tab of it.
func newBrowser() context.Context {
	GinkgoHelper()
	out, err := exec.Command("bash", filepath.Join(framework.Root(), "hack", "chromium.sh")).Output()
	Expect(err).NotTo(HaveOccurred(), "no Chromium: make chromium")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(strings.TrimSpace(string(out))), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(GinkgoT().TempDir()), chromedp.WindowSize(1400, 1100),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(actx)
	DeferCleanup(func() { cancelBrowser(); cancelAlloc() })
	Expect(chromedp.Do(browser)).To(Succeed(), "starting Chromium")
	return browser
}

var _ = Describe("The dashboard in a browser", Ordered, func() {
	var (
		ns      string
		exp     *crucible.Experiment
		url     string
		browser context.Context
		tab     context.Context
	)

	BeforeAll(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		// The demo's sweep: a 3 x 4 grid; the simulated trainer makes
		// lr=0.01 depth=4 best.
		exp = builder.MakeExperiment("demo", ns).Values("lr", "0.1", "0.01", "0.001").IntRange("depth", 2, 8, 2).
			Seeds(baseSeed, 1).Parallelism(4).Obj()
		Expect(k8sClient.Create(ctx, exp)).To(Succeed())
		exp = waitForEnd(ctx, key(ns, exp.Name), crucible.ExperimentSucceeded, Timeout)
		url = startDashboard(ctx)
		browser = newBrowser()
		Expect(os.MkdirAll(screenshotDir(), 0o755)).To(Succeed())
	}, NodeTimeout(3*time.Minute))

	BeforeEach(func() {
		var cancel context.CancelFunc
		tab, cancel = chromedp.NewContext(browser)
		// Open the tab with no deadline: it lives as long as the context of
		// its first run.
		Expect(chromedp.Do(tab)).To(Succeed())
		DeferCleanup(func() {
			// Every spec leaves its last page; a failing one, what it saw.
			name := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(CurrentSpecReport().LeafNodeText), "-")
			sctx, stop := context.WithTimeout(tab, 20*time.Second)
			shot, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: a PNG
			stop()
			if err == nil {
				path := filepath.Join(screenshotDir(), strings.Trim(name, "-")+".png")
				_ = os.WriteFile(path, shot, 0o644)
				AddReportEntry("screenshot", path)
			}
			cancel()
		})
	})

	experimentPage := func() string { return url + "namespaces/" + ns + "/experiments/" + exp.Name }

	It("shows the Experiment: 12 trials, the best on top, one line per trial in the parallel coordinates", func() {
		Expect(chromedp.Do(withTimeout(tab, time.Minute),
			chromedp.Navigate(experimentPage()),
			chromedp.WaitVisible(chromedp.CSS(`#parallel[data-lines="12"]`)),
		)).To(Succeed())
		rows := evaluate[[]string](tab, `[...document.querySelectorAll('#leaderboard tbody tr[data-trial]')].map(r => r.dataset.trial)`)
		Expect(rows).To(HaveLen(12))
		Expect(rows[0]).To(Equal(exp.Status.BestTrial.Name), "the best trial first")
		Expect(evaluate[int](tab, `document.querySelectorAll('#scatters .scatter[data-points="12"]').length`)).To(Equal(2), "a scatter per parameter")
	})

	It("filters the table when an axis of the plot is brushed", func() {
		Expect(chromedp.Do(withTimeout(tab, time.Minute),
			chromedp.Navigate(experimentPage()),
			chromedp.WaitVisible(chromedp.CSS(`#parallel[data-lines="12"]`)),
		)).To(Succeed())
		// Dragging along the depth axis over 4 selects the 3 trials with
		// depth 4, as the chart's own brush does.
		evaluate[any](tab, `crucible.brush('depth', 3.5, 4.5)`)
		Expect(chromedp.Do(withTimeout(tab, 10*time.Second), chromedp.WaitVisible(chromedp.CSS(`#parallel[data-visible="3"]`)))).To(Succeed())
		visible := evaluate[[]string](tab, `[...document.querySelectorAll('#leaderboard tbody tr[data-trial]')].filter(r => r.offsetParent !== null).map(r => r.querySelector('td[data-param="depth"]').textContent.trim())`)
		Expect(visible).To(Equal([]string{"4", "4", "4"}))
	})

	It("compares two selected trials and shows only what differs", func() {
		Expect(chromedp.Do(withTimeout(tab, time.Minute),
			chromedp.Navigate(experimentPage()),
			chromedp.WaitVisible(chromedp.CSS(`#compare-form`)),
			// The best two: lr=0.01 with depth 4, then depth 2 or 6.
			chromedp.Click(chromedp.CSS(`#leaderboard tbody tr[data-rank="1"] input[name=trial]`)),
			chromedp.Click(chromedp.CSS(`#leaderboard tbody tr[data-rank="2"] input[name=trial]`)),
			chromedp.Click(chromedp.CSS(`#compare-button`)),
			chromedp.WaitVisible(chromedp.CSS(`#diff-only`)),
			chromedp.Click(chromedp.CSS(`#diff-only`)),
			chromedp.WaitVisible(chromedp.CSS(`#diff-only[data-diff="1"]`)),
		)).To(Succeed())
		rows := evaluate[[]string](tab, `[...document.querySelectorAll('#compare tr[data-field]')].map(r => r.dataset.section + '/' + r.dataset.field + '/' + r.dataset.differs)`)
		Expect(rows).NotTo(BeEmpty())
		for _, r := range rows {
			Expect(r).To(HaveSuffix("/true"), "differences only, but %s is shown", r)
		}
		var params []string
		for _, r := range rows {
			if strings.HasPrefix(r, "parameters/") {
				params = append(params, strings.Split(r, "/")[1])
			}
		}
		Expect(params).To(Equal([]string{"depth"}), "the two differ only in depth")
	})

	It("shows a trial's seed and the digest of what it ran", func() {
		best := &crucible.Trial{}
		Expect(k8sClient.Get(context.Background(), key(ns, exp.Status.BestTrial.Name), best)).To(Succeed())
		var seed, digest string
		Expect(chromedp.Do(withTimeout(tab, time.Minute),
			chromedp.Navigate(url+"namespaces/"+ns+"/trials/"+best.Name),
			chromedp.WaitVisible(chromedp.CSS(`#trial-seed`)),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				var err error
				if seed, err = chromedp.Text(chromedp.CSS(`#trial-seed`))(ctx, t); err != nil {
					return err
				}
				digest, err = chromedp.Text(chromedp.CSS(`#trial-digest`))(ctx, t)
				return err
			}),
		)).To(Succeed())
		Expect(strings.TrimSpace(seed)).To(Equal(fmt.Sprint(best.Spec.Seed)))
		Expect(strings.TrimSpace(digest)).To(Equal(best.Spec.ExperimentDigest))
	})
})

// evaluate runs a JavaScript expression in the tab and returns its value.
func evaluate[T any](tab context.Context, expression string) T {
	GinkgoHelper()
	v, err := chromedp.Run(withTimeout(tab, 20*time.Second), chromedp.Evaluate[T](expression))
	Expect(err).NotTo(HaveOccurred(), "evaluating %s", expression)
	return v
}

// withTimeout bounds one step in a tab that has run before (chromedp's
// rule: never time out the first run of a context, which starts it).
func withTimeout(tab context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(tab, d)
	DeferCleanup(cancel)
	return ctx
}
