package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// maxNoteLength bounds a note: a line or a paragraph about a run, not
// its report, which belongs with its artifacts. An object's annotations
// may hold 256 KiB in all.
const maxNoteLength = 4096

type noteOptions struct {
	cluster *cluster
	clear   bool
}

func newNoteCommand(cl *cluster) *cobra.Command {
	o := &noteOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   `note (trial/NAME | experiment/NAME) ("TEXT" | --clear)`,
		Short: "Write a note on a trial or an Experiment, shown wherever it is",
		Long: `Write a note on a trial or an Experiment: the annotation crucible.dev/note,
set with a merge patch of the object's metadata (a Trial's spec is frozen,
its metadata is not). A note replaces the one before; --clear removes it.
describe shows it, and so do trials -o wide, leaderboard -o wide and
experiments -o wide.`,
		Example: `  # Remember why a trial is interesting
  kubectl crucible note trial/resnet-sweep-0a1b2c3d4e5f "best val_loss, but overfits after epoch 30"

  # Remove it
  kubectl crucible note trial/resnet-sweep-0a1b2c3d4e5f --clear`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case o.clear && len(args) != 1:
				return fmt.Errorf("--clear removes the note of one object: kubectl crucible note trial/NAME --clear (got %d arguments)", len(args))
			case !o.clear && len(args) != 2:
				return fmt.Errorf(`want an object and a note, got %d arguments: kubectl crucible note trial/NAME "TEXT" (or --clear)`, len(args))
			case !o.clear && args[1] == "":
				return fmt.Errorf("an empty note: to remove the note, pass --clear")
			case !o.clear && utf8.RuneCountInString(args[1]) > maxNoteLength:
				return fmt.Errorf("the note has %d characters; at most %d fit (keep reports with the trial's artifacts)", utf8.RuneCountInString(args[1]), maxNoteLength)
			}
			return nil
		},
		ValidArgsFunction: cl.completeRefs(kindTrial, kindExperiment),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], kindTrial, kindExperiment)
			if err != nil {
				return err
			}
			var text *string
			if !o.clear {
				text = &args[1]
			}
			return o.run(cmd.Context(), cmd.OutOrStdout(), ref, text)
		},
	}
	cmd.Flags().BoolVar(&o.clear, "clear", false, "Remove the note.")
	return cmd
}

// run sets the note to text, or removes it when text is nil.
func (o *noteOptions) run(ctx context.Context, out io.Writer, ref objectRef, text *string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	// null removes the key in a JSON merge patch.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{crucible.NoteAnnotation: text}}})
	if err != nil {
		return err
	}
	var obj client.Object = &crucible.Trial{}
	if ref.kind == kindExperiment {
		obj = &crucible.Experiment{}
	}
	obj.SetNamespace(ns)
	obj.SetName(ref.name)
	err = cs.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
	if err != nil {
		return access{verb: "patch", resource: ref.resource(), namespace: ns, name: ref.name}.explain(err)
	}
	done := "annotated"
	if text == nil {
		done = "note removed"
	}
	_, err = fmt.Fprintf(out, "%s.crucible.dev/%s %s\n", ref.kind, ref.name, done)
	return err
}
