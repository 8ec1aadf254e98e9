package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/canonjson"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// The types a record is made of. They are part of the format: a reader
// dispatches on them.
const (
	// PredicateType is SLSA Provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType says how to read the predicate's parameters: the layout
	// this package writes.
	BuildType = "https://crucible.dev/provenance/trial/v1"
	// PayloadType is the DSSE payload type of an in-toto Statement.
	PayloadType = "application/vnd.in-toto+json"
)

// Names of the subjects, resolved dependencies and byproducts.
const (
	subjectArtifacts = "artifacts"
	subjectMetrics   = "metrics.json"
	depImage         = "image"
	depDataset       = "dataset"
	depSource        = "source"
	byproductJob     = "job"
	byproductPod     = "pod"
	byproductOutcome = "outcome"
	byproductArtsURI = "artifacts"
	builderVersion   = "crucible"
	algSHA256        = "sha256"
	algGitCommit     = "gitCommit"
	sha256Prefix     = "sha256:"
	gitURIPrefix     = "git+"
	pvcURIPrefix     = "pvc://"
	defaultMountPath = "/data"
)

// Inputs is what a trial's provenance is made of: the objects as the Trial
// reconciler sees them when the trial ended, and what it found out about
// the run. Everything but the Experiment and the Trial may be empty.
type Inputs struct {
	// Experiment is the trial's Experiment: its name, namespace, UID,
	// spec, status.specDigest and DatasetVerified condition are recorded.
	Experiment *crucible.Experiment
	// Trial is the trial: its name, UID, spec and status are recorded.
	Trial *crucible.Trial
	// Builder is the operator that ran the trial.
	Builder Builder
	// Run is where and how the trial's Pod ran.
	Run Run
}

// Builder names the operator that ran a trial.
type Builder struct {
	// ID is a URI naming the operator: runDetails.builder.id.
	ID string
	// Version is the operator's version.
	Version string
}

// Run is what the Trial reconciler observed of the run. Any field may be
// empty.
type Run struct {
	// NodeName is the node the Pod ran on.
	NodeName string
	// GPU is the node's label nvidia.com/gpu.product.
	GPU string
	// InstanceType is the node's label node.kubernetes.io/instance-type.
	InstanceType string
	// JobUID is the UID of the trial's Job.
	JobUID string
	// PodUID is the UID of the Pod that ran the trainer last.
	PodUID string
	// ExitCode is the trainer container's exit code.
	ExitCode *int32
}

// Statement returns the in-toto Statement of a trial's provenance: SLSA
// Provenance v1 with the trial's inputs as parameters and dependencies and
// its metrics and artifacts as subjects. The package documentation lists
// every field.
func Statement(in Inputs) (*intoto.Statement, error) {
	st, _, err := statement(in)
	return st, err
}

// Payload returns the Statement's canonical bytes, Marshal(Statement(in)),
// encoding it once: what the operator signs, stores and digests when a
// trial ends.
func Payload(in Inputs) ([]byte, error) {
	_, payload, err := statement(in)
	return payload, err
}

