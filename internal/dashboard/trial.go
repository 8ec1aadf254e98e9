package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Bounds of what the trial page reads of a Pod's log.
const (
	logTailLines = 50
	// logLimitBytes keeps 50 lines of a trainer that prints progress bars
	// without newlines from being megabytes.
	logLimitBytes = 64 << 10
	// logTimeout bounds the kubelet's answer: a slow node must not hold
	// the page.
	logTimeout = 5 * time.Second
	// maxEvents is the most events the page lists, the newest.
	maxEvents = 100
)

// trialView is the trial page.
type trialView struct {
	Trial      *crucible.Trial
	Phase      string
	Experiment string
	ExpPath    string
	// Exp is the trial's Experiment; nil when it is gone or unreadable,
	// and ExpNotice says which.
	Exp       *crucible.Experiment
	ExpNotice *notice
	Pins      []field
	Metrics   []field
	Objective string
	// Steps is the curve the trainer reported while it ran; nil when it
	// reported none.
	Steps    *stepsView
	Note     string
	Duration string

	Events       []eventRow
	EventsNotice *notice

	Pod        string
	Logs       string
	LogsNotice *notice
	// NoPod says there is no Pod to read a log from.
	NoPod bool

	// CompareHref compares the trial with its Experiment's best.
	CompareHref string
	BestTrial   string
}

// scripts says whether the page loads dashboard.js: only to draw the step
// metrics' chart.
func (v *trialView) scripts() bool { return v.Steps != nil }

type field struct {
	Name, Value string
	// ID is the element id browser tests find it by, if any.
	ID string
}

type eventRow struct {
	Type, Reason, Message, Source, Age string
	Count                              int32
}

func (s *Server) trialPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, name := r.PathValue("ns"), r.PathValue("name")
	t := &crucible.Trial{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t); err != nil {
		s.apiError(w, r, err, crucibleRead("get", "trials", ns), "Trial "+ns+"/"+name)
		return
	}
	v := &trialView{
		Trial:      t,
		Phase:      phaseOf(t),
		Experiment: experimentOf(t),
		Note:       t.Annotations[crucible.NoteAnnotation],
	}
	if v.Experiment != "" {
		v.ExpPath = pathOf("namespaces", ns, "experiments", v.Experiment)
		exp := &crucible.Experiment{}
		err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.Experiment}, exp)
		if v.ExpNotice = noticeOf(err, crucibleRead("get", "experiments", ns), "Experiment "+v.Experiment); v.ExpNotice == nil {
			v.Exp = exp
			v.Objective = exp.Spec.Objective.Metric
			if b := exp.Status.BestTrial; b != nil && b.Name != t.Name {
				v.BestTrial = b.Name
			}
		}
	}
	v.CompareHref = compareLink(ns, t.Name)
	if v.BestTrial != "" {
		v.CompareHref = compareLink(ns, t.Name, v.BestTrial)
	}
	v.Pins = pinsOf(t, v.Exp)
	var goal crucible.Goal
	if v.Exp != nil {
		goal = v.Exp.Spec.Objective.Goal
	}
	v.Steps = stepsOf(t, v.Objective, goal)
	for _, m := range slices.Sorted(maps.Keys(t.Status.Metrics)) {
		v.Metrics = append(v.Metrics, field{Name: m, Value: t.Status.Metrics[m]})
	}
	if st, end := t.Status.StartTime, t.Status.CompletionTime; st != nil && end != nil {
		v.Duration = end.Sub(st.Time).Round(time.Second).String()
	}
	v.Events, v.EventsNotice = s.trialEvents(ctx, t)
	s.trialLogs(ctx, t, v)
	s.render(w, r, http.StatusOK, "trial", "Trial "+ns+"/"+name, v)
}

// experimentOf is the name of a trial's Experiment: its label, or its
// controller's name.
func experimentOf(t *crucible.Trial) string {
	if e := t.Labels[crucible.ExperimentLabel]; e != "" {
		return e
	}
	if ref := metav1.GetControllerOf(t); ref != nil && ref.Kind == "Experiment" {
		return ref.Name
	}
	return ""
}

