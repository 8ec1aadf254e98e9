package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// experimentPhases are the phases in the order the filter lists them.
var experimentPhases = []string{
	string(crucible.ExperimentRunning), string(crucible.ExperimentPending), string(crucible.ExperimentSucceeded),
	string(crucible.ExperimentFailed), string(crucible.ExperimentSuspended),
}

// experimentsView is the page of Experiments.
type experimentsView struct {
	Rows []experimentRow
	// Namespace is the namespace filter, if any.
	Namespace string
	Phase     string
	Phases    []string
	// Namespaces are those the rows are in, for the filter's suggestions.
	Namespaces []string
	// Fallback says the user may not list Experiments in all namespaces
	// and the page lists Listed instead.
	Fallback *notice
	Listed   []string
	// Refused are the namespaces of Listed the user may not list either.
	Refused []notice
	// ComparePath is set when every row is in one namespace, where
	// selected Experiments can be compared.
	ComparePath string
	Total       int
	Page, Pages int
	Prev, Next  string
}

type experimentRow struct {
	Exp       *crucible.Experiment
	Path      string
	Done      int32
	Best      string
	BestTrial string
	BestPath  string
	Verdict   string
	Note      bool
}

func (s *Server) experimentsPage(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	v := &experimentsView{Namespace: query.Get("namespace"), Phase: query.Get("phase"), Phases: experimentPhases}
	var exps []crucible.Experiment
	var err error
	if v.Namespace != "" {
		// One namespace: a user who may list only there still sees it.
		if exps, err = s.listExperiments(r.Context(), v.Namespace); err != nil {
			s.apiError(w, r, err, crucibleRead("list", "experiments", v.Namespace), "Experiments in "+v.Namespace)
			return
		}
	} else if exps, err = s.listExperiments(r.Context(), ""); err != nil {
		if !apierrors.IsForbidden(err) || len(s.opts.Namespaces) == 0 {
			s.apiError(w, r, err, crucibleRead("list", "experiments", ""), "Experiments")
			return
		}
		exps = nil
		all := crucibleRead("list", "experiments", "")
		v.Fallback = &notice{
			Message:    "You may not list Experiments in all namespaces, so this page lists " + strings.Join(s.opts.Namespaces, ", ") + " only.",
			Permission: all.String(),
			CanI:       all.CanI(),
		}
		v.Listed = s.opts.Namespaces
		for _, ns := range s.opts.Namespaces {
			in, err := s.listExperiments(r.Context(), ns)
			if err != nil {
				v.Refused = append(v.Refused, *noticeOf(err, crucibleRead("list", "experiments", ns), "Experiments in "+ns))
				continue
			}
			exps = append(exps, in...)
		}
		if len(v.Refused) == len(s.opts.Namespaces) {
			s.apiError(w, r, err, crucibleRead("list", "experiments", s.opts.Namespaces[0]), "Experiments")
			return
		}
	}

	namespaces := map[string]bool{}
	var kept []*crucible.Experiment
	for i := range exps {
		e := &exps[i]
		namespaces[e.Namespace] = true
		if v.Phase == "" || string(e.Status.Phase) == v.Phase {
			kept = append(kept, e)
		}
	}
	for ns := range namespaces {
		v.Namespaces = append(v.Namespaces, ns)
	}
	slices.Sort(v.Namespaces)
	slices.SortFunc(kept, func(a, b *crucible.Experiment) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	if len(v.Namespaces) == 1 {
		v.ComparePath = pathOf("namespaces", v.Namespaces[0], "compare")
	}

	q := parseTableQuery(query, "")
	from, to, page, pages := q.pageBounds(len(kept))
	v.Total, v.Page, v.Pages = len(kept), page, pages
	if page > 1 {
		v.Prev = link("/", with(query, "page", fmt.Sprint(page-1)))
	}
	if page < pages {
		v.Next = link("/", with(query, "page", fmt.Sprint(page+1)))
	}
	for _, e := range kept[from:to] {
		row := experimentRow{
			Exp:  e,
			Path: pathOf("namespaces", e.Namespace, "experiments", e.Name),
			Done: doneOf(e.Status.Trials),
			Note: e.Annotations[crucible.NoteAnnotation] != "",
		}
		if b := e.Status.BestTrial; b != nil {
			row.Best, row.BestTrial = b.Objective, b.Name
			row.BestPath = pathOf("namespaces", e.Namespace, "trials", b.Name)
		}
		if rep := e.Status.Reproduction; rep != nil {
			row.Verdict = string(rep.Verdict)
		}
		v.Rows = append(v.Rows, row)
	}
	s.render(w, r, http.StatusOK, "experiments", "Experiments", v)
}

// listExperiments lists Experiments in ns, or in all namespaces when ns is
// empty, a page at a time.
func (s *Server) listExperiments(ctx context.Context, ns string) ([]crucible.Experiment, error) {
	var all []crucible.Experiment
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	err := listPages(ctx, s.client, &crucible.ExperimentList{}, func(l *crucible.ExperimentList) {
		all = append(all, l.Items...)
	}, opts...)
	return all, err
}
