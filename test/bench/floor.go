package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/naming"
	"github.com/crucible-dev/crucible/internal/searchspace"
	"github.com/crucible-dev/crucible/test/framework"
)

// floorCommand is the first argument that makes this binary the floor
// program: a plain client-go process that creates the Jobs of a sweep as fast
// as it can, with no rate limit, and nothing else.
const floorCommand = "floor"

// floorSpec is what the bench hands the floor program: the Job the operator
// built for one trial (the template), the Experiment (for every trial's
// name, parameters and seed), and the annotations of this run's pods.
type floorSpec struct {
	Template    *batchv1.Job         `json:"template"`
	Experiment  *crucible.Experiment `json:"experiment"`
	Annotations map[string]string    `json:"annotations"`
	Namespace   string               `json:"namespace"`
	Workers     int                  `json:"workers"`
	// Trials makes the program the floor with Trials (see trialFloor);
	// Experiment is then the created one, the Trials' owner.
	Trials bool `json:"trials,omitempty"`
}

// floorResult is the floor program's last line on stdout.
type floorResult struct {
	Created int     `json:"created"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
}

// templateFromJob turns a Job the operator created into a template: only
// what the operator wrote is kept (not what the API server and the Job
// controller added: uid, selector, controller-uid labels, status).
func templateFromJob(job *batchv1.Job) *batchv1.Job {
	t := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Labels:      job.Labels,
			Annotations: job.Annotations,
		},
		Spec: *job.Spec.DeepCopy(),
	}
	t.Spec.Selector = nil
	t.Spec.ManualSelector = nil
	for _, k := range []string{"controller-uid", "job-name", batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		delete(t.Spec.Template.Labels, k)
		delete(t.Labels, k)
	}
	return t
}

// jobsFor builds the floor's Jobs: for every trial of exp, the operator's
// Job for it, as the template shows it, with that trial's name, labels,
// index and CRUCIBLE_* values, and no owner.
func jobsFor(spec *floorSpec) ([]*batchv1.Job, error) {
	exp := spec.Experiment
	space, err := searchspace.New(&exp.Spec)
	if err != nil {
		return nil, err
	}
	jobs := make([]*batchv1.Job, 0, space.Len())
	for i := range space.Len() {
		t, err := space.Trial(i)
		if err != nil {
			return nil, err
		}
		name := naming.TrialName(exp.Name, t.Parameters, t.Seed)
		job := spec.Template.DeepCopy()
		job.Name, job.Namespace = name, spec.Namespace
		for _, m := range []*map[string]string{&job.Labels, &job.Spec.Template.Labels} {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[crucible.ExperimentLabel] = exp.Name
			(*m)[crucible.TrialLabel] = name
		}
		for _, m := range []*map[string]string{&job.Annotations, &job.Spec.Template.Annotations} {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[crucible.TrialIndexAnnotation] = strconv.FormatInt(i, 10)
		}
		for k := range job.Spec.Template.Annotations {
			if strings.HasPrefix(k, "crucible.dev/e2e-") {
				delete(job.Spec.Template.Annotations, k)
			}
		}
		for k, v := range spec.Annotations {
			job.Spec.Template.Annotations[k] = v
		}
		values := map[string]string{
			crucible.EnvSeed:       strconv.FormatInt(t.Seed, 10),
			crucible.EnvTrial:      name,
			crucible.EnvExperiment: exp.Name,
		}
		for _, p := range t.Parameters {
			values[crucible.EnvParamPrefix+strings.ToUpper(p.Name)] = p.Value
		}
		found := false
		for ci := range job.Spec.Template.Spec.Containers {
			c := &job.Spec.Template.Spec.Containers[ci]
			if c.Name != crucible.TrainerContainerName {
				continue
			}
			found = true
			for ei := range c.Env {
				if v, ok := values[c.Env[ei].Name]; ok {
					c.Env[ei].Value = v
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("the template Job has no %q container", crucible.TrainerContainerName)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// runFloorProcess is the floor program: it builds its Jobs, makes one
// request so its connection is up (the manager's is too when its sweep is
// applied), prints "ready", waits for a line on stdin, creates every Job
// with spec.Workers concurrent creates, and prints a floorResult. With
// spec.Trials it is the floor with Trials instead, whose watches are synced
// before it prints "ready", and whose result's seconds run until every
// Trial's end is written.
func runFloorProcess(args []string) error {
	fs := flag.NewFlagSet(floorCommand, flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	specPath := fs.String("spec", "", "floorSpec JSON file")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*specPath)
	if err != nil {
		return err
	}
	spec := &floorSpec{}
	if err := json.Unmarshal(data, spec); err != nil {
		return fmt.Errorf("reading %s: %w", *specPath, err)
	}
	jobs, err := jobsFor(spec)
	if err != nil {
		return err
	}
	cfg, err := framework.Config(*kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Get(ctx, spec.Namespace, metav1.GetOptions{}); err != nil {
		return err
	}
	var tf *trialFloor
	if spec.Trials {
		if tf, err = newTrialFloor(ctx, cfg, cs, spec, jobs); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for go: %w", err)
	}

	var res floorResult
	if spec.Trials {
		res, err = tf.run(ctx)
	} else {
		start := time.Now()
		res.Created, res.Errors, err = createAll(ctx, len(jobs), spec.Workers, func(i int) error {
			_, err := cs.BatchV1().Jobs(spec.Namespace).Create(ctx, jobs[i], metav1.CreateOptions{})
			return err
		})
		res.Seconds = time.Since(start).Seconds()
		if err != nil {
			err = fmt.Errorf("created %d of %d Jobs: %w", res.Created, len(jobs), err)
		}
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return err
}

// createAll calls create for 0..n-1, workers at a time, retrying each up to
// 20 times (an AlreadyExists counts as created). It returns how many were
// created, how many attempts failed, and the last error when one of them
// could not be created.
func createAll(ctx context.Context, n, workers int, create func(i int) error) (created, failed int, err error) {
	var (
		next     atomic.Int64
		nCreated atomic.Int64
		nFailed  atomic.Int64
		wg       sync.WaitGroup
		errMu    sync.Mutex
		lastErr  error
	)
	for range max(1, workers) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				for attempt := 0; ; attempt++ {
					err := create(int(i))
					if err == nil || apierrors.IsAlreadyExists(err) {
						nCreated.Add(1)
						break
					}
					nFailed.Add(1)
					errMu.Lock()
					lastErr = err
					errMu.Unlock()
					if attempt >= 20 {
						return
					}
					time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if int(nCreated.Load()) != n {
		if lastErr == nil {
			lastErr = fmt.Errorf("stopped: %w", context.Cause(ctx))
		}
		return int(nCreated.Load()), int(nFailed.Load()), lastErr
	}
	return n, int(nFailed.Load()), nil
}
