package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/leaderboard"
)

type leaderboardOptions struct {
	cluster *cluster
	top     int
	output  string
}

func newLeaderboardCommand(cl *cluster) *cobra.Command {
	o := &leaderboardOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "leaderboard EXPERIMENT",
		Short: "The best trials of an Experiment by its objective",
		Long: `Rank the trials of an Experiment that succeeded by its objective
(spec.objective: the metric and whether to minimize or maximize it; ties go
to the lower spec.index, as status.bestTrial) and print the best --top:
rank, trial, objective, parameters and seed; -o wide adds every metric,
the phase and the note.

The trials are read a page of 500 at a time and only the best --top are
kept, so an Experiment of 100,000 trials costs no more memory than one of
ten.

-o json and -o yaml print a leaderboard object: experiment, namespace,
objective {metric, goal}, trials (how many were read), succeeded (how many
were ranked), and rows, each {rank, trial, objective, parameters [{name,
value}], seed, index, metrics, phase, note}.`,
		Example: `  # The ten best trials of resnet-sweep
  kubectl crucible leaderboard resnet-sweep -n ml

  # The best three, with every metric
  kubectl crucible leaderboard resnet-sweep --top 3 -o wide`,
		Args:              exactlyOne("an Experiment", "kubectl crucible leaderboard EXPERIMENT"),
		ValidArgsFunction: cl.completeExperiments,
		PreRunE: func(*cobra.Command, []string) error {
			if o.top < 1 {
				return fmt.Errorf("--top %d: want at least 1", o.top)
			}
			return checkOutput(o.output)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().IntVar(&o.top, "top", 10, "How many trials to print, the best first.")
	addOutputFlag(cmd, &o.output)
	return cmd
}

// leaderboardOutput is what -o json and -o yaml print.
type leaderboardOutput struct {
	Experiment string                 `json:"experiment"`
	Namespace  string                 `json:"namespace"`
	Objective  crucible.ObjectiveSpec `json:"objective"`
	// Trials is how many trials were read; Succeeded how many of them
	// succeeded and were ranked.
	Trials    int              `json:"trials"`
	Succeeded int              `json:"succeeded"`
	Rows      []leaderboardRow `json:"rows"`
}

// leaderboardRow is one ranked trial.
type leaderboardRow struct {
	Rank       int                            `json:"rank"`
	Trial      string                         `json:"trial"`
	Objective  string                         `json:"objective"`
	Parameters []crucible.ParameterAssignment `json:"parameters"`
	Seed       int64                          `json:"seed"`
	Index      int64                          `json:"index"`
	Metrics    map[string]string              `json:"metrics,omitempty"`
	Phase      crucible.TrialPhase            `json:"phase"`
	Note       string                         `json:"note,omitempty"`
}

func (o *leaderboardOptions) run(ctx context.Context, out io.Writer, name string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	exp, err := getExperiment(ctx, cs.client, ns, name)
	if err != nil {
		return err
	}
	board := leaderboard.New(o.top, exp.Spec.Objective.Goal)
	err = eachTrial(ctx, cs.client, ns, name, func(trials []crucible.Trial) error {
		for i := range trials {
			board.Add(&trials[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	lb := leaderboardOutput{
		Experiment: name, Namespace: ns, Objective: exp.Spec.Objective,
		Trials: board.Seen(), Succeeded: board.Succeeded(), Rows: []leaderboardRow{},
	}
	for _, e := range board.Entries() {
		t := e.Trial
		lb.Rows = append(lb.Rows, leaderboardRow{
			Rank: e.Rank, Trial: t.Name, Objective: t.Status.Objective, Parameters: t.Spec.Parameters,
			Seed: t.Spec.Seed, Index: t.Spec.Index, Metrics: t.Status.Metrics, Phase: t.Status.Phase,
			Note: t.Annotations[crucible.NoteAnnotation],
		})
	}
	if o.output == outputJSON || o.output == outputYAML {
		return printObject(out, o.output, lb)
	}
	return o.printTable(out, &lb)
}

func (o *leaderboardOptions) printTable(out io.Writer, lb *leaderboardOutput) error {
	goal := strings.ToLower(string(lb.Objective.Goal))
	if _, err := fmt.Fprintf(out, "experiment %s/%s: %s %s; %d of %d trials succeeded\n",
		lb.Namespace, lb.Experiment, goal, lb.Objective.Metric, lb.Succeeded, lb.Trials); err != nil {
		return err
	}
	if len(lb.Rows) == 0 {
		_, err := fmt.Fprintln(out, "no trial has succeeded yet")
		return err
	}
	header := []string{"RANK", "TRIAL", strings.ToUpper(lb.Objective.Metric), "PARAMETERS", "SEED"}
	wide := o.output == outputWide
	if wide {
		header = append(header, "PHASE", "METRICS", "NOTE")
	}
	rows := make([][]string, 0, len(lb.Rows))
	for _, r := range lb.Rows {
		row := []string{strconv.Itoa(r.Rank), r.Trial, r.Objective, orDash(assignment(r.Parameters)), strconv.FormatInt(r.Seed, 10)}
		if wide {
			row = append(row, string(r.Phase), orDash(metricsLine(r.Metrics)), orDash(oneLine(r.Note, 60)))
		}
		rows = append(rows, row)
	}
	return newColumns(out, header...).page(rows)
}

// assignment writes parameters as "lr=0.01 depth=4".
func assignment(params []crucible.ParameterAssignment) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Name + "=" + p.Value
	}
	return strings.Join(parts, " ")
}

// metricsLine writes metrics as "accuracy=0.91 val_loss=0.23", sorted.
func metricsLine(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// exactlyOne wants one argument, what, and shows usage in the error.
func exactlyOne(what, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch len(args) {
		case 1:
			return nil
		case 0:
			return errors.New("say which: " + usage)
		}
		return fmt.Errorf("want %s, got %d arguments: %s", what, len(args), usage)
	}
}
