// Command dashboardbench measures the dashboard on an Experiment of 10,000
// trials (issue: the page in under 1 s of server time, rendered by Chromium
// in under 2 s, the dashboard under 200 MiB), against a baseline measured in
// the same run: one paged List of the same Trials straight from the API
// server, the least any page of them costs.
//
// It writes an Experiment and its Trials, ended, with metrics, into a new
// namespace of the local cluster (make dev-cluster; no operator needed: the
// Experiment is suspended and its status written here), starts the user's
// dashboard (bin/kubectl-crucible dashboard) as a process of its own, times
// the first load of the page (which lists the trials into the dashboard's
// cache), then for -rounds rounds the page and its plot data over HTTP and
// the page in headless Chromium until the parallel-coordinates plot has
// drawn a line per trial. It prints the medians, every round, and the
// ratios.
//
//	go run ./test/dashboardbench -kubeconfig .cluster/kubeconfig -n 10000
//
// make bench-dashboard runs it on the dev cluster.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/test/framework"
)

// Targets of the issue.
const (
	targetServer = time.Second
	targetRender = 2 * time.Second
	targetMemMiB = 200
)

type config struct {
	kubeconfig string
	n          int
	rounds     int
	dashboard  string
	chromium   string
	workers    int
	keep       bool
}

