package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/reproduce"
)

// pollInterval is how often --wait reads the reproduction: a trial runs
// for minutes, a second late is nothing.
const pollInterval = time.Second

// tolerancePattern is the pattern of spec.reproduces.tolerances[].absolute
// and .relative, checked here so that a typo is named by its flag rather
// than by the API server's schema path. A test checks it against the CRD.
const tolerancePattern = `^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`

var toleranceValue = regexp.MustCompile(tolerancePattern)

// trialKinds are the ways to say "a Trial" before the slash, as kubectl
// takes them: kind and resource, bare or with the group.
var trialKinds = []string{"trial", "trials", "trial.crucible.dev", "trials.crucible.dev"}

// reproduceOptions are the flags of reproduce, and how it reaches the
// cluster.
type reproduceOptions struct {
	// cluster is how to reach the cluster: kubectl's connection flags
	// (--kubeconfig, --context, -n/--namespace, ...), the root command's.
	cluster *cluster

	from          string
	key           string
	allowUnsigned bool
	name          string
	absolute      []string
	relative      []string
	output        string
	apply         bool
	wait          bool
	timeout       time.Duration

	// tolerances are absolute and relative, parsed and merged.
	tolerances []crucible.MetricTolerance
}

func newReproduceOptions(cl *cluster) *reproduceOptions {
	return &reproduceOptions{cluster: cl}
}

func newReproduceCommand(o *reproduceOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reproduce (trial/NAME | --from FILE)",
		Short: "Make the Experiment that runs a trial again and compares its metrics with the original's",
		Long: `Make a reproduction of a trial that succeeded: an Experiment whose
spec.reproduces records the original (its inputs digest, image, dataset
digest, seed, point and metrics), and which pins exactly the original's
inputs, runs them once and ends with a verdict in status.reproduction:
Identical, WithinTolerance, Differs or NotComparable.

The original is a Trial in the cluster (trial/NAME, in -n or the
kubeconfig's namespace), read with its Experiment; or a provenance record
(--from FILE, the .intoto.jsonl file the Trial's status.provenance.uri
names), for a trial whose Experiment is gone. A record's signature is
checked with --key, the operator's public key; without --key the command
refuses unless --allow-unsigned says to trust the record unchecked.

Without --apply the command prints the manifest, for kubectl apply -f - or
for review. With --apply it creates the Experiment, and with --wait it waits
for the verdict and prints it with each metric's comparison; the exit code
is then 1 unless the verdict is Identical or WithinTolerance.

Every metric must be equal unless --tolerance or --relative-tolerance allow
it to differ: by at most an absolute amount, or by at most a fraction of
the original's magnitude.`,
		Example: `  # Print the reproduction of a trial, for review
  kubectl crucible reproduce trial/resnet-sweep-0a1b2c3d4e5f -n ml

  # Create it, wait for the verdict, and allow the loss to differ by 0.1%
  kubectl crucible reproduce trial/resnet-sweep-0a1b2c3d4e5f --relative-tolerance loss=0.001 --apply --wait

  # Reproduce a trial from its signed provenance record, into namespace ml
  kubectl crucible reproduce --from resnet-sweep-0a1b2c3d4e5f.provenance.intoto.jsonl --key crucible.pub -n ml --apply`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return fmt.Errorf("want one trial, got %d arguments: kubectl crucible reproduce trial/NAME", len(args))
			case len(args) == 1 && o.from != "":
				return fmt.Errorf("reproduce either trial %s from the cluster or the record --from %s, not both", args[0], o.from)
			case len(args) == 0 && o.from == "":
				return errors.New("say which trial to reproduce: kubectl crucible reproduce trial/NAME, or --from FILE for a provenance record")
			}
			return nil
		},
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.complete(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "A trial's provenance record (.intoto.jsonl) to reproduce, instead of a Trial in the cluster.")
	f.StringVar(&o.key, "key", "", "With --from: the operator's ed25519 public key, PEM, to check the record's signature with.")
	f.BoolVar(&o.allowUnsigned, "allow-unsigned", false, "With --from and without --key: read the record without checking any signature.")
	f.StringVar(&o.name, "name", "", `The reproduction's name; "<experiment>-repro-<4 hex digits of the trial's UID>" if unset.`)
	f.StringArrayVar(&o.absolute, "tolerance", nil, "METRIC=ABS: the metric may differ from the original's by at most ABS, a non-negative decimal. Repeatable.")
	f.StringArrayVar(&o.relative, "relative-tolerance", nil, "METRIC=FRACTION: the metric may differ by at most FRACTION of the original's magnitude (0.01 is 1%). Repeatable.")
	f.StringVarP(&o.output, "output", "o", "yaml", `Format of the printed manifest: "yaml" or "json". Not with --apply.`)
	f.BoolVar(&o.apply, "apply", false, "Create the reproduction in the cluster instead of printing it.")
	f.BoolVar(&o.wait, "wait", false, "With --apply: wait for the verdict, print it, and exit 1 unless it is Identical or WithinTolerance.")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "With --wait: how long to wait for the verdict.")
	return cmd
}

