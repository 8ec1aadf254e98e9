package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/metrics"
)

var trialPhases = []crucible.TrialPhase{crucible.TrialPending, crucible.TrialRunning, crucible.TrialSucceeded, crucible.TrialFailed, crucible.TrialStopped}

type trialsOptions struct {
	cluster *cluster
	phase   string
	params  []string
	output  string

	// filter is the parsed --param flags.
	filter []crucible.ParameterAssignment
}

func newTrialsCommand(cl *cluster) *cobra.Command {
	o := &trialsOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "trials EXPERIMENT",
		Short: "List every trial of an Experiment, filtered by phase and parameters",
		Long: `List the trials of an Experiment, in the order the API server returns them,
a page of 500 at a time: each page is printed as it arrives, so the first
lines of an Experiment of 100,000 trials come at once and memory stays
bounded. --phase and --param keep the trials that match all of them (a
number matches the same number however it is written: lr=0.01 matches
1e-2). -o wide adds the index, the failure reason, every metric and the
note; -o json and -o yaml print a List of the Trials.`,
		Example: `  # Every trial of resnet-sweep
  kubectl crucible trials resnet-sweep -n ml

  # The trials that failed with lr=0.1
  kubectl crucible trials resnet-sweep --phase Failed --param lr=0.1 -o wide`,
		Args:              exactlyOne("an Experiment", "kubectl crucible trials EXPERIMENT"),
		ValidArgsFunction: cl.completeExperiments,
		PreRunE: func(*cobra.Command, []string) error {
			return o.complete()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
	cmd.Flags().StringVar(&o.phase, "phase", "", "Only the trials in this phase: Pending, Running, Succeeded or Failed.")
	cmd.Flags().StringArrayVar(&o.params, "param", nil, "NAME=VALUE: only the trials whose parameter NAME has VALUE. Repeatable: all must match.")
	addOutputFlag(cmd, &o.output)
	_ = cmd.RegisterFlagCompletionFunc("phase", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names := make([]string, len(trialPhases))
		for i, p := range trialPhases {
			names[i] = string(p)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *trialsOptions) complete() error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.phase != "" {
		i := slices.IndexFunc(trialPhases, func(p crucible.TrialPhase) bool { return strings.EqualFold(string(p), o.phase) })
		if i < 0 {
			return fmt.Errorf("--phase %q: want Pending, Running, Succeeded or Failed", o.phase)
		}
		o.phase = string(trialPhases[i])
	}
	for _, p := range o.params {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		o.filter = append(o.filter, crucible.ParameterAssignment{Name: name, Value: value})
	}
	return nil
}

// matches reports whether t passes --phase and every --param.
func (o *trialsOptions) matches(t *crucible.Trial) bool {
	if o.phase != "" && string(t.Status.Phase) != o.phase {
		return false
	}
	for _, want := range o.filter {
		i := slices.IndexFunc(t.Spec.Parameters, func(p crucible.ParameterAssignment) bool { return p.Name == want.Name })
		if i < 0 || !sameValue(t.Spec.Parameters[i].Value, want.Value) {
			return false
		}
	}
	return true
}

// sameValue reports whether a parameter's value is v: the same string, or
// the same number.
func sameValue(value, v string) bool {
	if value == v {
		return true
	}
	x, errX := metrics.Value(value)
	y, errY := metrics.Value(v)
	return errX == nil && errY == nil && x == y
}

func (o *trialsOptions) run(ctx context.Context, out, errOut io.Writer, exp string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	header := []string{"NAME", "PHASE", "OBJECTIVE", "PARAMETERS", "SEED", "AGE"}
	wide := o.output == outputWide
	if wide {
		header = []string{"NAME", "INDEX", "PHASE", "OBJECTIVE", "PARAMETERS", "SEED", "REASON", "AGE", "METRICS", "NOTE"}
	}
	objects := o.output == outputJSON || o.output == outputYAML
	table := newColumns(out, header...)
	list := &listWriter{out: out, format: o.output}
	seen, matched := 0, 0
	now := o.cluster.now()
	err = eachTrial(ctx, cs.client, ns, exp, func(trials []crucible.Trial) error {
		seen += len(trials)
		var rows [][]string
		for i := range trials {
			t := &trials[i]
			if !o.matches(t) {
				continue
			}
			matched++
			if objects {
				if err := list.add(printable(t)); err != nil {
					return err
				}
				continue
			}
			s := &t.Status
			seed, created := strconv.FormatInt(t.Spec.Seed, 10), age(now, t.CreationTimestamp.Time)
			if wide {
				rows = append(rows, []string{t.Name, strconv.FormatInt(t.Spec.Index, 10), orDash(string(s.Phase)), orDash(s.Objective),
					orDash(assignment(t.Spec.Parameters)), seed, orDash(s.Reason), created, orDash(metricsLine(s.Metrics)),
					orDash(oneLine(t.Annotations[crucible.NoteAnnotation], 60))})
			} else {
				rows = append(rows, []string{t.Name, orDash(string(s.Phase)), orDash(s.Objective), orDash(assignment(t.Spec.Parameters)), seed, created})
			}
		}
		if len(rows) == 0 {
			return nil
		}
		return table.page(rows)
	})
	if err != nil {
		return err
	}
	if objects {
		return list.close()
	}
	switch {
	case seen == 0:
		_, err = fmt.Fprintf(errOut, "No trials of experiment %s found in namespace %s.\n", exp, ns)
	case matched == 0:
		_, err = fmt.Fprintf(errOut, "None of the %d trials of experiment %s matched.\n", seen, exp)
	}
	return err
}
