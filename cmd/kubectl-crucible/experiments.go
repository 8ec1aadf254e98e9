package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

type experimentsOptions struct {
	cluster       *cluster
	allNamespaces bool
	output        string
}

func newExperimentsCommand(cl *cluster) *cobra.Command {
	o := &experimentsOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:     "experiments",
		Aliases: []string{"exp", "list"},
		Short:   "List Experiments: phase, progress, best objective, reproduction verdict",
		Long: `List the Experiments of the namespace (-n, else the kubeconfig's), or of
every namespace with -A: their phase, progress (trials ended of the total),
best objective, the verdict of a reproduction, and age. -o wide adds the
best trial, the spec digest and the note.`,
		Example: `  # The Experiments of namespace ml
  kubectl crucible experiments -n ml

  # Every namespace's, as YAML
  kubectl crucible exp -A -o yaml`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			return checkOutput(o.output)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List the Experiments of every namespace.")
	addOutputFlag(cmd, &o.output)
	return cmd
}

func (o *experimentsOptions) run(ctx context.Context, out, errOut io.Writer) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	if o.allNamespaces {
		ns = ""
	}
	header := []string{"NAME", "PHASE", "PROGRESS", "BEST", "REPRODUCTION", "AGE"}
	if o.output == outputWide {
		header = append(header, "BEST TRIAL", "DIGEST", "NOTE")
	}
	if o.allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	table := newColumns(out, header...)
	objects := &listWriter{out: out, format: o.output}
	n := 0
	list := &crucible.ExperimentList{}
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(pageSize)}
	for {
		if err := cs.client.List(ctx, list, opts...); err != nil {
			return access{verb: "list", resource: experimentsResource, namespace: ns}.explain(err)
		}
		n += len(list.Items)
		var rows [][]string
		for i := range list.Items {
			exp := &list.Items[i]
			if o.output == outputJSON || o.output == outputYAML {
				if err := objects.add(printable(exp)); err != nil {
					return err
				}
				continue
			}
			rows = append(rows, o.row(exp))
		}
		if len(rows) > 0 {
			if err := table.page(rows); err != nil {
				return err
			}
		}
		if list.Continue == "" {
			break
		}
		opts = []client.ListOption{client.InNamespace(ns), client.Limit(pageSize), client.Continue(list.Continue)}
		list = &crucible.ExperimentList{}
	}
	if o.output == outputJSON || o.output == outputYAML {
		return objects.close()
	}
	if n == 0 {
		where := fmt.Sprintf("in namespace %s", ns)
		if ns == "" {
			where = "in any namespace"
		}
		_, err := fmt.Fprintf(errOut, "No Experiments found %s.\n", where)
		return err
	}
	return nil
}

// row is one Experiment's line.
func (o *experimentsOptions) row(exp *crucible.Experiment) []string {
	s := &exp.Status
	best, bestTrial, verdict := "-", "-", "-"
	if s.BestTrial != nil {
		best, bestTrial = s.BestTrial.Objective, s.BestTrial.Name
	}
	if s.Reproduction != nil {
		verdict = string(s.Reproduction.Verdict)
	}
	row := []string{exp.Name, orDash(string(s.Phase)), progress(s.Trials), best, verdict, age(o.cluster.now(), exp.CreationTimestamp.Time)}
	if o.output == outputWide {
		row = append(row, bestTrial, orDash(s.SpecDigest), orDash(oneLine(exp.Annotations[crucible.NoteAnnotation], 60)))
	}
	if o.allNamespaces {
		row = append([]string{exp.Namespace}, row...)
	}
	return row
}

// progress is the trials that ended of the total: "7/12".
func progress(c crucible.TrialCounts) string {
	return fmt.Sprintf("%d/%d", c.Succeeded+c.Failed, c.Total)
}

// printable is obj as kubectl get -o yaml prints it: with its kind, and
// without managed fields.
func printable[T interface {
	*crucible.Experiment | *crucible.Trial
	client.Object
}](obj T) T {
	switch o := any(obj).(type) {
	case *crucible.Experiment:
		o.APIVersion, o.Kind = crucible.GroupVersion.String(), "Experiment"
	case *crucible.Trial:
		o.APIVersion, o.Kind = crucible.GroupVersion.String(), "Trial"
	}
	obj.SetManagedFields(nil)
	return obj
}
