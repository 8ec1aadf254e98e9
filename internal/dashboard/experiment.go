package dashboard

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

// experimentView is the Experiment page.
type experimentView struct {
	Exp   *crucible.Experiment
	Note  string
	Space []spaceRow
	// Done is how many trials ended: succeeded, failed or stopped.
	Done int32
	// ShowStopped says the summary counts stopped trials: the Experiment
	// stops trials early, or some were.
	ShowStopped bool
	// Curves is the chart of the objective's curve per trial; nil when no
	// trial reported step metrics.
	Curves *curvesView
	// Paths of the page's own resources.
	Path, EventsPath, TrialsPath, ComparePath string

	Trials   int // all trials
	Shown    int // after the phase filter
	Rows     []trialRow
	Params   []string
	Metrics  []string // other metrics of the rows shown, sorted
	Sort     string
	Phases   []phaseLink
	Sorts    []sortLink
	Page     int
	Pages    int
	From, To int // 1-based, inclusive, of Shown
	Prev     string
	Next     string
	Limit    int
	Filtered bool
}

// spaceRow is one parameter of the search space.
type spaceRow struct {
	Name, Kind, Range, Scale string
}

// trialRow is one row of the leaderboard.
type trialRow struct {
	Rank      int
	Name      string
	Path      string
	Index     int64
	Seed      int64
	Phase     string
	Objective string
	Params    []string
	Metrics   []string
	Reason    string
	Best      bool
	Note      bool
}

type phaseLink struct {
	Name   string
	Count  int
	Href   string
	Active bool
}

type sortLink struct {
	Key    string
	Href   string
	Active bool
}

func (s *Server) experimentPage(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	exp := &crucible.Experiment{}
	if err := s.client.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
		s.apiError(w, r, err, crucibleRead("get", "experiments", ns), "Experiment "+ns+"/"+name)
		return
	}
	trials, err := s.trials.experimentTrials(r.Context(), ns, name)
	if err != nil {
		s.apiError(w, r, err, crucibleRead("list", "trials", ns), "the trials of Experiment "+ns+"/"+name)
		return
	}
	view := buildExperimentView(exp, trials, r.URL.Query())
	s.render(w, r, http.StatusOK, "experiment", "Experiment "+ns+"/"+name, view)
}

