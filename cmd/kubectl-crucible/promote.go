package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Resources of promote, as RBAC names them.
const (
	modelsResource        = "models.crucible.dev"
	modelVersionsResource = "modelversions.crucible.dev"
)

// fieldManager is the field manager of what promote writes: the Model's
// status.history names it as the mover of an alias.
const fieldManager = "kubectl-crucible"

// promoteAttempts is how many version numbers promote tries when another
// promotion of the same model takes the number it counted: each try takes
// the next.
const promoteAttempts = 5

// dnsLabel is what a Model's name and an alias must be; the CRD's CEL
// rules say the same, this names the flag.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

type promoteOptions struct {
	cluster     *cluster
	model       string
	alias       string
	description string
	output      string
	dryRun      bool
}

func newPromoteCommand(cl *cluster) *cobra.Command {
	o := &promoteOptions{cluster: cl}
	cmd := &cobra.Command{
		Use:   "promote trial/NAME --model MODEL [--alias ALIAS]",
		Short: "Make a trial that succeeded the next version of a model, optionally under an alias",
		Long: `Promote a trial that succeeded: create the next ModelVersion of a model,
<model>-v<N>, recording the trial (name, UID and its Experiment's digest),
its parameters, seed, objective and metrics, its image and dataset pins,
its provenance digest and its artifacts. The Model is created first if it
does not exist (with --description).

The operator then copies the trial's artifacts from the Experiment's s3
store to the model's own prefix, <prefix>/<namespace>/models/<model>/v<N>/,
and checks their manifest digest: that copy outlives the Experiment's
retention. A trial whose Experiment is gone, or whose Experiment has no s3
store, is promoted without a copy: the version records the trial's URI.

--alias points an alias of the Model at the new version with a merge patch
of that alias alone; the other aliases are left as they are.

--dry-run prints the ModelVersion it would create and creates nothing.`,
		Example: `  # The best trial of a sweep becomes the next version of resnet, and its champion
  kubectl crucible promote trial/resnet-sweep-0a1b2c3d4e5f --model resnet --alias champion -n ml

  # Review what would be created
  kubectl crucible promote trial/resnet-sweep-0a1b2c3d4e5f --model resnet --dry-run`,
		Args:              exactlyOne("one trial", "kubectl crucible promote trial/NAME --model MODEL"),
		ValidArgsFunction: cl.completeRefs(kindTrial),
		PreRunE: func(*cobra.Command, []string) error {
			return o.validate()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0], kindTrial)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), ref.name)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "The Model to add the version to; created if it does not exist. Required.")
	f.StringVar(&o.alias, "alias", "", `An alias of the Model to point at the new version, e.g. "champion".`)
	f.StringVar(&o.description, "description", "", "The Model's description, when promote creates it.")
	f.StringVarP(&o.output, "output", "o", "", `Print the ModelVersion created, "yaml" or "json", instead of a line per object.`)
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the ModelVersion that would be created (yaml, or -o json) and create nothing.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{outputYAML, outputJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validate checks the flags, naming the one that is wrong before the API
// server names a schema path.
func (o *promoteOptions) validate() error {
	switch {
	case o.model == "":
		return errors.New("say which model the trial becomes a version of: --model MODEL")
	case len(o.model) > crucible.MaxModelNameLength || !dnsLabel.MatchString(o.model):
		return fmt.Errorf("--model %q: want a DNS label (lowercase letters, digits and '-') of at most %d characters: versions are named <model>-v<N>",
			o.model, crucible.MaxModelNameLength)
	case o.alias != "" && (len(o.alias) > 63 || !dnsLabel.MatchString(o.alias)):
		return fmt.Errorf("--alias %q: want a DNS label (lowercase letters, digits and '-') of at most 63 characters", o.alias)
	case len([]rune(o.description)) > 1024:
		return fmt.Errorf("--description has %d characters; at most 1024 fit", len([]rune(o.description)))
	case o.output != "" && o.output != outputYAML && o.output != outputJSON:
		return fmt.Errorf(`--output %q: want "yaml" or "json"`, o.output)
	}
	return nil
}

func (o *promoteOptions) run(ctx context.Context, out, errOut io.Writer, trialName string) error {
	cs, ns, err := o.cluster.open()
	if err != nil {
		return err
	}
	c := cs.client
	trial, err := readTrial(ctx, c, ns, trialName)
	if err != nil {
		return err
	}
	if err := promotable(trial); err != nil {
		return err
	}
	exp, err := trialExperiment(ctx, c, trial)
	if err != nil {
		return err
	}
	for _, n := range storeNotes(trial, exp) {
		fmt.Fprintln(errOut, n) //nolint:errcheck // a note; the result is on stdout
	}

	model, err := o.findModel(ctx, c, ns, errOut)
	if err != nil {
		return err
	}
	latest, err := latestVersion(ctx, c, ns, o.model)
	if err != nil {
		return err
	}
	if model != nil {
		// The highest number the model has had: a deleted version's
		// number is not given again.
		latest = max(latest, model.Status.LatestVersion)
	}
	mv := newModelVersion(o.model, latest+1, trial, exp)
	if o.dryRun {
		if model == nil {
			fmt.Fprintf(errOut, "model.crucible.dev/%s would be created\n", o.model) //nolint:errcheck // a note
		}
		if o.alias != "" {
			fmt.Fprintf(errOut, "model.crucible.dev/%s alias %s would point at v%d\n", o.model, o.alias, mv.Spec.Version) //nolint:errcheck // a note
		}
		return printObject(out, cmp.Or(o.output, outputYAML), newVersionManifest(mv))
	}

	// Lines of what was done: on stdout, or on stderr when stdout has the
	// object.
	report := out
	if o.output != "" {
		report = errOut
	}
	if model == nil {
		if err := o.createModel(ctx, c, ns, report); err != nil {
			return err
		}
	}
	if err := createVersion(ctx, c, mv); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(report, "modelversion.crucible.dev/%s created\n", mv.Name); err != nil {
		return err
	}
	if o.alias != "" {
		if err := setAlias(ctx, c, ns, o.model, o.alias, mv.Spec.Version); err != nil {
			return fmt.Errorf("modelversion.crucible.dev/%s was created, but alias %s was not moved to it: %w", mv.Name, o.alias, err)
		}
		if _, err := fmt.Fprintf(report, "model.crucible.dev/%s alias %s → v%d\n", o.model, o.alias, mv.Spec.Version); err != nil {
			return err
		}
	}
	if o.output != "" {
		return printObject(out, o.output, printableVersion(mv))
	}
	return nil
}

// promotable refuses a trial that has not succeeded: its metrics and
// artifacts are not final, or not a result.
func promotable(trial *crucible.Trial) error {
	if trial.Status.Phase == crucible.TrialSucceeded {
		return nil
	}
	phase := string(trial.Status.Phase)
	if phase == "" {
		phase = "not started"
	}
	why := ""
	if trial.Status.Reason != "" {
		why = " (" + trial.Status.Reason
		if trial.Status.Message != "" {
			why += ": " + trial.Status.Message
		}
		why += ")"
	}
	return fmt.Errorf("trial %s/%s is %s%s: only a trial that succeeded can be promoted",
		trial.Namespace, trial.Name, phase, why)
}

// trialExperiment reads the trial's Experiment, the one describe and
// reproduce find: nil when the trial names none, when it is gone, or when
// an Experiment of that name is another one (a new UID). Any other error,
// a refusal by RBAC included, is returned: a version without a store
// should not be made by mistake.
func trialExperiment(ctx context.Context, c client.Client, trial *crucible.Trial) (*crucible.Experiment, error) {
	name := owningExperiment(trial)
	if name == "" {
		return nil, nil
	}
	exp, err := getExperiment(ctx, c, trial.Namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ref := metav1.GetControllerOf(trial); ref != nil && ref.Kind == "Experiment" && ref.UID != exp.UID {
		return nil, nil
	}
	return exp, nil
}

// storeNotes say, for the user's stderr, when the version will have no
// copy of the artifacts of its own.
func storeNotes(trial *crucible.Trial, exp *crucible.Experiment) []string {
	var notes []string
	name := owningExperiment(trial)
	switch {
	case name == "":
		notes = append(notes, fmt.Sprintf("note: trial %s names no Experiment: promoting it without a store", trial.Name))
	case exp == nil:
		notes = append(notes, fmt.Sprintf("note: experiment %s/%s of trial %s is gone: promoting it without a store, so no copy of its artifacts is made",
			trial.Namespace, name, trial.Name))
	case exp.Spec.Artifacts == nil || exp.Spec.Artifacts.S3 == nil:
		notes = append(notes, fmt.Sprintf("note: experiment %s/%s has no s3 store: the version records the trial's artifact URI, and no copy is made",
			trial.Namespace, name))
	}
	if exp == nil && trial.Status.Artifacts != nil {
		notes = append(notes, fmt.Sprintf("note: the version records the trial's URI %s, which the Experiment's retention may delete", trial.Status.Artifacts.URI))
	}
	return notes
}

// findModel reads the Model: nil when it does not exist yet.
func (o *promoteOptions) findModel(ctx context.Context, c client.Client, ns string, errOut io.Writer) (*crucible.Model, error) {
	model := &crucible.Model{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.model}, model)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, access{verb: "get", resource: modelsResource, namespace: ns, name: o.model}.explain(err)
	}
	if o.description != "" && o.description != model.Spec.Description {
		fmt.Fprintf(errOut, "note: model.crucible.dev/%s exists: --description is for a new Model, the description is left as it is\n", o.model) //nolint:errcheck // a note
	}
	return model, nil
}

