package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// describeLogLines is how many lines of the trainer's log describe shows.
const describeLogLines = 20

type describeOptions struct {
	cluster *cluster
	output  string
}

func newDescribeCommand(cl *cluster) *cobra.Command {
	o := &describeOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "describe (trial/NAME | experiment/NAME)",
		Short: "Everything that decided a trial or an Experiment, and what came of it",
		Long: `Show a trial: every pin it ran with (image, dataset name, version, digest
and source, command, args, env, resources, source commit, the Experiment's
digest), its parameters and seed, its phase, metrics and objective, the
failure reason and message, its artifacts and provenance, its note, its
events, and the last 20 lines of its trainer's log.

Or an Experiment: its pins, search space, seeds and objective, its phase,
conditions, counts and best trial, the reproduction it is and its verdict,
its note and its events.

-o json and -o yaml print the object itself.`,
		Example: `  # A trial, with the tail of its log
  kubectl crucible describe trial/resnet-sweep-0a1b2c3d4e5f -n ml

  # An Experiment
  kubectl crucible describe experiment/resnet-sweep`,
		Args:              exactlyOne("one object", "kubectl crucible describe (trial/NAME | experiment/NAME)"),
		ValidArgsFunction: cl.completeRefs(kindTrial, kindExperiment),
		PreRunE: func(*cobra.Command, []string) error {
			return checkOutput(o.output)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], kindTrial, kindExperiment)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout(), ref)
		},
	}
	addOutputFlag(cmd, &o.output)
	return cmd
}

func (o *describeOptions) run(ctx context.Context, out io.Writer, ref objectRef) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	objects := o.output == outputJSON || o.output == outputYAML
	w := &describer{out: out, now: o.cluster.now()}
	w.w = tabwriter.NewWriter(&w.buf, 0, 8, 2, ' ', 0)
	if ref.kind == kindExperiment {
		exp, err := getExperiment(ctx, cs.client, ns, ref.name)
		if err != nil {
			return err
		}
		if objects {
			return printObject(out, o.output, printable(exp))
		}
		w.experiment(exp)
		w.events(ctx, cs.kube, ns, exp.UID)
		return w.flush()
	}
	trial, err := readTrial(ctx, cs.client, ns, ref.name)
	if err != nil {
		return err
	}
	if objects {
		return printObject(out, o.output, printable(trial))
	}
	// The Experiment has the pins the Trial does not copy. It may be gone
	// (retention keeps Trials of deleted Experiments only with their
	// records), or unreadable to this user: say so, show the rest.
	var exp *crucible.Experiment
	var expProblem string
	if name := owningExperiment(trial); name == "" {
		expProblem = "the trial names no Experiment"
	} else if e, err := getExperiment(ctx, cs.client, ns, name); err == nil {
		exp = e
	} else {
		expProblem = err.Error()
	}
	w.trial(trial, exp, expProblem)
	w.events(ctx, cs.kube, ns, trial.UID)
	w.logTail(ctx, cs.kube, ns, trial.Name)
	return w.flush()
}

// describer writes "Key:  value" lines, the values lined up, as kubectl
// describe does.
type describer struct {
	out io.Writer
	buf bytes.Buffer
	w   *tabwriter.Writer
	now time.Time
}

// line writes key and value at an indentation level; a value of several
// lines goes on as many lines, lined up.
func (d *describer) line(level int, key, value string) {
	indent := strings.Repeat("  ", level)
	lines := strings.Split(value, "\n")
	fmt.Fprintf(d.w, "%s%s:\t%s\n", indent, key, lines[0]) //nolint:errcheck // flush reports it
	for _, l := range lines[1:] {
		fmt.Fprintf(d.w, "%s\t%s\n", indent, l) //nolint:errcheck // flush reports it
	}
}

// section starts a section: its name, the values under it lined up
// with the others.
func (d *describer) section(level int, name string) {
	fmt.Fprintf(d.w, "%s%s:\t\n", strings.Repeat("  ", level), name) //nolint:errcheck // flush reports it
}

// text writes a line as it is.
func (d *describer) text(level int, s string) {
	fmt.Fprintf(d.w, "%s%s\n", strings.Repeat("  ", level), s) //nolint:errcheck // flush reports it
}

// optional writes key and value unless value is empty.
func (d *describer) optional(level int, key, value string) {
	if value != "" {
		d.line(level, key, value)
	}
}

// flush writes it all out, without the padding a section's line ends in.
func (d *describer) flush() error {
	if err := d.w.Flush(); err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range strings.Lines(d.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := d.out.Write(out.Bytes())
	return err
}

// when writes a time with how long ago it was.
func (d *describer) when(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(d.now, t.Time))
}

