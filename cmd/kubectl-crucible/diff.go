package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/compare"
)

// Exit codes of diff other than 0 (nothing differs), as diff(1) has them.
const (
	diffDiffers = 1
	diffTrouble = 2
)

type diffOptions struct {
	cluster *cluster
	all     bool
	output  string
}

func newDiffCommand(cl *cluster) *cobra.Command {
	o := &diffOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "What differs between two trials, or two Experiments",
		Long: `Compare two trials (trial/NAME, or a bare NAME) or two Experiments
(experiment/NAME) field by field: pins (image, dataset, command, args, env,
resources, source, seed), parameters, metrics (compared as numbers: 0.5
and 5e-1 are the same) and outcome (phase, objective, reason, artifacts'
and provenance's digests). A trial is compared with its Experiment's pins
when the Experiment is still there.

Only the fields that differ are printed, unless --all. The exit status is
diff's: 0 when nothing differs, 1 when something does, 2 on trouble.

-o json and -o yaml print {a, b, differs, rows: [{section, field,
values: [a, b], differs}]}.`,
		Example: `  # Two trials of a sweep
  kubectl crucible diff trial/resnet-sweep-0a1b2c3d4e5f trial/resnet-sweep-9f8e7d6c5b4a

  # An Experiment and its reproduction, every field
  kubectl crucible diff experiment/resnet-sweep experiment/resnet-sweep-repro-1a2b --all`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return &exitError{code: diffTrouble, err: fmt.Errorf("want two objects, got %d arguments: kubectl crucible diff A B", len(args))}
			}
			return nil
		},
		ValidArgsFunction: cl.completeRefs(kindTrial, kindExperiment),
		RunE: func(cmd *cobra.Command, args []string) error {
			differs, err := o.run(cmd.Context(), cmd.OutOrStdout(), args[0], args[1])
			switch {
			case err != nil:
				return &exitError{code: diffTrouble, err: err}
			case differs:
				return &exitError{code: diffDiffers}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Print every field, not only those that differ.")
	addOutputFlag(cmd, &o.output)
	return cmd
}

// diffOutput is what -o json and -o yaml print.
type diffOutput struct {
	A       string        `json:"a"`
	B       string        `json:"b"`
	Differs bool          `json:"differs"`
	Rows    []compare.Row `json:"rows"`
}

// run prints the comparison and reports whether anything differs.
func (o *diffOptions) run(ctx context.Context, out io.Writer, argA, argB string) (bool, error) {
	if err := checkOutput(o.output); err != nil {
		return false, err
	}
	a, err := parseRef(argA, kindTrial, kindExperiment)
	if err != nil {
		return false, err
	}
	b, err := parseRef(argB, kindTrial, kindExperiment)
	if err != nil {
		return false, err
	}
	if a.kind != b.kind {
		return false, fmt.Errorf("%s and %s: compare two trials or two Experiments, not one of each", a, b)
	}
	cs, ns, err := o.cluster.open()
	if err != nil {
		return false, err
	}
	var rows []compare.Row
	if a.kind == kindExperiment {
		var exps []*crucible.Experiment
		for _, ref := range []objectRef{a, b} {
			exp, err := getExperiment(ctx, cs.client, ns, ref.name)
			if err != nil {
				return false, err
			}
			exps = append(exps, exp)
		}
		rows = compare.Experiments(exps)
	} else {
		var runs []compare.Run
		for _, ref := range []objectRef{a, b} {
			run, err := trialRun(ctx, cs.client, ns, ref.name)
			if err != nil {
				return false, err
			}
			runs = append(runs, run)
		}
		rows = compare.Trials(runs)
	}
	differing := compare.Differing(rows)
	if !o.all {
		rows = differing
	}
	differs := len(differing) > 0
	if o.output == outputJSON || o.output == outputYAML {
		if rows == nil {
			rows = []compare.Row{}
		}
		return differs, printObject(out, o.output, diffOutput{A: a.String(), B: b.String(), Differs: differs, Rows: rows})
	}
	if len(rows) == 0 {
		return differs, nil
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.Section, r.Field, orDash(r.Values[0]), orDash(r.Values[1])}
		if o.all {
			mark := ""
			if r.Differs {
				mark = "*"
			}
			table[i] = append([]string{mark}, table[i]...)
		}
	}
	header := []string{"SECTION", "FIELD", a.name, b.name}
	if o.all {
		header = append([]string{""}, header...)
	}
	return differs, newColumns(out, header...).page(table)
}

// trialRun reads a trial and, if it is still there, its Experiment.
func trialRun(ctx context.Context, c client.Client, ns, name string) (compare.Run, error) {
	trial, err := readTrial(ctx, c, ns, name)
	if err != nil {
		return compare.Run{}, err
	}
	run := compare.Run{Trial: trial}
	if expName := owningExperiment(trial); expName != "" {
		exp, err := getExperiment(ctx, c, ns, expName)
		switch {
		case err == nil:
			run.Experiment = exp
		case !apierrors.IsNotFound(err):
			return compare.Run{}, fmt.Errorf("reading the Experiment of trial %s: %w", name, err)
		}
	}
	return run, nil
}