// createModel creates the Model, with --description and no alias yet:
// the alias is set once the version exists. One created meanwhile by
// another promotion will do.
func (o *promoteOptions) createModel(ctx context.Context, c client.Client, ns string, report io.Writer) error {
	model := &crucible.Model{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.model},
		Spec:       crucible.ModelSpec{Description: o.description},
	}
	err := c.Create(ctx, model, client.FieldOwner(fieldManager))
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return access{verb: "create", resource: modelsResource, namespace: ns, name: o.model}.explain(err)
	}
	_, err = fmt.Fprintf(report, "model.crucible.dev/%s created\n", o.model)
	return err
}

// latestVersion is the highest spec.version of the model's ModelVersions,
// by their crucible.dev/model label, listed a page at a time; 0 for none.
func latestVersion(ctx context.Context, c client.Client, ns, model string) (int32, error) {
	var latest int32
	opts := []client.ListOption{
		client.InNamespace(ns),
		client.MatchingLabels{crucible.ModelLabel: model},
		client.Limit(pageSize),
	}
	for {
		list := &crucible.ModelVersionList{}
		if err := c.List(ctx, list, opts...); err != nil {
			return 0, access{verb: "list", resource: modelVersionsResource, namespace: ns}.explain(err)
		}
		for i := range list.Items {
			latest = max(latest, list.Items[i].Spec.Version)
		}
		if list.Continue == "" {
			return latest, nil
		}
		opts = append(opts[:3], client.Continue(list.Continue))
	}
}