// pinsOf lists what decided the run: what the Trial records, and what its
// Experiment pins for every trial when it still exists.
func pinsOf(t *crucible.Trial, exp *crucible.Experiment) []field {
	pins := []field{
		{Name: "image", Value: t.Spec.Image, ID: "trial-image"},
		{Name: "experimentDigest", Value: t.Spec.ExperimentDigest, ID: "trial-digest"},
	}
	if t.Spec.DatasetDigest != "" {
		pins = append(pins, field{Name: "dataset.digest", Value: t.Spec.DatasetDigest, ID: "trial-dataset-digest"})
	}
	if exp == nil {
		return pins
	}
	spec := &exp.Spec
	if d := spec.Dataset; d != nil {
		pins = append(pins,
			field{Name: "dataset", Value: d.Name + " " + d.Version},
			field{Name: "dataset.source", Value: jsonOf(d.Source)},
			field{Name: "dataset.mountPath", Value: d.MountPath})
	}
	if src := spec.Source; src != nil {
		pins = append(pins, field{Name: "source", Value: src.Repository + "@" + src.Commit})
	}
	if len(spec.Command) > 0 {
		pins = append(pins, field{Name: "command", Value: jsonOf(spec.Command)})
	}
	if len(spec.Args) > 0 {
		pins = append(pins, field{Name: "args", Value: jsonOf(spec.Args)})
	}
	for _, e := range spec.Env {
		pins = append(pins, field{Name: "env." + e.Name, Value: e.Value})
	}
	if spec.Resources != nil {
		pins = append(pins, field{Name: "resources", Value: jsonOf(spec.Resources)})
	}
	if spec.PodTemplate != nil {
		pins = append(pins, field{Name: "podTemplate", Value: jsonOf(spec.PodTemplate)})
	}
	return pins
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// trialEvents lists the events about t, newest first.
func (s *Server) trialEvents(ctx context.Context, t *crucible.Trial) ([]eventRow, *notice) {
	list, err := s.kube.CoreV1().Events(t.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(t.UID)).String(),
	})
	if err != nil {
		return nil, noticeOf(err, coreRead("list", "events", t.Namespace), "the trial's events")
	}
	var events []*corev1.Event
	for i := range list.Items {
		// The selector is the API server's; check it, as a fake does not.
		if e := &list.Items[i]; e.InvolvedObject.UID == t.UID {
			events = append(events, e)
		}
	}
	slices.SortFunc(events, func(a, b *corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	var rows []eventRow
	for _, e := range events[:min(len(events), maxEvents)] {
		rows = append(rows, eventRow{
			Type: e.Type, Reason: e.Reason, Message: e.Message, Count: max(e.Count, 1),
			Source: cmp.Or(e.ReportingController, e.Source.Component),
			Age:    s.age(metav1.NewTime(eventTime(e))),
		})
	}
	return rows, nil
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.CreationTimestamp.Time
	}
}

// trialLogs reads the last lines of the trainer's log, from the newest Pod
// of the trial.
func (s *Server) trialLogs(ctx context.Context, t *crucible.Trial, v *trialView) {
	pods, err := s.kube.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: crucible.TrialLabel + "=" + t.Name,
	})
	if err != nil {
		v.LogsNotice = noticeOf(err, coreRead("list", "pods", t.Namespace), "the trial's Pods")
		return
	}
	if len(pods.Items) == 0 {
		v.NoPod = true
		return
	}
	pod := slices.MaxFunc(pods.Items, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	v.Pod = pod.Name
	ctx, cancel := context.WithTimeout(ctx, logTimeout)
	defer cancel()
	b, err := s.kube.CoreV1().Pods(t.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container:  crucible.TrainerContainerName,
		TailLines:  ptr.To[int64](logTailLines),
		LimitBytes: ptr.To[int64](logLimitBytes),
	}).DoRaw(ctx)
	if err != nil {
		need := coreRead("get", "pods", t.Namespace)
		need.Subresource = "log"
		v.LogsNotice = noticeOf(err, need, "the log of Pod "+pod.Name)
		return
	}
	v.Logs = string(b)
}
