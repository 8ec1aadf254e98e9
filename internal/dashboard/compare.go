package dashboard

import (
	"net/http"
	"net/url"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/compare"
)

// maxCompared is the most objects one comparison lines up: a wider table
// is no longer read side by side.
const maxCompared = 10

// compareView is the compare page.
type compareView struct {
	Namespace string
	// Kind is "trial" or "experiment".
	Kind    string
	Columns []compareColumn
	Rows    []compare.Row
	// All is how many rows there are before the differences-only filter.
	All      int
	Differ   int
	DiffOnly bool
	// Toggle is this view with the differences-only switch flipped.
	Toggle  string
	Notices []notice
}

type compareColumn struct {
	Name, Path string
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns := r.PathValue("ns")
	query := r.URL.Query()
	trials, exps := nonEmpty(query["trial"]), nonEmpty(query["experiment"])
	kind, names := "trial", trials
	switch {
	case len(trials) > 0 && len(exps) > 0:
		s.errorPage(w, r, http.StatusBadRequest, "Compare what?", "Compare trials or Experiments, not both at once.", "")
		return
	case len(exps) > 0:
		kind, names = "experiment", exps
	case len(trials) == 0:
		s.errorPage(w, r, http.StatusBadRequest, "Nothing to compare",
			"Select trials on an Experiment's page (or Experiments on the list) and press compare: this page takes ?trial=A&trial=B or ?experiment=A&experiment=B.", "")
		return
	}
	if len(names) > maxCompared {
		s.errorPage(w, r, http.StatusBadRequest, "Too many to compare", "Compare at most 10 at once.", "")
		return
	}
	v := &compareView{Namespace: ns, Kind: kind, DiffOnly: query.Get("diff") == "1"}
	var rows []compare.Row
	if kind == "experiment" {
		var list []*crucible.Experiment
		for _, n := range names {
			e := &crucible.Experiment{}
			if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, e); err != nil {
				s.apiError(w, r, err, crucibleRead("get", "experiments", ns), "Experiment "+ns+"/"+n)
				return
			}
			list = append(list, e)
			v.Columns = append(v.Columns, compareColumn{Name: n, Path: pathOf("namespaces", ns, "experiments", n)})
		}
		rows = compare.Experiments(list)
	} else {
		var runs []compare.Run
		exps := map[string]*crucible.Experiment{}
		for _, n := range names {
			t := &crucible.Trial{}
			if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, t); err != nil {
				s.apiError(w, r, err, crucibleRead("get", "trials", ns), "Trial "+ns+"/"+n)
				return
			}
			en := experimentOf(t)
			e, seen := exps[en]
			if !seen && en != "" {
				e = &crucible.Experiment{}
				err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: en}, e)
				if err != nil {
					e = nil
					what := "Experiment " + en
					if apierrors.IsNotFound(err) {
						what = "Experiment " + en + " (gone: only the pins its trials record are compared)"
					}
					v.Notices = append(v.Notices, *noticeOf(err, crucibleRead("get", "experiments", ns), what))
				}
				exps[en] = e
			}
			runs = append(runs, compare.Run{Trial: t, Experiment: e})
			v.Columns = append(v.Columns, compareColumn{Name: n, Path: pathOf("namespaces", ns, "trials", n)})
		}
		rows = compare.Trials(runs)
	}
	v.All = len(rows)
	differing := compare.Differing(rows)
	v.Differ = len(differing)
	v.Rows = rows
	if v.DiffOnly {
		v.Rows = differing
	}
	toggle := "1"
	if v.DiffOnly {
		toggle = ""
	}
	v.Toggle = link(pathOf("namespaces", ns, "compare"), with(query, "diff", toggle))
	s.render(w, r, http.StatusOK, "compare", "Compare", v)
}

// nonEmpty drops empty and repeated names, keeping the order.
func nonEmpty(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// compareLink compares the named trials.
func compareLink(ns string, trials ...string) string {
	return link(pathOf("namespaces", ns, "compare"), url.Values{"trial": trials})
}