// newModelVersion is version n of model, promoted from trial; exp is the
// trial's Experiment, nil when it is gone.
func newModelVersion(model string, n int32, trial *crucible.Trial, exp *crucible.Experiment) *crucible.ModelVersion {
	mv := &crucible.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: trial.Namespace,
			Name:      versionName(model, n),
			Labels:    map[string]string{crucible.ModelLabel: model},
		},
		Spec: crucible.ModelVersionSpec{
			Model:   model,
			Version: n,
			Source: crucible.ModelVersionSource{
				Experiment: owningExperiment(trial),
				Trial:      trial.Name,
				TrialUID:   string(trial.UID),
				SpecDigest: trial.Spec.ExperimentDigest,
			},
			Parameters:    slices.Clone(trial.Spec.Parameters),
			Seed:          trial.Spec.Seed,
			Objective:     crucible.ModelObjective{Value: trial.Status.Objective},
			Metrics:       maps.Clone(trial.Status.Metrics),
			Image:         trial.Spec.Image,
			DatasetDigest: trial.Spec.DatasetDigest,
		},
	}
	if p := trial.Status.Provenance; p != nil {
		mv.Spec.ProvenanceDigest = p.Digest
	}
	if a := trial.Status.Artifacts; a != nil {
		mv.Spec.Artifacts = &crucible.ModelVersionArtifacts{
			URI:            a.URI,
			ManifestDigest: a.ManifestDigest,
			Objects:        cloneInt64(a.Objects),
			Bytes:          cloneInt64(a.Bytes),
		}
	}
	if exp != nil {
		mv.Spec.Objective.Metric = exp.Spec.Objective.Metric
		if exp.Status.SpecDigest != "" {
			mv.Spec.Source.SpecDigest = exp.Status.SpecDigest
		}
		if a := exp.Spec.Artifacts; a != nil && a.S3 != nil {
			mv.Spec.Store = a.S3.DeepCopy()
		}
	}
	return mv
}

