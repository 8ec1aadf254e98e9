package dashboard

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// listPageSize is how many objects one list call asks the API server for:
// a sweep of 10,000 trials is 20 calls, each response a few MB at most.
const listPageSize = 500

// trialSource lists an Experiment's trials. The benchmark replaces the
// API server with a slice, so that it measures the page, not a fake
// client's deep copies.
type trialSource interface {
	experimentTrials(ctx context.Context, ns, experiment string) ([]crucible.Trial, error)
}

// clientTrials lists trials by their Experiment's label, a page at a time.
type clientTrials struct{ c client.Client }

func (t clientTrials) experimentTrials(ctx context.Context, ns, experiment string) ([]crucible.Trial, error) {
	var all []crucible.Trial
	err := listPages(ctx, t.c, &crucible.TrialList{}, func(l *crucible.TrialList) {
		if all == nil {
			all = make([]crucible.Trial, 0, len(l.Items))
		}
		all = append(all, l.Items...)
	}, client.InNamespace(ns), client.MatchingLabels{crucible.ExperimentLabel: experiment})
	return all, err
}

// listPages lists through the API server listPageSize objects at a time,
// calling page with each.
func listPages[L interface {
	client.ObjectList
	*E
}, E any](ctx context.Context, c client.Client, list L, page func(L), opts ...client.ListOption) error {
	cont := ""
	for {
		o := append([]client.ListOption{client.Limit(listPageSize)}, opts...)
		if cont != "" {
			o = append(o, client.Continue(cont))
		}
		if err := c.List(ctx, list, o...); err != nil {
			return err
		}
		page(list)
		cont = list.GetContinue()
		if cont == "" {
			return nil
		}
		var zero E
		*list = zero
	}
}