func (d *describer) trial(t *crucible.Trial, exp *crucible.Experiment, expProblem string) {
	s := &t.Status
	d.line(0, "Name", t.Name)
	d.line(0, "Namespace", t.Namespace)
	d.line(0, "Experiment", orDash(owningExperiment(t)))
	d.line(0, "Phase", orDash(string(s.Phase)))
	d.line(0, "Index", fmt.Sprintf("%d (seed replica %d)", t.Spec.Index, t.Spec.Replica))
	d.line(0, "Seed", strconv.FormatInt(t.Spec.Seed, 10))
	d.params(t.Spec.Parameters)
	objective := orDash(s.Objective)
	if exp != nil {
		objective = fmt.Sprintf("%s (%s %s)", objective, strings.ToLower(string(exp.Spec.Objective.Goal)), exp.Spec.Objective.Metric)
	}
	d.line(0, "Objective", objective)
	d.metrics(s.Metrics)
	d.optional(0, "Reason", s.Reason)
	d.optional(0, "Message", s.Message)
	d.optional(0, "Started", d.when(s.StartTime))
	d.optional(0, "Completed", d.when(s.CompletionTime))
	if s.Attempts > 0 {
		d.line(0, "Attempts", strconv.Itoa(int(s.Attempts)))
	}
	d.optional(0, "Job", s.JobName)

	d.section(0, "Pins")
	d.line(1, "Image", t.Spec.Image)
	d.line(1, "Experiment digest", t.Spec.ExperimentDigest)
	if exp == nil {
		d.optional(1, "Dataset digest", t.Spec.DatasetDigest)
		d.line(1, "Experiment", "not read: "+expProblem+"; the pins above are the ones the Trial records")
	} else {
		d.runPins(1, &exp.Spec, t.Spec.DatasetDigest)
	}

	if a := s.Artifacts; a != nil {
		d.section(0, "Artifacts")
		d.line(1, "URI", a.URI)
		if a.Objects != nil {
			d.line(1, "Objects", strconv.FormatInt(*a.Objects, 10))
		}
		if a.Bytes != nil {
			d.line(1, "Bytes", strconv.FormatInt(*a.Bytes, 10))
		}
		d.optional(1, "Manifest digest", a.ManifestDigest)
	} else {
		d.line(0, "Artifacts", "none recorded")
	}
	if p := s.Provenance; p != nil {
		d.section(0, "Provenance")
		d.line(1, "Digest", p.Digest)
		d.line(1, "URI", orDash(p.URI))
		if p.KeyID == "" {
			d.line(1, "Key ID", "- (unsigned: the operator had no signing key)")
		} else {
			d.line(1, "Key ID", p.KeyID)
		}
	} else {
		d.line(0, "Provenance", "none recorded")
	}
	d.conditions(s.Conditions)
	d.line(0, "Note", orDash(t.Annotations[crucible.NoteAnnotation]))
}