func main() {
	var c config
	root := framework.Root()
	flag.StringVar(&c.kubeconfig, "kubeconfig", filepath.Join(root, ".cluster", "kubeconfig"), "kubeconfig of the local cluster (make dev-cluster)")
	flag.IntVar(&c.n, "n", 10000, "trials of the Experiment (a square grid: lr × depth)")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds of each measurement; the report gives the median")
	flag.StringVar(&c.dashboard, "dashboard", filepath.Join(root, "bin", "kubectl-crucible"), "the kubectl-crucible binary (make build)")
	flag.StringVar(&c.chromium, "chromium", "", "Chromium binary; hack/chromium.sh finds or installs it when empty")
	flag.IntVar(&c.workers, "workers", 64, "concurrent writes while the Trials are created")
	flag.BoolVar(&c.keep, "keep", false, "keep the namespace afterwards, to look at the page by hand")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "dashboardbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s dashboardbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, c config) error {
	if c.chromium == "" {
		out, err := exec.CommandContext(ctx, "bash", filepath.Join(framework.Root(), "hack", "chromium.sh")).Output()
		if err != nil {
			return fmt.Errorf("finding Chromium (hack/chromium.sh): %w", err)
		}
		c.chromium = strings.TrimSpace(string(out))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	cl, err := client.New(cfg, client.Options{Scheme: framework.Scheme()})
	if err != nil {
		return err
	}
	if err := framework.Install(ctx, cl); err != nil {
		return fmt.Errorf("installing the CRDs: %w", err)
	}

	ns := "dashboard-bench-" + rand.String(6)
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if !c.keep {
		defer func() {
			_ = cl.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}()
	}
	start := time.Now()
	exp, err := writeSweep(ctx, cl, ns, c.n, c.workers)
	if err != nil {
		return err
	}
	logf("wrote Experiment %s/%s and %d Trials in %s", ns, exp.Name, c.n, time.Since(start).Round(time.Millisecond))

	// The baseline: one paged List of the Trials, as any page of them needs.
	var list []time.Duration
	for range c.rounds {
		t0 := time.Now()
		n, err := listTrials(ctx, cl, ns, exp.Name)
		if err != nil {
			return err
		}
		if n != c.n {
			return fmt.Errorf("listed %d Trials, want %d", n, c.n)
		}
		list = append(list, time.Since(t0))
	}

	d, err := startDashboard(ctx, c)
	if err != nil {
		return err
	}
	defer d.stop()
	pageURL := d.url + "namespaces/" + ns + "/experiments/" + exp.Name
	dataURL := pageURL + "/trials.json"
	// The first page of an Experiment lists its trials from the API server
	// into the dashboard's cache; later ones read the cache, kept current
	// by a watch.
	cold, _, err := get(ctx, pageURL)
	if err != nil {
		return err
	}
	var page, data []time.Duration
	var pageBytes, dataBytes int
	for range c.rounds {
		dt, size, err := get(ctx, pageURL)
		if err != nil {
			return err
		}
		page, pageBytes = append(page, dt), size
		if dt, size, err = get(ctx, dataURL); err != nil {
			return err
		}
		data, dataBytes = append(data, dt), size
	}

	render, err := renderTimes(ctx, c, pageURL)
	if err != nil {
		return err
	}
	memMiB, err := peakRSSMiB(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	report(c, list, cold, page, data, render, pageBytes, dataBytes, memMiB)
	return nil
}

// writeSweep writes a suspended Experiment of n trials and its Trials,
// every one succeeded with metrics, as the operator would have.
func writeSweep(ctx context.Context, cl client.Client, ns string, n, workers int) (*crucible.Experiment, error) {
	side := int(math.Ceil(math.Sqrt(float64(n))))
	exp := &crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "sweep", Namespace: ns},
		Spec: crucible.ExperimentSpec{
			Image: "ghcr.io/acme/train@sha256:4f53d8a0c1e2b3a4958677a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6",
			Parameters: []crucible.ParameterSpec{
				{Name: "lr", Float: &crucible.FloatRange{Min: "0.0001", Max: "1", Steps: int32(side), Scale: crucible.ScaleLog}},
				{Name: "depth", Int: &crucible.IntRange{Min: 1, Max: int64(side)}},
			},
			Seeds:     crucible.SeedSpec{Base: 1234, Replicas: 1},
			Objective: crucible.ObjectiveSpec{Metric: "val_loss", Goal: crucible.GoalMinimize},
			Suspend:   true,
		},
	}
	if err := cl.Create(ctx, exp); err != nil {
		return nil, err
	}
	type job struct{ i int }
	jobs := make(chan job)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	now := metav1.Now()
	bestLoss, bestName := math.Inf(1), ""
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lrIdx, depth := j.i/side, j.i%side+1
				lr := 0.0001 * math.Pow(10000, float64(lrIdx)/float64(max(side-1, 1)))
				params := []crucible.ParameterAssignment{
					{Name: "lr", Value: strconv.FormatFloat(lr, 'g', 6, 64)},
					{Name: "depth", Value: strconv.Itoa(depth)},
				}
				r := math.Log10(lr) + 2
				loss := r*r + 0.01*float64((depth-8)*(depth-8)) + 0.5
				t := &crucible.Trial{
					ObjectMeta: metav1.ObjectMeta{
						Name: naming.TrialName(exp.Name, params, 1234), Namespace: ns,
						Labels:          map[string]string{crucible.ExperimentLabel: exp.Name},
						OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(exp, crucible.GroupVersion.WithKind("Experiment"))},
					},
					Spec: crucible.TrialSpec{
						Index: int64(j.i), Parameters: params, Assignment: "lr=" + params[0].Value + " depth=" + params[1].Value,
						Seed: 1234, Image: exp.Spec.Image, ExperimentDigest: "sha256:" + strings.Repeat("ab", 32),
					},
				}
				if err := cl.Create(ctx, t); err != nil {
					errs <- err
					return
				}
				lossText := strconv.FormatFloat(loss, 'g', -1, 64)
				t.Status = crucible.TrialStatus{
					Phase: crucible.TrialSucceeded, StartTime: &now, CompletionTime: &now, JobName: t.Name,
					Metrics:   map[string]string{"val_loss": lossText, "accuracy": strconv.FormatFloat(1-loss/10, 'g', -1, 64)},
					Objective: lossText, Attempts: 1,
				}
				if err := cl.Status().Update(ctx, t); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if loss < bestLoss {
					bestLoss, bestName = loss, t.Name
				}
				mu.Unlock()
			}
		}()
	}
	var sendErr error
send:
	for i := range n {
		select {
		case jobs <- job{i}:
		case sendErr = <-errs:
			break send
		case <-ctx.Done():
			sendErr = ctx.Err()
			break send
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if sendErr == nil {
		sendErr = <-errs
	}
	if sendErr != nil {
		return nil, fmt.Errorf("writing the Trials: %w", sendErr)
	}
	// An operator running on the cluster may write the status too (it
	// counts the same trials): read, write, again on a conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(exp), exp); err != nil {
			return err
		}
		exp.Status = crucible.ExperimentStatus{
			Phase:          crucible.ExperimentSucceeded,
			Trials:         crucible.TrialCounts{Total: int32(n), Created: int32(n), Succeeded: int32(n)},
			BestTrial:      &crucible.BestTrial{Name: bestName, Objective: strconv.FormatFloat(bestLoss, 'g', -1, 64)},
			StartTime:      &now,
			CompletionTime: &now,
		}
		return cl.Status().Update(ctx, exp)
	})
	return exp, err
}