// buildExperimentView ranks, filters and pages the trials: a pure function
// of the Experiment, its trials and the query string.
func buildExperimentView(exp *crucible.Experiment, trials []crucible.Trial, query map[string][]string) *experimentView {
	q := parseTableQuery(query, sortObjective)
	path := pathOf("namespaces", exp.Namespace, "experiments", exp.Name)
	v := &experimentView{
		Exp:         exp,
		Note:        exp.Annotations[crucible.NoteAnnotation],
		Space:       spaceOf(exp.Spec.Parameters),
		Done:        doneOf(exp.Status.Trials),
		ShowStopped: exp.Spec.EarlyStopping != nil || exp.Status.Trials.Stopped > 0,
		Path:        path,
		EventsPath:  path + "/events",
		TrialsPath:  path + "/trials.json",
		ComparePath: pathOf("namespaces", exp.Namespace, "compare"),
		Trials:      len(trials),
		Sort:        q.Sort,
		Limit:       q.Limit,
		Filtered:    len(q.Phases) > 0,
	}
	for _, p := range exp.Spec.Parameters {
		v.Params = append(v.Params, p.Name)
	}

	counts := map[string]int{}
	kept := make([]*crucible.Trial, 0, len(trials))
	for i := range trials {
		t := &trials[i]
		phase := phaseOf(t)
		counts[phase]++
		if q.keeps(phase) {
			kept = append(kept, t)
		}
	}
	rankTrials(kept, q.Sort, exp.Spec.Objective.Goal, exp.Spec.Parameters)
	v.Shown = len(kept)

	// Links keep every other parameter of the query, and go to page 1.
	base := with(query, "page", "")
	v.Phases = append(v.Phases, phaseLink{Name: "All", Count: len(trials), Href: link(path, with(base, "phase", "")), Active: len(q.Phases) == 0})
	for _, p := range trialPhases {
		if counts[p] == 0 && !slices.Contains(q.Phases, p) {
			continue
		}
		v.Phases = append(v.Phases, phaseLink{Name: p, Count: counts[p], Href: link(path, with(base, "phase", p)),
			Active: len(q.Phases) == 1 && q.Phases[0] == p})
	}
	for _, key := range append([]string{sortObjective, sortIndex, sortSeed, sortPhase}, v.Params...) {
		v.Sorts = append(v.Sorts, sortLink{Key: key, Href: link(path, with(base, "sort", key)), Active: key == q.Sort})
	}

	from, to, page, pages := q.pageBounds(len(kept))
	v.Page, v.Pages, v.From, v.To = page, pages, from+1, to
	if page > 1 {
		v.Prev = link(path, with(query, "page", fmt.Sprint(page-1)))
	}
	if page < pages {
		v.Next = link(path, with(query, "page", fmt.Sprint(page+1)))
	}

	best := ""
	if b := exp.Status.BestTrial; b != nil {
		best = b.Name
	}
	objective := exp.Spec.Objective.Metric
	metricSet := map[string]bool{}
	for _, t := range kept[from:to] {
		for m := range t.Status.Metrics {
			if m != objective {
				metricSet[m] = true
			}
		}
	}
	v.Metrics = slices.Sorted(maps.Keys(metricSet))
	v.Curves = objectiveCurves(exp, trials)
	for i, t := range kept[from:to] {
		row := trialRow{
			Rank:      from + i + 1,
			Name:      t.Name,
			Path:      pathOf("namespaces", t.Namespace, "trials", t.Name),
			Index:     t.Spec.Index,
			Seed:      t.Spec.Seed,
			Phase:     phaseOf(t),
			Objective: t.Status.Objective,
			Reason:    t.Status.Reason,
			Best:      t.Name == best,
			Note:      t.Annotations[crucible.NoteAnnotation] != "",
		}
		for _, p := range v.Params {
			row.Params = append(row.Params, parameter(t, p))
		}
		for _, m := range v.Metrics {
			row.Metrics = append(row.Metrics, t.Status.Metrics[m])
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// scripts: the Experiment page always loads dashboard.js, for its plots and
// live status.
func (v *experimentView) scripts() bool { return true }

// doneOf is how many trials ended: succeeded, failed or stopped.
func doneOf(c crucible.TrialCounts) int32 {
	return c.Succeeded + c.Failed + c.Stopped
}

// spaceOf describes the search space in rows.
func spaceOf(params []crucible.ParameterSpec) []spaceRow {
	var rows []spaceRow
	for _, p := range params {
		r := spaceRow{Name: p.Name}
		switch {
		case p.Int != nil:
			r.Kind = kindInt
			r.Range = fmt.Sprintf("%d to %d, step %d", p.Int.Min, p.Int.Max, max(p.Int.Step, 1))
		case p.Float != nil:
			r.Kind = kindFloat
			r.Range = fmt.Sprintf("%s to %s, %d steps", p.Float.Min, p.Float.Max, p.Float.Steps)
			r.Scale = string(p.Float.Scale)
		default:
			r.Kind = kindValues
			r.Range = strings.Join(p.Values, ", ")
		}
		rows = append(rows, r)
	}
	return rows
}

// Kinds of parameter in trials.json: how the plots draw its axis.
const (
	kindValues = "values" // a category axis, in the order of the values
	kindInt    = "int"
	kindFloat  = "float"
)

// trialsDoc is trials.json: what the plots need of every trial, compact.
type trialsDoc struct {
	Objective  crucible.ObjectiveSpec `json:"objective"`
	Best       string                 `json:"best,omitempty"`
	Parameters []paramDoc             `json:"parameters"`
	// Fields names the entries of each trial's array.
	Fields []string `json:"fields"`
	// Trials are [name, index, seed, phase, objective, parameter values...]
	// in index order; the objective and the values of int and float
	// parameters are numbers (null when not a number), those of a values
	// parameter strings.
	Trials [][]any `json:"trials"`
}

type paramDoc struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Scale is "Log" for a float range on a log scale, its axes then too.
	Scale string `json:"scale,omitempty"`
	// Values are a values parameter's values, in the order of the space.
	Values []string `json:"values,omitempty"`
}

func (s *Server) trialsJSON(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	exp := &crucible.Experiment{}
	if err := s.client.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
		s.jsonError(w, err, crucibleRead("get", "experiments", ns))
		return
	}
	trials, err := s.trials.experimentTrials(r.Context(), ns, name)
	if err != nil {
		s.jsonError(w, err, crucibleRead("list", "trials", ns))
		return
	}
	b, err := json.Marshal(buildTrialsDoc(exp, trials))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// jsonError answers a script's request with the status the API server
// gave and the permission it needs.
func (s *Server) jsonError(w http.ResponseWriter, err error, need permission) {
	status := http.StatusBadGateway
	switch {
	case apierrors.IsForbidden(err):
		status = http.StatusForbidden
	case apierrors.IsNotFound(err):
		status = http.StatusNotFound
	}
	n := noticeOf(err, need, "it")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error(), "message": n.Message, "permission": n.Permission})
}

func buildTrialsDoc(exp *crucible.Experiment, trials []crucible.Trial) trialsDoc {
	doc := trialsDoc{
		Objective: exp.Spec.Objective,
		Fields:    []string{"name", "index", "seed", "phase", "objective"},
		Trials:    make([][]any, 0, len(trials)),
	}
	if b := exp.Status.BestTrial; b != nil {
		doc.Best = b.Name
	}
	for _, p := range exp.Spec.Parameters {
		d := paramDoc{Name: p.Name}
		switch {
		case p.Int != nil:
			d.Kind = kindInt
		case p.Float != nil:
			d.Kind = kindFloat
			if p.Float.Scale == crucible.ScaleLog {
				d.Scale = string(crucible.ScaleLog)
			}
		default:
			d.Kind, d.Values = kindValues, p.Values
		}
		doc.Parameters = append(doc.Parameters, d)
		doc.Fields = append(doc.Fields, p.Name)
	}
	sorted := make([]*crucible.Trial, len(trials))
	for i := range trials {
		sorted[i] = &trials[i]
	}
	slices.SortFunc(sorted, func(a, b *crucible.Trial) int { return cmp.Compare(a.Spec.Index, b.Spec.Index) })
	for _, t := range sorted {
		row := make([]any, 0, 5+len(doc.Parameters))
		row = append(row, t.Name, t.Spec.Index, t.Spec.Seed, phaseOf(t), number(t.Status.Objective))
		for _, p := range doc.Parameters {
			v := parameter(t, p.Name)
			if p.Kind == kindValues {
				row = append(row, v)
			} else {
				row = append(row, number(v))
			}
		}
		doc.Trials = append(doc.Trials, row)
	}
	return doc
}

// number is a decimal string as a JSON number, or nil.
func number(s string) any {
	v, err := metrics.Value(s)
	if err != nil {
		return nil
	}
	return v
}