func (d *describer) experiment(e *crucible.Experiment) {
	s := &e.Status
	d.line(0, "Name", e.Name)
	d.line(0, "Namespace", e.Namespace)
	d.line(0, "Phase", orDash(string(s.Phase)))
	c := s.Trials
	d.line(0, "Trials", fmt.Sprintf("%d total: %d created, %d active, %d succeeded, %d failed", c.Total, c.Created, c.Active, c.Succeeded, c.Failed))
	if b := s.BestTrial; b != nil {
		d.section(0, "Best trial")
		d.line(1, "Name", b.Name)
		d.line(1, "Objective", fmt.Sprintf("%s (%s %s)", b.Objective, strings.ToLower(string(e.Spec.Objective.Goal)), e.Spec.Objective.Metric))
		d.line(1, "Parameters", orDash(assignment(b.Parameters)))
		d.line(1, "Seed", strconv.FormatInt(b.Seed, 10))
	} else {
		d.line(0, "Best trial", "-")
	}
	d.optional(0, "Started", d.when(s.StartTime))
	d.optional(0, "Completed", d.when(s.CompletionTime))
	d.line(0, "Spec digest", orDash(s.SpecDigest))
	d.line(0, "Objective", fmt.Sprintf("%s %s", strings.ToLower(string(e.Spec.Objective.Goal)), e.Spec.Objective.Metric))
	d.line(0, "Search", orDash(string(e.Spec.Search.Algorithm)))
	d.line(0, "Seeds", fmt.Sprintf("base %d, %d replicas", e.Spec.Seeds.Base, e.Spec.Seeds.Replicas))
	if len(e.Spec.Parameters) > 0 {
		d.section(0, "Parameters")
		for _, p := range e.Spec.Parameters {
			d.line(1, p.Name, paramSpace(p))
		}
	}
	d.line(0, "Parallelism", strconv.Itoa(int(e.Spec.Parallelism)))
	d.line(0, "Max failed trials", strconv.Itoa(int(e.Spec.MaxFailedTrials)))
	d.line(0, "Suspend", strconv.FormatBool(e.Spec.Suspend))
	d.section(0, "Pins")
	d.line(1, "Image", e.Spec.Image)
	d.runPins(1, &e.Spec, "")
	if a := e.Spec.Artifacts; a != nil {
		switch {
		case a.S3 != nil:
			d.line(0, "Artifacts", fmt.Sprintf("s3 %s bucket %s prefix %q (required: %v)", a.S3.Endpoint, a.S3.Bucket, a.S3.Prefix, a.Required))
		case a.PersistentVolumeClaim != nil:
			d.line(0, "Artifacts", fmt.Sprintf("persistentVolumeClaim %s subPath %q (required: %v)", a.PersistentVolumeClaim.ClaimName, a.PersistentVolumeClaim.SubPath, a.Required))
		}
	}
	if r := e.Spec.Reproduces; r != nil {
		d.section(0, "Reproduces")
		d.line(1, "Trial", fmt.Sprintf("%s/%s of experiment %s (uid %s)", r.Trial.Namespace, r.Trial.Name, r.Trial.Experiment, r.Trial.UID))
		d.line(1, "Inputs digest", r.InputsDigest)
		d.optional(1, "Provenance digest", r.ProvenanceDigest)
		d.line(1, "Original metrics", orDash(metricsLine(r.Metrics)))
	}
	if r := s.Reproduction; r != nil {
		d.section(0, "Reproduction")
		d.line(1, "Verdict", string(r.Verdict))
		d.optional(1, "Reason", r.Reason)
		d.optional(1, "Message", r.Message)
		d.optional(1, "Trial", r.Trial)
		if r.ArtifactsMatched != nil {
			d.line(1, "Artifacts matched", strconv.FormatBool(*r.ArtifactsMatched))
		}
		for _, m := range r.Metrics {
			d.line(1, m.Name, fmt.Sprintf("%s: original %s, reproduced %s, difference %s", m.Outcome, m.Original, orDash(m.Reproduced), orDash(m.Difference)))
		}
	}
	d.conditions(s.Conditions)
	d.line(0, "Note", orDash(e.Annotations[crucible.NoteAnnotation]))
}

// runPins writes what every trial of spec runs with, but the image.
// datasetDigest is the trial's, when it differs from the spec's.
func (d *describer) runPins(level int, spec *crucible.ExperimentSpec, datasetDigest string) {
	if ds := spec.Dataset; ds != nil {
		d.line(level, "Dataset", ds.Name+" "+ds.Version)
		digest := ds.Digest
		if datasetDigest != "" && datasetDigest != digest {
			digest = fmt.Sprintf("%s (the Experiment now says %s)", datasetDigest, ds.Digest)
		}
		d.line(level, "Dataset digest", digest)
		d.line(level, "Dataset source", datasetSource(ds.Source))
		d.optional(level, "Dataset mount", ds.MountPath)
	} else {
		d.line(level, "Dataset", "-")
	}
	d.line(level, "Command", orDash(jsonLine(spec.Command)))
	d.line(level, "Args", orDash(jsonLine(spec.Args)))
	if len(spec.Env) > 0 {
		env := make([]string, len(spec.Env))
		for i, e := range spec.Env {
			env[i] = e.Name + "=" + e.Value
		}
		d.line(level, "Env", strings.Join(env, "\n"))
	} else {
		d.line(level, "Env", "-")
	}
	if spec.Resources != nil {
		d.line(level, "Resources", jsonLine(spec.Resources))
	} else {
		d.line(level, "Resources", "-")
	}
	if src := spec.Source; src != nil {
		d.line(level, "Source", src.Repository+" @ "+src.Commit)
	} else {
		d.line(level, "Source", "-")
	}
	if spec.PodTemplate != nil {
		d.line(level, "Pod template", jsonLine(spec.PodTemplate))
	}
}

func (d *describer) params(params []crucible.ParameterAssignment) {
	if len(params) == 0 {
		d.line(0, "Parameters", "-")
		return
	}
	d.section(0, "Parameters")
	for _, p := range params {
		d.line(1, p.Name, p.Value)
	}
}