// statement makes the Statement and its canonical bytes, and checks that
// they read back.
func statement(in Inputs) (*intoto.Statement, []byte, error) {
	exp, trial := in.Experiment, in.Trial
	if exp == nil || trial == nil {
		return nil, nil, errors.New("provenance needs the Experiment and the Trial")
	}
	if in.Builder.ID == "" {
		return nil, nil, errors.New("provenance needs the builder's ID")
	}
	canonical, err := specdigest.Canonical(&exp.Spec)
	if err != nil {
		return nil, nil, err
	}
	specDigest := specdigest.Of(canonical)
	if d := exp.Status.SpecDigest; d != "" && d != specDigest {
		return nil, nil, fmt.Errorf("the Experiment's status.specDigest %s is not the digest of its spec, %s", d, specDigest)
	}
	if d := trial.Spec.ExperimentDigest; d != "" && d != specDigest {
		return nil, nil, fmt.Errorf("the Trial was made from a spec with digest %s, not the Experiment's %s", d, specDigest)
	}

	subject, err := subjects(trial)
	if err != nil {
		return nil, nil, err
	}
	deps, err := resolvedDependencies(exp, trial)
	if err != nil {
		return nil, nil, err
	}
	external, err := structpb.NewStruct(externalParameters(exp, trial, specDigest, canonical))
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the external parameters: %w", err)
	}
	internal, err := structpb.NewStruct(map[string]any{
		"experiment": map[string]any{
			"namespace": exp.Namespace,
			"name":      exp.Name,
			"uid":       string(exp.UID),
		},
		"trial": map[string]any{"name": trial.Name},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the internal parameters: %w", err)
	}
	byproducts, err := byproducts(trial, in.Run)
	if err != nil {
		return nil, nil, err
	}

	prov := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   external,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: in.Builder.ID},
			Metadata: &slsa.BuildMetadata{
				InvocationId: string(trial.UID),
				StartedOn:    timestamp(trial.Status.StartTime),
				FinishedOn:   timestamp(trial.Status.CompletionTime),
			},
			Byproducts: byproducts,
		},
	}
	if in.Builder.Version != "" {
		prov.RunDetails.Builder.Version = map[string]string{builderVersion: in.Builder.Version}
	}
	if err := prov.Validate(); err != nil {
		return nil, nil, fmt.Errorf("invalid provenance: %w", err)
	}
	predicate, err := toStruct(prov)
	if err != nil {
		return nil, nil, err
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subject,
		PredicateType: PredicateType,
		Predicate:     predicate,
	}
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("invalid statement: %w", err)
	}
	// A record that Read would refuse is worth nothing: refuse to make it.
	// Reading it back costs about 0.9 ms of the 1.8 ms a signed record of
	// the rich test fixture takes, once per trial.
	payload, err := Marshal(st)
	if err != nil {
		return nil, nil, err
	}
	if _, err := parseStatement(payload); err != nil {
		return nil, nil, fmt.Errorf("the statement would not read back: %w", err)
	}
	return st, payload, nil
}

// subjects are the trial's outputs: its artifacts, when their manifest
// digest is known, and its metrics.
func subjects(trial *crucible.Trial) ([]*intoto.ResourceDescriptor, error) {
	var out []*intoto.ResourceDescriptor
	if a := trial.Status.Artifacts; a != nil && a.ManifestDigest != "" {
		hexDigest, err := sha256Hex(a.ManifestDigest)
		if err != nil {
			return nil, fmt.Errorf("the artifacts' manifest digest: %w", err)
		}
		rd := &intoto.ResourceDescriptor{
			Name:   subjectArtifacts,
			Uri:    a.URI,
			Digest: map[string]string{algSHA256: hexDigest},
		}
		ann := map[string]any{}
		if a.Objects != nil {
			ann["objects"] = strconv.FormatInt(*a.Objects, 10)
		}
		if a.Bytes != nil {
			ann["bytes"] = strconv.FormatInt(*a.Bytes, 10)
		}
		if rd.Annotations, err = annotations(ann); err != nil {
			return nil, err
		}
		out = append(out, rd)
	}
	metrics := map[string]string{}
	for k, v := range trial.Status.Metrics {
		metrics[valid(k)] = valid(v)
	}
	values := map[string]any{}
	for k, v := range metrics {
		values[k] = v
	}
	ann, err := annotations(map[string]any{"metrics": values})
	if err != nil {
		return nil, err
	}
	out = append(out, &intoto.ResourceDescriptor{
		Name:        subjectMetrics,
		Digest:      map[string]string{algSHA256: metricsDigest(metrics)},
		Annotations: ann,
	})
	return out, nil
}