func listTrials(ctx context.Context, cl client.Client, ns, exp string) (int, error) {
	n, cont := 0, ""
	for {
		var page crucible.TrialList
		if err := cl.List(ctx, &page, client.InNamespace(ns), client.MatchingLabels{crucible.ExperimentLabel: exp},
			client.Limit(500), client.Continue(cont)); err != nil {
			return 0, err
		}
		n += len(page.Items)
		if cont = page.Continue; cont == "" {
			return n, nil
		}
	}
}

type dashboard struct {
	cmd *exec.Cmd
	url string
}

// startDashboard runs `kubectl crucible dashboard` on a free loopback port
// and waits until it answers.
func startDashboard(ctx context.Context, c config) (*dashboard, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.CommandContext(ctx, c.dashboard, "dashboard", "--address", addr, "--kubeconfig", c.kubeconfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(stdout)) }()
	d := &dashboard{cmd: cmd, url: "http://" + addr + "/"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.url)
		if err == nil {
			_ = resp.Body.Close()
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("the dashboard did not answer on %s within 30s: %w", d.url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *dashboard) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
	}
}

// get fetches url whole and returns how long it took: the server's time
// plus loopback.
func get(ctx context.Context, url string) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	dt := time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return dt, int(n), nil
}

// renderTimes opens the page in headless Chromium, rounds times, each in a
// new tab, until the parallel-coordinates plot has drawn a line per trial.
func renderTimes(ctx context.Context, c config, url string) ([]time.Duration, error) {
	dir, err := os.MkdirTemp("", "dashboardbench-chromium-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(c.chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(dir), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	browser, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		return nil, fmt.Errorf("starting Chromium %s: %w", c.chromium, err)
	}
	var out []time.Duration
	for range c.rounds {
		tab, cancelTab := chromedp.NewContext(browser)
		tctx, cancelT := context.WithTimeout(tab, time.Minute)
		t0 := time.Now()
		err := chromedp.Do(tctx,
			chromedp.Navigate(url),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#parallel[data-lines="%d"]`, c.n))))
		dt := time.Since(t0)
		cancelT()
		cancelTab()
		if err != nil {
			return nil, fmt.Errorf("rendering %s in Chromium: %w", url, err)
		}
		out = append(out, dt)
	}
	return out, nil
}

// peakRSSMiB is a process's peak resident set (VmHWM).
func peakRSSMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func rounds(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = ms(d)
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func report(c config, list []time.Duration, cold time.Duration, page, data, render []time.Duration, pageBytes, dataBytes int, memMiB float64) {
	base := median(list)
	fmt.Printf("\n## Dashboard, an Experiment of %d trials (%d rounds, medians)\n\n", c.n, c.rounds)
	fmt.Println("| measurement | median | × baseline | target | every round |")
	fmt.Println("|---|---:|---:|---|---|")
	fmt.Printf("| baseline: paged List of the Trials from the API server | %s | 1.00× | | %s |\n", ms(base), rounds(list))
	fmt.Printf("| experiment page, first load: lists the trials into the cache | %s | %.2f× | < 1 s: %s | one |\n",
		ms(cold), float64(cold)/float64(base), verdict(cold < targetServer))
	fmt.Printf("| experiment page, server time (%d KiB of HTML) | %s | %.2f× | < 1 s: %s | %s |\n",
		pageBytes/1024, ms(median(page)), float64(median(page))/float64(base), verdict(median(page) < targetServer), rounds(page))
	fmt.Printf("| plot data trials.json, server time (%d KiB) | %s | %.2f× | | %s |\n",
		dataBytes/1024, ms(median(data)), float64(median(data))/float64(base), rounds(data))
	fmt.Printf("| page rendered in Chromium, one line per trial drawn | %s | %.2f× | < 2 s: %s | %s |\n",
		ms(median(render)), float64(median(render))/float64(base), verdict(median(render) < targetRender), rounds(render))
	fmt.Printf("| dashboard peak RSS | %.0f MiB | | < %d MiB: %s | |\n", memMiB, targetMemMiB, verdict(memMiB < targetMemMiB))
}