// complete checks the flags against each other and parses the tolerances.
func (o *reproduceOptions) complete(cmd *cobra.Command) error {
	changed := cmd.Flags().Changed
	switch {
	case o.output != "yaml" && o.output != "json":
		return fmt.Errorf(`--output %q: want "yaml" or "json"`, o.output)
	case o.apply && changed("output"):
		return errors.New("--output formats the printed manifest; --apply creates it instead: pass one or the other")
	case o.wait && !o.apply:
		return errors.New("--wait waits for a reproduction it created: pass --apply too")
	case changed("timeout") && !o.wait:
		return errors.New("--timeout is how long --wait waits: pass --apply --wait too")
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	case o.from == "" && (o.key != "" || o.allowUnsigned):
		return errors.New("--key and --allow-unsigned check a provenance record: pass them with --from FILE")
	case o.from != "" && o.key == "" && !o.allowUnsigned:
		return errors.New("pass --key PUB.pem, the operator's public key, to check the record's signature (or --allow-unsigned to read it without checking)")
	}
	var err error
	o.tolerances, err = parseTolerances(o.absolute, o.relative)
	return err
}

func (o *reproduceOptions) run(ctx context.Context, out, errOut io.Writer, args []string) error {
	exp, c, err := o.build(ctx, errOut, args)
	if err != nil {
		return err
	}
	if !o.apply {
		return printManifest(out, exp, o.output)
	}
	return o.create(ctx, c, out, exp)
}

// build makes the reproduction. It connects to the cluster to read the
// trial there, or to create the reproduction of a record with --apply:
// the client is nil otherwise.
func (o *reproduceOptions) build(ctx context.Context, errOut io.Writer, args []string) (*crucible.Experiment, client.Client, error) {
	opts := reproduce.Options{Name: o.name, Tolerances: o.tolerances}
	if o.from == "" {
		name, err := trialName(args[0])
		if err != nil {
			return nil, nil, err
		}
		c, ns, err := o.connect()
		if err != nil {
			return nil, nil, err
		}
		original, trial, err := getTrial(ctx, c, ns, name)
		if err != nil {
			return nil, nil, err
		}
		exp, err := reproduce.FromTrial(original, trial, opts)
		return exp, c, err
	}
	// The record first: a refused signature says more than a missing
	// kubeconfig.
	rec, err := readRecord(ctx, o.from, o.key, errOut)
	if err != nil {
		return nil, nil, err
	}
	var c client.Client
	opts.Namespace = *o.cluster.flags.Namespace // empty: the record's
	if o.apply {
		if c, opts.Namespace, err = o.connect(); err != nil {
			return nil, nil, err
		}
	}
	exp, err := reproduce.FromRecord(rec, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.from, err)
	}
	return exp, c, nil
}

// connect returns a client and the namespace to work in: -n, else the
// kubeconfig's.
func (o *reproduceOptions) connect() (client.Client, string, error) {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return nil, "", err
	}
	return cs.client, ns, nil
}

