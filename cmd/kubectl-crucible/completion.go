package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Completion reads at most one page, and gives up quickly: a shell waits
// for it.
const (
	completionLimit   = 500
	completionTimeout = 5 * time.Second
)

// completeExperiments completes the first argument with the names of the
// namespace's Experiments.
func (c *cluster) completeExperiments(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.names(cmd.Context(), kindExperiment, toComplete, ""), cobra.ShellCompDirectiveNoFileComp
}

// completeRefs completes an argument as KIND/NAME for the kinds given:
// first the kinds, then, after the slash, the names in the namespace.
func (c *cluster) completeRefs(kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= 2 || (len(args) == 1 && cmd.Name() != "diff") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		kind, prefix, ok := strings.Cut(toComplete, "/")
		if !ok {
			var out []string
			for _, k := range kinds {
				if strings.HasPrefix(k+"/", toComplete) {
					out = append(out, k+"/")
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		ref, err := parseRef(kind+"/x", kinds...)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return c.names(cmd.Context(), ref.kind, prefix, kind+"/"), cobra.ShellCompDirectiveNoFileComp
	}
}

// names lists the names of kind in the namespace that start with prefix,
// each written after before; none when the cluster cannot be read.
func (c *cluster) names(ctx context.Context, kind, prefix, before string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	cs, ns, err := c.open()
	if err != nil {
		return nil
	}
	var names []string
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(completionLimit)}
	if kind == kindExperiment {
		var list crucible.ExperimentList
		if cs.client.List(ctx, &list, opts...) != nil {
			return nil
		}
		for _, e := range list.Items {
			names = append(names, e.Name)
		}
	} else {
		var list crucible.TrialList
		if cs.client.List(ctx, &list, opts...) != nil {
			return nil
		}
		for _, t := range list.Items {
			names = append(names, t.Name)
		}
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, before+n)
		}
	}
	return out
}