// metricsDigest is the hex sha256 of metrics.json: the metrics as one
// compact JSON object, keys sorted by their bytes, values the decimal
// strings as recorded, strings written as canonjson writes them. In
// Python: json.dumps(m, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False).
func metricsDigest(metrics map[string]string) string {
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(metrics)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = canonjson.AppendString(b, k)
		b = append(b, ':')
		b = canonjson.AppendString(b, metrics[k])
	}
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// externalParameters are what the user chose: the pinned spec, exactly as
// its digest was computed over, and the trial's point and seed.
func externalParameters(exp *crucible.Experiment, trial *crucible.Trial, specDigest string, canonical []byte) map[string]any {
	params := map[string]any{}
	for _, p := range trial.Spec.Parameters {
		params[valid(p.Name)] = valid(p.Value)
	}
	ext := map[string]any{
		"specDigest": specDigest,
		"spec":       string(canonical),
		"trial": map[string]any{
			"parameters": params,
			"seed":       strconv.FormatInt(trial.Spec.Seed, 10),
			"index":      strconv.FormatInt(trial.Spec.Index, 10),
		},
	}
	if len(exp.Spec.Command) > 0 {
		ext["command"] = stringList(exp.Spec.Command)
	}
	if len(exp.Spec.Args) > 0 {
		ext["args"] = stringList(exp.Spec.Args)
	}
	if len(exp.Spec.Env) > 0 {
		env := make([]any, 0, len(exp.Spec.Env))
		for _, e := range exp.Spec.Env {
			env = append(env, map[string]any{"name": valid(e.Name), "value": valid(e.Value)})
		}
		ext["env"] = env
	}
	return ext
}

// resolvedDependencies are what the trial ran: the image, the dataset and
// the source code.
func resolvedDependencies(exp *crucible.Experiment, trial *crucible.Trial) ([]*intoto.ResourceDescriptor, error) {
	image := trial.Spec.Image
	if image == "" {
		image = exp.Spec.Image
	}
	if image != exp.Spec.Image {
		return nil, fmt.Errorf("the Trial's image %q is not the Experiment's %q", image, exp.Spec.Image)
	}
	imageDigest, err := imageSHA256(image)
	if err != nil {
		return nil, err
	}
	deps := []*intoto.ResourceDescriptor{{
		Name:   depImage,
		Uri:    image,
		Digest: map[string]string{algSHA256: imageDigest},
	}}

	if d := exp.Spec.Dataset; d != nil {
		if td := trial.Spec.DatasetDigest; td != "" && td != d.Digest {
			return nil, fmt.Errorf("the Trial's dataset digest %s is not the Experiment's %s", td, d.Digest)
		}
		hexDigest, err := sha256Hex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("the dataset's digest: %w", err)
		}
		ann, err := annotations(datasetAnnotations(exp))
		if err != nil {
			return nil, err
		}
		deps = append(deps, &intoto.ResourceDescriptor{
			Name:        depDataset,
			Uri:         datasetURI(d.Source),
			Digest:      map[string]string{algSHA256: hexDigest},
			Annotations: ann,
		})
	}

	if s := exp.Spec.Source; s != nil {
		deps = append(deps, &intoto.ResourceDescriptor{
			Name:   depSource,
			Uri:    gitURIPrefix + s.Repository,
			Digest: map[string]string{algGitCommit: s.Commit},
		})
	}
	return deps, nil
}

// datasetAnnotations are the dataset's name, version and mount path and
// how it was verified: the policy and the DatasetVerified condition.
func datasetAnnotations(exp *crucible.Experiment) map[string]any {
	d := exp.Spec.Dataset
	mountPath := d.MountPath
	if mountPath == "" {
		mountPath = defaultMountPath
	}
	policy := d.Verify
	if policy == "" {
		policy = crucible.DatasetVerifyAlways
	}
	verification := map[string]any{"policy": string(policy)}
	if c := meta.FindStatusCondition(exp.Status.Conditions, crucible.ExperimentDatasetVerifiedCondition); c != nil {
		verification["status"] = valid(c.Reason)
		if c.Message != "" {
			verification["message"] = valid(c.Message)
		}
		if !c.LastTransitionTime.IsZero() {
			verification["time"] = c.LastTransitionTime.UTC().Format(time.RFC3339)
		}
	}
	return map[string]any{
		"name":         valid(d.Name),
		"version":      valid(d.Version),
		"mountPath":    valid(mountPath),
		"verification": verification,
	}
}

// datasetURI is where the dataset is mounted from: pvc://<claim>/<subPath>
// or the image reference.
func datasetURI(s crucible.DatasetSource) string {
	switch {
	case s.PersistentVolumeClaim != nil:
		return pvcURIPrefix + s.PersistentVolumeClaim.ClaimName + "/" + s.PersistentVolumeClaim.SubPath
	case s.Image != nil:
		return s.Image.Reference
	}
	return ""
}

