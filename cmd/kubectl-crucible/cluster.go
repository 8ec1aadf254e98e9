package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// pageSize is how many objects one List asks the API server for: the
// size kubectl get pages by (--chunk-size), which keeps each response a
// few MiB however many trials an Experiment has.
const pageSize = 500

// cluster is how the verbs reach the cluster: kubectl's connection flags,
// shared by every verb through the root command's persistent flags, and
// the clients made from them.
type cluster struct {
	// flags are kubectl's connection flags (--kubeconfig, --context,
	// -n/--namespace, ...).
	flags *genericclioptions.ConfigFlags
	// connect makes the clients. Tests replace it with fakes.
	connect func() (*clients, error)
	// now is the time, for ages and elapsed times. Tests fix it.
	now func() time.Time
}

// clients are the connections to one cluster.
type clients struct {
	// client reads and writes Crucible's objects (and watches them).
	client client.WithWatch
	// kube reads what controller-runtime's client cannot: Pod logs, and
	// events by field selector.
	kube kubernetes.Interface
	// namespace is the kubeconfig context's namespace, "" if it has none.
	namespace string
}

func newCluster(flags *genericclioptions.ConfigFlags) *cluster {
	c := &cluster{flags: flags, now: time.Now}
	c.connect = c.dial
	return c
}

// dial is connect for a real cluster: kubectl's kubeconfig rules
// (--kubeconfig, KUBECONFIG, ~/.kube/config, --context). Making the
// clients does not reach the server.
func (c *cluster) dial() (*clients, error) {
	cfg, err := c.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	ns, _, err := c.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return &clients{client: cl, kube: kube, namespace: ns}, nil
}

// newScheme knows Crucible's types and client-go's.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), crucible.AddToScheme(s)); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	return s, nil
}

// open connects and returns the clients and the namespace to work in: -n,
// else the kubeconfig's, else "default".
func (c *cluster) open() (*clients, string, error) {
	cs, err := c.connect()
	if err != nil {
		return nil, "", err
	}
	return cs, cmp.Or(*c.flags.Namespace, cs.namespace, metav1.NamespaceDefault), nil
}

// access is one request the verbs make, named as RBAC names it, so that a
// refusal says which permission is missing.
type access struct {
	verb     string // get, list, watch, patch
	resource string // "trials.crucible.dev", "pods/log", "events"
	// namespace is "" for every namespace (-A).
	namespace string
	name      string
}

// Resources as RBAC names them.
const (
	experimentsResource = "experiments.crucible.dev"
	trialsResource      = "trials.crucible.dev"
	podsResource        = "pods"
	podLogsResource     = "pods/log"
	eventsResource      = "events"
)

// explain turns err from the request into what a user can act on: a
// refusal names the verb and resource their RBAC lacks and the kubectl
// auth can-i line that checks it; other errors say what was being done.
func (a access) explain(err error) error {
	if err == nil {
		return nil
	}
	what := a.resource
	if a.name != "" {
		what += fmt.Sprintf(" %q", a.name)
	}
	where := fmt.Sprintf("in namespace %q", a.namespace)
	scope := "-n " + a.namespace
	if a.namespace == "" {
		where, scope = "in all namespaces", "-A"
	}
	switch {
	case apierrors.IsForbidden(err):
		resource, sub, _ := strings.Cut(a.resource, "/")
		canI := fmt.Sprintf("kubectl auth can-i %s %s %s", a.verb, resource, scope)
		if sub != "" {
			canI = fmt.Sprintf("kubectl auth can-i %s %s --subresource=%s %s", a.verb, resource, sub, scope)
		}
		return &forbiddenError{err: err, msg: fmt.Sprintf("you may not %s %s %s: your RBAC needs the verb %s on %s (%s)",
			a.verb, what, where, a.verb, a.resource, canI)}
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the cluster did not accept your credentials (%w): check your kubeconfig's user, or log in again", err)
	case apierrors.IsNotFound(err) && a.name != "":
		return &notFoundError{err: err, msg: fmt.Sprintf("%s %s not found %s", a.resource, a.name, where)}
	}
	return fmt.Errorf("%s %s %s: %w", a.verb, what, where, err)
}

// forbiddenError is a refusal by RBAC, explained; it wraps the API
// server's error, so apierrors.IsForbidden still holds.
type forbiddenError struct {
	err error
	msg string
}

func (e *forbiddenError) Error() string { return e.msg }
func (e *forbiddenError) Unwrap() error { return e.err }

// notFoundError is a named object that is not there, explained; it wraps
// the API server's error, so apierrors.IsNotFound still holds.
type notFoundError struct {
	err error
	msg string
}

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return e.err }

// exitError ends the command with an exit code other than 1, the code of
// every other error: diff's 1 (differences) and 2 (trouble), as diff(1)
// has them. A nil err prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit code of a command that returned err, and the
// error to print, nil for none.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code, e.err
	}
	return 1, err
}

// getExperiment reads an Experiment.
func getExperiment(ctx context.Context, c client.Client, ns, name string) (*crucible.Experiment, error) {
	exp := &crucible.Experiment{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, exp)
	return exp, access{verb: "get", resource: experimentsResource, namespace: ns, name: name}.explain(err)
}

// readTrial reads a Trial.
func readTrial(ctx context.Context, c client.Client, ns, name string) (*crucible.Trial, error) {
	trial := &crucible.Trial{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, trial)
	return trial, access{verb: "get", resource: trialsResource, namespace: ns, name: name}.explain(err)
}

// eachTrial lists the Trials of Experiment exp a page of pageSize at a
// time, by its crucible.dev/experiment label, and calls page with each
// page as it arrives; the page's Trials are not kept once page returns.
func eachTrial(ctx context.Context, c client.Client, ns, exp string, page func([]crucible.Trial) error) error {
	list := &crucible.TrialList{}
	opts := []client.ListOption{
		client.InNamespace(ns),
		client.MatchingLabels{crucible.ExperimentLabel: exp},
		client.Limit(pageSize),
	}
	for {
		if err := c.List(ctx, list, opts...); err != nil {
			return access{verb: "list", resource: trialsResource, namespace: ns}.explain(err)
		}
		if err := page(list.Items); err != nil {
			return err
		}
		next := list.Continue
		if next == "" {
			return nil
		}
		opts = append(opts[:3], client.Continue(next))
		list = &crucible.TrialList{}
	}
}