// trialName is the name in "trial/NAME", "trials.crucible.dev/NAME" or a
// bare "NAME".
func trialName(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		name = arg
	} else if !slices.Contains(trialKinds, kind) {
		return "", fmt.Errorf("%q: only a trial can be reproduced: want trial/NAME (or %s/NAME)", arg, strings.Join(trialKinds[1:], "/NAME, "))
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: want trial/NAME, the name of a Trial", arg)
	}
	return name, nil
}

// getTrial reads a Trial and its Experiment: the Trial's controller, or
// the one its crucible.dev/experiment label names.
func getTrial(ctx context.Context, c client.Client, ns, name string) (*crucible.Experiment, *crucible.Trial, error) {
	trial := &crucible.Trial{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, trial); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("trial %s/%s not found (if it was deleted, reproduce it from its provenance record with --from FILE)", ns, name)
		}
		return nil, nil, fmt.Errorf("reading trial %s/%s: %w", ns, name, err)
	}
	expName := owningExperiment(trial)
	if expName == "" {
		return nil, nil, fmt.Errorf("trial %s/%s has no Experiment: no controller owner reference of kind Experiment, no %s label",
			ns, name, crucible.ExperimentLabel)
	}
	exp := &crucible.Experiment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: expName}, exp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("experiment %s/%s of trial %s not found (reproduce the trial from its provenance record with --from FILE)", ns, expName, name)
		}
		return nil, nil, fmt.Errorf("reading experiment %s/%s of trial %s: %w", ns, expName, name, err)
	}
	return exp, trial, nil
}

// owningExperiment is the name of a Trial's Experiment: its controller
// owner reference's, else its crucible.dev/experiment label's.
func owningExperiment(trial *crucible.Trial) string {
	if ref := metav1.GetControllerOf(trial); ref != nil && ref.Kind == "Experiment" {
		if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil && gv.Group == crucible.GroupVersion.Group {
			return ref.Name
		}
	}
	return trial.Labels[crucible.ExperimentLabel]
}

// parseTolerances merges --tolerance and --relative-tolerance into one
// tolerance per metric, sorted by metric.
func parseTolerances(absolute, relative []string) ([]crucible.MetricTolerance, error) {
	byMetric := map[string]*crucible.MetricTolerance{}
	add := func(flag, want, value string, field func(*crucible.MetricTolerance) *string) error {
		metric, v, ok := strings.Cut(value, "=")
		if !ok || metric == "" {
			return fmt.Errorf("--%s %q: want METRIC=%s", flag, value, want)
		}
		if !toleranceValue.MatchString(v) {
			return fmt.Errorf("--%s %q: %s must be a non-negative decimal, such as 0.01 or 1e-3", flag, value, want)
		}
		t := byMetric[metric]
		if t == nil {
			t = &crucible.MetricTolerance{Metric: metric}
			byMetric[metric] = t
		}
		p := field(t)
		if *p != "" {
			return fmt.Errorf("--%s %q: %s already has one (%s)", flag, value, metric, *p)
		}
		*p = v
		return nil
	}
	for _, v := range absolute {
		if err := add("tolerance", "ABS", v, func(t *crucible.MetricTolerance) *string { return &t.Absolute }); err != nil {
			return nil, err
		}
	}
	for _, v := range relative {
		if err := add("relative-tolerance", "FRACTION", v, func(t *crucible.MetricTolerance) *string { return &t.Relative }); err != nil {
			return nil, err
		}
	}
	var tolerances []crucible.MetricTolerance
	for _, t := range byMetric {
		tolerances = append(tolerances, *t)
	}
	slices.SortFunc(tolerances, func(a, b crucible.MetricTolerance) int { return cmp.Compare(a.Metric, b.Metric) })
	return tolerances, nil
}

// manifest is the printed Experiment: what kubectl apply needs and
// nothing more, no status and no empty metadata.
type manifest struct {
	APIVersion string                  `json:"apiVersion"`
	Kind       string                  `json:"kind"`
	Metadata   manifestMetadata        `json:"metadata"`
	Spec       crucible.ExperimentSpec `json:"spec"`
}