// byproducts are what the run left besides its outputs: the Job, the Pod
// and the outcome. Empty values are left out.
func byproducts(trial *crucible.Trial, run Run) ([]*intoto.ResourceDescriptor, error) {
	var out []*intoto.ResourceDescriptor
	add := func(name string, ann map[string]any) error {
		for k, v := range ann {
			if v == "" {
				delete(ann, k)
			}
		}
		if len(ann) == 0 {
			return nil
		}
		a, err := annotations(ann)
		if err != nil {
			return err
		}
		out = append(out, &intoto.ResourceDescriptor{Name: name, Annotations: a})
		return nil
	}
	exitCode := ""
	if run.ExitCode != nil {
		exitCode = strconv.FormatInt(int64(*run.ExitCode), 10)
	}
	if a := trial.Status.Artifacts; a != nil && a.ManifestDigest == "" && a.URI != "" {
		// Without a manifest digest the artifacts are no subject, but
		// where they are is still worth recording.
		out = append(out, &intoto.ResourceDescriptor{Name: byproductArtsURI, Uri: a.URI})
	}
	for _, b := range []struct {
		name string
		ann  map[string]any
	}{
		{byproductJob, map[string]any{"name": trial.Status.JobName, "uid": run.JobUID}},
		{byproductPod, map[string]any{
			"uid":          run.PodUID,
			"node":         run.NodeName,
			"gpu":          run.GPU,
			"instanceType": run.InstanceType,
			"exitCode":     exitCode,
		}},
		{byproductOutcome, map[string]any{
			"phase":   string(trial.Status.Phase),
			"reason":  trial.Status.Reason,
			"message": trial.Status.Message,
		}},
	} {
		if err := add(b.name, b.ann); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Marshal returns the Statement's canonical bytes, the DSSE payload:
// protojson's encoding re-encoded compact, with object keys sorted and
// without HTML escaping. protojson alone varies its whitespace on purpose,
// so its bytes cannot be a record's.
func Marshal(st *intoto.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding the statement: %w", err)
	}
	out, err := canonjson.Reencode(raw)
	if err != nil {
		return nil, fmt.Errorf("re-encoding the statement: %w", err)
	}
	return out, nil
}

// Digest returns "sha256:<hex>" of a payload: a Trial's
// status.provenance.digest.
func Digest(payload []byte) string {
	sum := sha256.Sum256(payload)
	return sha256Prefix + hex.EncodeToString(sum[:])
}

// toStruct converts the provenance into the Statement's predicate.
func toStruct(prov *slsa.Provenance) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(prov)
	if err != nil {
		return nil, fmt.Errorf("encoding the provenance: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("encoding the provenance: %w", err)
	}
	return s, nil
}

// annotations makes a resource descriptor's annotations.
func annotations(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("encoding annotations: %w", err)
	}
	return s, nil
}

// timestamp is a Kubernetes time as it is stored, to the second; nil when
// unset.
func timestamp(t *metav1.Time) *timestamppb.Timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	return timestamppb.New(t.UTC().Truncate(time.Second))
}

// imageSHA256 returns the hex digest of an image reference pinned by
// digest: "<repository>@sha256:<hex>".
func imageSHA256(image string) (string, error) {
	_, digest, ok := strings.Cut(image, "@")
	if !ok {
		return "", fmt.Errorf("image %q is not pinned by digest", image)
	}
	hexDigest, err := sha256Hex(digest)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	return hexDigest, nil
}

// sha256Hex returns the hex part of "sha256:<64 hex digits>".
func sha256Hex(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, sha256Prefix)
	if !ok || len(h) != 2*sha256.Size || strings.ToLower(h) != h {
		return "", fmt.Errorf("%q is not sha256:<64 lowercase hex digits>", digest)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("%q is not sha256:<64 lowercase hex digits>", digest)
	}
	return h, nil
}

// stringList makes a Struct list of strings.
func stringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = valid(s)
	}
	return out
}

// valid replaces bytes that are not UTF-8, which protobuf strings cannot
// hold, with U+FFFD.
func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