func (d *describer) metrics(m map[string]string) {
	if len(m) == 0 {
		d.line(0, "Metrics", "-")
		return
	}
	d.section(0, "Metrics")
	for _, kv := range strings.Fields(metricsLine(m)) {
		name, value, _ := strings.Cut(kv, "=")
		d.line(1, name, value)
	}
}

func (d *describer) conditions(conds []metav1.Condition) {
	if len(conds) == 0 {
		return
	}
	d.section(0, "Conditions")
	for _, c := range conds {
		line := fmt.Sprintf("%s %s", c.Status, c.Reason)
		if c.Message != "" {
			line += ": " + c.Message
		}
		d.line(1, c.Type, line)
	}
}

// events writes the events of the object whose UID is uid, oldest first.
// An events list the user may not read is said, not fatal.
func (d *describer) events(ctx context.Context, kube kubernetes.Interface, ns string, uid types.UID) {
	list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
	if err != nil {
		d.line(0, "Events", "not shown: "+access{verb: "list", resource: eventsResource, namespace: ns}.explain(err).Error())
		return
	}
	var events []corev1.Event
	for _, e := range list.Items {
		// A server that ignores the field selector (or a fake) must not
		// show another object's events.
		if e.InvolvedObject.UID == uid {
			events = append(events, e)
		}
	}
	if len(events) == 0 {
		d.line(0, "Events", "<none>")
		return
	}
	slices.SortStableFunc(events, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	d.section(0, "Events")
	d.text(1, "AGE\tTYPE\tREASON\tCOUNT\tMESSAGE")
	for _, e := range events {
		d.text(1, fmt.Sprintf("%s\t%s\t%s\t%d\t%s", age(d.now, eventTime(e)), e.Type, e.Reason, max(e.Count, 1), oneLine(e.Message, 200)))
	}
}

// eventTime is when an event last happened.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// logTail writes the last lines of the trainer's log of the trial's
// newest Pod, or why there is none.
func (d *describer) logTail(ctx context.Context, kube kubernetes.Interface, ns, trial string) {
	pod, err := trialPod(ctx, kube, ns, trial)
	if err != nil {
		d.line(0, "Logs", "not shown: "+err.Error())
		return
	}
	if pod == nil {
		d.line(0, "Logs", "no Pod: the trial has not started, or its Job and Pod were removed (retention, or the Job's TTL)")
		return
	}
	req := kube.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: crucible.TrainerContainerName, TailLines: ptr.To[int64](describeLogLines)})
	stream, err := req.Stream(ctx)
	if err != nil {
		d.line(0, "Logs", "not shown: "+access{verb: "get", resource: podLogsResource, namespace: ns, name: pod.Name}.explain(err).Error())
		return
	}
	defer stream.Close() //nolint:errcheck // read-only
	d.text(0, fmt.Sprintf("Logs (the last %d lines of pod %s, container %s):", describeLogLines, pod.Name, crucible.TrainerContainerName))
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// Not through the tabwriter: a log line's tabs are its own.
		d.text(1, strings.ReplaceAll(sc.Text(), "\t", "    "))
	}
	if err := sc.Err(); err != nil {
		d.text(1, "(reading the log: "+err.Error()+")")
	}
}

// trialPod is the newest Pod of the trial, by the crucible.dev/trial
// label, or nil if there is none.
func trialPod(ctx context.Context, kube kubernetes.Interface, ns, trial string) (*corev1.Pod, error) {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: crucible.TrialLabel + "=" + trial})
	if err != nil {
		return nil, access{verb: "list", resource: podsResource, namespace: ns}.explain(err)
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	newest := slices.MaxFunc(pods.Items, func(a, b corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return &newest, nil
}

// paramSpace writes a parameter's search space on one line.
func paramSpace(p crucible.ParameterSpec) string {
	switch {
	case p.Int != nil:
		return fmt.Sprintf("int %d..%d step %d", p.Int.Min, p.Int.Max, max(p.Int.Step, 1))
	case p.Float != nil:
		return fmt.Sprintf("float %s..%s, %d steps, %s", p.Float.Min, p.Float.Max, p.Float.Steps, orDash(string(p.Float.Scale)))
	}
	return strings.Join(p.Values, ", ")
}

// datasetSource writes where a dataset is mounted from.
func datasetSource(s crucible.DatasetSource) string {
	switch {
	case s.PersistentVolumeClaim != nil:
		return fmt.Sprintf("persistentVolumeClaim %s subPath %q", s.PersistentVolumeClaim.ClaimName, s.PersistentVolumeClaim.SubPath)
	case s.Image != nil:
		return "image " + s.Image.Reference
	}
	return "-"
}

// jsonLine is v as one line of JSON; "" for nothing.
func jsonLine(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return ""
	}
	return string(b)
}