// versionName is "<model>-v<n>", as the CRD requires.
func versionName(model string, n int32) string {
	return fmt.Sprintf("%s-v%d", model, n)
}

func cloneInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// createVersion creates mv; when its number is taken meanwhile by another
// promotion it takes the next, up to promoteAttempts numbers.
func createVersion(ctx context.Context, c client.Client, mv *crucible.ModelVersion) error {
	first := mv.Spec.Version
	for range promoteAttempts {
		err := c.Create(ctx, mv, client.FieldOwner(fieldManager))
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return access{verb: "create", resource: modelVersionsResource, namespace: mv.Namespace, name: mv.Name}.explain(err)
		}
		mv.Spec.Version++
		mv.Name = versionName(mv.Spec.Model, mv.Spec.Version)
		mv.ResourceVersion = ""
	}
	return fmt.Errorf("versions %d to %d of model %s were all taken while promoting: other promotions are running, try again",
		first, mv.Spec.Version-1, mv.Spec.Model)
}

// setAlias points alias at version n with a JSON merge patch of that one
// key of spec.aliases: the other aliases, and whoever manages them, are
// left alone.
func setAlias(ctx context.Context, c client.Client, ns, model, alias string, n int32) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"aliases": map[string]int32{alias: n}}})
	if err != nil {
		return err
	}
	obj := &crucible.Model{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: model}}
	err = c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldManager))
	return access{verb: "patch", resource: modelsResource, namespace: ns, name: model}.explain(err)
}

// versionManifest is the ModelVersion --dry-run prints: what kubectl
// apply needs and nothing more, no status and no empty metadata.
type versionManifest struct {
	APIVersion string                    `json:"apiVersion"`
	Kind       string                    `json:"kind"`
	Metadata   manifestMetadata          `json:"metadata"`
	Spec       crucible.ModelVersionSpec `json:"spec"`
}

func newVersionManifest(mv *crucible.ModelVersion) versionManifest {
	return versionManifest{
		APIVersion: crucible.GroupVersion.String(),
		Kind:       "ModelVersion",
		Metadata:   manifestMetadata{Name: mv.Name, Namespace: mv.Namespace, Labels: mv.Labels},
		Spec:       mv.Spec,
	}
}

// printableVersion is mv as kubectl get -o yaml prints it: with its kind,
// without managed fields.
func printableVersion(mv *crucible.ModelVersion) *crucible.ModelVersion {
	mv = mv.DeepCopy()
	mv.APIVersion, mv.Kind = crucible.GroupVersion.String(), "ModelVersion"
	mv.ManagedFields = nil
	return mv
}