type manifestMetadata struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// printManifest writes exp as YAML or JSON.
func printManifest(out io.Writer, exp *crucible.Experiment, format string) error {
	m := manifest{
		APIVersion: crucible.GroupVersion.String(),
		Kind:       "Experiment",
		Metadata:   manifestMetadata{Name: exp.Name, Namespace: exp.Namespace, Labels: exp.Labels},
		Spec:       exp.Spec,
	}
	var (
		b   []byte
		err error
	)
	if format == "json" {
		b, err = json.MarshalIndent(m, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(m)
	}
	if err != nil {
		return fmt.Errorf("encoding the manifest: %w", err)
	}
	_, err = out.Write(b)
	return err
}

// create creates the reproduction and, with --wait, waits for its verdict.
func (o *reproduceOptions) create(ctx context.Context, c client.Client, out io.Writer, exp *crucible.Experiment) error {
	if err := c.Create(ctx, exp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("a reproduction named %s already exists in namespace %s: pass --name NAME to make another", exp.Name, exp.Namespace)
		}
		return err
	}
	if _, err := fmt.Fprintf(out, "experiment.crucible.dev/%s created\n", exp.Name); err != nil {
		return err
	}
	if !o.wait {
		return nil
	}
	got, err := o.waitForVerdict(ctx, c, client.ObjectKeyFromObject(exp))
	if err != nil {
		return err
	}
	r := got.Status.Reproduction
	if err := printVerdict(out, got.Name, r); err != nil {
		return err
	}
	if r.Verdict != crucible.VerdictIdentical && r.Verdict != crucible.VerdictWithinTolerance {
		return fmt.Errorf("the reproduction's verdict is %s", r.Verdict)
	}
	return nil
}

// waitForVerdict reads the Experiment every pollInterval until it has a
// status.reproduction, for at most --timeout.
func (o *reproduceOptions) waitForVerdict(ctx context.Context, c client.Client, key client.ObjectKey) (*crucible.Experiment, error) {
	exp := &crucible.Experiment{}
	err := wait.PollUntilContextTimeout(ctx, pollInterval, o.timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, exp); err != nil {
			if apierrors.IsNotFound(err) {
				return false, fmt.Errorf("experiment %s was deleted before its verdict", key)
			}
			// A busy or restarting API server is worth waiting out.
			if apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
				apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) {
				return false, nil
			}
			return false, fmt.Errorf("reading experiment %s: %w", key, err)
		}
		return exp.Status.Reproduction != nil, nil
	})
	switch {
	case err == nil:
		return exp, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("stopped waiting for the verdict of experiment %s: %w", key, ctx.Err())
	case wait.Interrupted(err):
		phase := string(exp.Status.Phase)
		if phase == "" {
			phase = "no phase yet"
		}
		return nil, fmt.Errorf("no verdict on experiment %s after %v: it is %s (it keeps running; see kubectl get experiment %s -n %s)",
			key, o.timeout, phase, key.Name, key.Namespace)
	}
	return nil, err
}

// printVerdict writes the verdict on one line, then one line per metric.
func printVerdict(out io.Writer, name string, r *crucible.ReproductionStatus) error {
	line := "reproduction " + name + ": " + string(r.Verdict)
	if r.Reason != "" {
		line += " (" + r.Reason + ")"
	}
	if r.Message != "" {
		line += ": " + r.Message
	}
	if _, err := fmt.Fprintln(out, line); err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, m := range r.Metrics {
		fmt.Fprintf(w, "  %s\toriginal %s\treproduced %s\tdifference %s\t%s\n", //nolint:errcheck // Flush reports it
			m.Name, m.Original, orDash(m.Reproduced), orDash(m.Difference), m.Outcome)
	}
	return w.Flush()
}

// orDash is s, or "-" for a value the reproduction did not have.
func orDash(s string) string {
	return cmp.Or(s, "-")
}
