package provenance

import (
	"bytes"
	"encoding/json"
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

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// Record is what a trial's provenance says, read from its envelope alone
// and checked for consistency: the spec against its digest, the metrics
// against theirs, the dependencies against the spec. It has what running
// the trial again needs: the spec, the parameters and the seed.
type Record struct {
	// Statement is the in-toto Statement, as read.
	Statement *intoto.Statement
	// Provenance is its predicate.
	Provenance *slsa.Provenance
	// PayloadDigest is "sha256:<hex>" of the Statement's bytes: the
	// Trial's status.provenance.digest.
	PayloadDigest string
	// Signed says the envelope carries a signature.
	Signed bool
	// Verified says Verify checked the signature against its key.
	Verified bool
	// KeyID is the key ID of the signature Verify accepted, or as the
	// envelope's first signature gives it when Read did not check it.
	KeyID string

	// Experiment is the trial's Experiment.
	Experiment Object
	// Trial is the trial; its namespace is the Experiment's.
	Trial Object
	// SpecDigest is the Experiment's spec digest.
	SpecDigest string
	// Spec is the Experiment's pinned spec, decoded from the exact bytes
	// SpecDigest was computed over. Fields outside the digest (parallelism,
	// retention, artifacts, dataset.verify) are not in it.
	Spec *crucible.ExperimentSpec
	// Parameters is the trial's point, in the order of Spec.Parameters.
	Parameters []crucible.ParameterAssignment
	// Seed is the trial's seed.
	Seed int64
	// Index is the trial's index in the search space.
	Index int64
	// Metrics are the metrics the trial reported, as decimal strings;
	// empty when it reported none.
	Metrics map[string]string
	// Artifacts is where the trial wrote, with the digest of their
	// manifest for an s3 store; nil when it had no artifact store.
	Artifacts *Artifacts
	// Image is the trainer image, pinned by digest.
	Image string
	// Dataset is the dataset and how it was verified; nil without one.
	Dataset *Dataset
	// Source is the source code the image was built from; nil when the
	// spec does not name it.
	Source *crucible.SourceSpec
	// Builder is the operator that ran the trial.
	Builder Builder
	// Run is where the trial ran.
	Run Run
	// Outcome is how the trial ended.
	Outcome Outcome
	// StartedOn and FinishedOn are when the run started and ended.
	StartedOn, FinishedOn *time.Time
}

// Object names a Kubernetes object.
type Object struct {
	Namespace string
	Name      string
	UID       string
}

// Artifacts is where a trial wrote its artifacts.
type Artifacts struct {
	// URI is the trial's CRUCIBLE_ARTIFACT_URI.
	URI string
	// ManifestDigest is "sha256:<hex>" of the listing of what it wrote
	// (s3 stores); empty otherwise.
	ManifestDigest string
	// Objects and Bytes count what it wrote (s3 stores).
	Objects, Bytes *int64
}

// Dataset is a trial's dataset.
type Dataset struct {
	Name      string
	Version   string
	URI       string
	Digest    string
	MountPath string
	// Verification is how the operator checked Digest before the trials.
	Verification Verification
}

// Verification is how a dataset's digest was checked.
type Verification struct {
	// Policy is spec.dataset.verify.
	Policy crucible.DatasetVerifyPolicy
	// Status is the reason of the Experiment's DatasetVerified condition
	// (DigestMatched, VerificationDisabled, ...); empty when it had none.
	Status string
	// Message is the condition's message.
	Message string
	// Time is the condition's last transition.
	Time *time.Time
}

// Outcome is how a trial ended.
type Outcome struct {
	Phase   crucible.TrialPhase
	Reason  string
	Message string
}

// parseStatement reads and checks a Statement's bytes.
func parseStatement(payload []byte) (*Record, error) {
	st := &intoto.Statement{}
	if err := protojson.Unmarshal(payload, st); err != nil {
		return nil, fmt.Errorf("the payload is not an in-toto Statement: %w", err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		return nil, fmt.Errorf("the payload's _type is %q, not %q", st.GetType(), intoto.StatementTypeUri)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("invalid in-toto Statement: %w", err)
	}
	if st.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("the Statement's predicateType is %q, not %q", st.GetPredicateType(), PredicateType)
	}
	raw, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("the predicate: %w", err)
	}
	prov := &slsa.Provenance{}
	if err := protojson.Unmarshal(raw, prov); err != nil {
		return nil, fmt.Errorf("the predicate is not SLSA Provenance v1: %w", err)
	}
	if err := prov.Validate(); err != nil {
		return nil, fmt.Errorf("invalid SLSA Provenance: %w", err)
	}
	def := prov.GetBuildDefinition()
	if def.GetBuildType() != BuildType {
		return nil, fmt.Errorf("the provenance's buildType is %q, not %q", def.GetBuildType(), BuildType)
	}

	r := &Record{Statement: st, Provenance: prov, PayloadDigest: Digest(payload)}
	if err := errors.Join(
		r.readExternal(def.GetExternalParameters()),
		r.readInternal(def.GetInternalParameters()),
	); err != nil {
		return nil, err
	}
	if err := errors.Join(
		r.readSubjects(st.GetSubject()),
		r.readDependencies(def.GetResolvedDependencies()),
		r.readRunDetails(prov.GetRunDetails()),
	); err != nil {
		return nil, err
	}
	return r, nil
}

// readExternal reads the spec, checked against its digest, and the
// trial's point.
func (r *Record) readExternal(ext *structpb.Struct) error {
	p := "externalParameters"
	var err error
	if r.SpecDigest, err = str(ext, p, "specDigest", true); err != nil {
		return err
	}
	spec, err := str(ext, p, "spec", true)
	if err != nil {
		return err
	}
	if got := specdigest.Of([]byte(spec)); got != r.SpecDigest {
		return fmt.Errorf("the spec's digest is %s, not the recorded specDigest %s: the record was changed", got, r.SpecDigest)
	}
	if r.Spec, err = decodeSpec(spec); err != nil {
		return err
	}

	trial, err := obj(ext, p, "trial", true)
	if err != nil {
		return err
	}
	p += ".trial"
	if r.Seed, err = decimal(trial, p, "seed"); err != nil {
		return err
	}
	if r.Index, err = decimal(trial, p, "index"); err != nil {
		return err
	}
	params, err := obj(trial, p, "parameters", false)
	if err != nil {
		return err
	}
	values, err := stringMap(params, p+".parameters")
	if err != nil {
		return err
	}
	for _, sp := range r.Spec.Parameters {
		v, ok := values[sp.Name]
		if !ok {
			return fmt.Errorf("%s.parameters has no value of the spec's parameter %q", p, sp.Name)
		}
		r.Parameters = append(r.Parameters, crucible.ParameterAssignment{Name: sp.Name, Value: v})
		delete(values, sp.Name)
	}
	if len(values) > 0 {
		return fmt.Errorf("%s.parameters has %q, which the spec has not", p, slices.Sorted(maps.Keys(values)))
	}
	return nil
}

// decodeSpec decodes the canonical spec and checks it encodes back to the
// same bytes, so that nothing of it was lost (a field of a newer version).
func decodeSpec(canonical string) (*crucible.ExperimentSpec, error) {
	dec := json.NewDecoder(strings.NewReader(canonical))
	dec.DisallowUnknownFields()
	spec := &crucible.ExperimentSpec{}
	if err := dec.Decode(spec); err != nil {
		return nil, fmt.Errorf("decoding the recorded spec: %w", err)
	}
	again, err := specdigest.Canonical(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the recorded spec: %w", err)
	}
	if !bytes.Equal(again, []byte(canonical)) {
		return nil, errors.New("the recorded spec does not read back to the same bytes: not canonical, or written by a newer version")
	}
	return spec, nil
}

// readInternal reads the names of the Experiment and the trial.
func (r *Record) readInternal(in *structpb.Struct) error {
	p := "internalParameters"
	exp, err := obj(in, p, "experiment", true)
	if err != nil {
		return err
	}
	trial, err := obj(in, p, "trial", true)
	if err != nil {
		return err
	}
	var errs [4]error
	r.Experiment.Namespace, errs[0] = str(exp, p+".experiment", "namespace", true)
	r.Experiment.Name, errs[1] = str(exp, p+".experiment", "name", true)
	r.Experiment.UID, errs[2] = str(exp, p+".experiment", "uid", false)
	r.Trial.Name, errs[3] = str(trial, p+".trial", "name", true)
	r.Trial.Namespace = r.Experiment.Namespace
	return errors.Join(errs[:]...)
}

// readSubjects reads the metrics, checked against their digest, and the
// artifacts.
func (r *Record) readSubjects(subjects []*intoto.ResourceDescriptor) error {
	seen := map[string]bool{}
	for _, s := range subjects {
		if seen[s.GetName()] {
			return fmt.Errorf("subject %q appears twice", s.GetName())
		}
		seen[s.GetName()] = true
		switch s.GetName() {
		case subjectMetrics:
			metrics, err := obj(s.GetAnnotations(), "subject metrics.json annotations", "metrics", true)
			if err != nil {
				return err
			}
			if r.Metrics, err = stringMap(metrics, "subject metrics.json annotations.metrics"); err != nil {
				return err
			}
			if want, got := s.GetDigest()[algSHA256], metricsDigest(r.Metrics); want != got {
				return fmt.Errorf("the metrics' digest is sha256:%s, not the recorded sha256:%s: the record was changed", got, want)
			}
		case subjectArtifacts:
			d, ok := s.GetDigest()[algSHA256]
			if !ok {
				return errors.New("subject artifacts has no sha256 digest")
			}
			r.Artifacts = &Artifacts{URI: s.GetUri(), ManifestDigest: sha256Prefix + d}
			var err error
			if r.Artifacts.Objects, err = optionalDecimal(s.GetAnnotations(), "subject artifacts annotations", "objects"); err != nil {
				return err
			}
			if r.Artifacts.Bytes, err = optionalDecimal(s.GetAnnotations(), "subject artifacts annotations", "bytes"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown subject %q", s.GetName())
		}
	}
	if !seen[subjectMetrics] {
		return errors.New("the Statement has no subject metrics.json")
	}
	return nil
}

// readDependencies reads the image, the dataset and the source, and checks
// them against the spec.
func (r *Record) readDependencies(deps []*intoto.ResourceDescriptor) error {
	if r.Spec == nil {
		return nil // readExternal failed
	}
	byName := map[string]*intoto.ResourceDescriptor{}
	for _, d := range deps {
		if _, dup := byName[d.GetName()]; dup {
			return fmt.Errorf("resolved dependency %q appears twice", d.GetName())
		}
		switch d.GetName() {
		case depImage, depDataset, depSource:
		default:
			return fmt.Errorf("unknown resolved dependency %q", d.GetName())
		}
		byName[d.GetName()] = d
	}

	img := byName[depImage]
	if img == nil {
		return errors.New("the provenance has no resolved dependency image")
	}
	if img.GetUri() != r.Spec.Image {
		return fmt.Errorf("resolved dependency image is %q, not the spec's %q", img.GetUri(), r.Spec.Image)
	}
	if want, err := imageSHA256(r.Spec.Image); err != nil || img.GetDigest()[algSHA256] != want {
		return fmt.Errorf("resolved dependency image's digest is not the one its reference %q pins", r.Spec.Image)
	}
	r.Image = img.GetUri()

	ds := byName[depDataset]
	switch sd := r.Spec.Dataset; {
	case sd == nil && ds != nil:
		return errors.New("resolved dependency dataset is not in the spec")
	case sd != nil && ds == nil:
		return errors.New("the spec's dataset is not among the resolved dependencies")
	case sd != nil:
		if got := sha256Prefix + ds.GetDigest()[algSHA256]; got != sd.Digest {
			return fmt.Errorf("resolved dependency dataset has digest %s, not the spec's %s", got, sd.Digest)
		}
		if err := r.readDataset(ds); err != nil {
			return err
		}
	}

	src := byName[depSource]
	switch ss := r.Spec.Source; {
	case ss == nil && src != nil:
		return errors.New("resolved dependency source is not in the spec")
	case ss != nil && src == nil:
		return errors.New("the spec's source is not among the resolved dependencies")
	case ss != nil:
		if src.GetUri() != gitURIPrefix+ss.Repository || src.GetDigest()[algGitCommit] != ss.Commit {
			return fmt.Errorf("resolved dependency source is %s at %s, not the spec's %s at %s",
				src.GetUri(), src.GetDigest()[algGitCommit], ss.Repository, ss.Commit)
		}
		r.Source = ss.DeepCopy()
	}
	return nil
}

// readDataset reads the dataset's annotations.
func (r *Record) readDataset(d *intoto.ResourceDescriptor) error {
	p := "resolved dependency dataset annotations"
	ann := d.GetAnnotations()
	ds := &Dataset{URI: d.GetUri(), Digest: sha256Prefix + d.GetDigest()[algSHA256]}
	var errs [3]error
	ds.Name, errs[0] = str(ann, p, "name", true)
	ds.Version, errs[1] = str(ann, p, "version", true)
	ds.MountPath, errs[2] = str(ann, p, "mountPath", false)
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	v, err := obj(ann, p, "verification", true)
	if err != nil {
		return err
	}
	p += ".verification"
	policy, err := str(v, p, "policy", true)
	if err != nil {
		return err
	}
	ds.Verification.Policy = crucible.DatasetVerifyPolicy(policy)
	if ds.Verification.Status, err = str(v, p, "status", false); err != nil {
		return err
	}
	if ds.Verification.Message, err = str(v, p, "message", false); err != nil {
		return err
	}
	if ds.Verification.Time, err = rfc3339(v, p, "time"); err != nil {
		return err
	}
	r.Dataset = ds
	return nil
}

// readRunDetails reads the builder, the times and the byproducts.
func (r *Record) readRunDetails(rd *slsa.RunDetails) error {
	r.Builder = Builder{ID: rd.GetBuilder().GetId(), Version: rd.GetBuilder().GetVersion()[builderVersion]}
	md := rd.GetMetadata()
	r.Trial.UID = md.GetInvocationId()
	if t := md.GetStartedOn(); t != nil {
		v := t.AsTime()
		r.StartedOn = &v
	}
	if t := md.GetFinishedOn(); t != nil {
		v := t.AsTime()
		r.FinishedOn = &v
	}
	for _, b := range rd.GetByproducts() {
		ann := b.GetAnnotations()
		p := "byproduct " + b.GetName() + " annotations"
		var errs [5]error
		switch b.GetName() {
		case byproductJob:
			r.Run.JobUID, errs[0] = str(ann, p, "uid", false)
		case byproductPod:
			r.Run.PodUID, errs[0] = str(ann, p, "uid", false)
			r.Run.NodeName, errs[1] = str(ann, p, "node", false)
			r.Run.GPU, errs[2] = str(ann, p, "gpu", false)
			r.Run.InstanceType, errs[3] = str(ann, p, "instanceType", false)
			var code *int64
			code, errs[4] = optionalInt(ann, p, "exitCode", 32)
			if code != nil {
				c := int32(*code)
				r.Run.ExitCode = &c
			}
		case byproductOutcome:
			var phase string
			phase, errs[0] = str(ann, p, "phase", false)
			r.Outcome.Phase = crucible.TrialPhase(phase)
			r.Outcome.Reason, errs[1] = str(ann, p, "reason", false)
			r.Outcome.Message, errs[2] = str(ann, p, "message", false)
		case byproductArtsURI:
			if r.Artifacts == nil {
				r.Artifacts = &Artifacts{URI: b.GetUri()}
			}
		}
		if err := errors.Join(errs[:]...); err != nil {
			return err
		}
	}
	return nil
}

// str returns a string member of s; "" when it is missing and not
// required.
func str(s *structpb.Struct, path, key string, required bool) (string, error) {
	v, ok := s.GetFields()[key]
	if !ok {
		if required {
			return "", fmt.Errorf("%s.%s is missing", path, key)
		}
		return "", nil
	}
	sv, ok := v.GetKind().(*structpb.Value_StringValue)
	if !ok {
		return "", fmt.Errorf("%s.%s is not a string", path, key)
	}
	return sv.StringValue, nil
}

// obj returns an object member of s; nil when it is missing and not
// required.
func obj(s *structpb.Struct, path, key string, required bool) (*structpb.Struct, error) {
	v, ok := s.GetFields()[key]
	if !ok {
		if required {
			return nil, fmt.Errorf("%s.%s is missing", path, key)
		}
		return nil, nil
	}
	sv, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, fmt.Errorf("%s.%s is not an object", path, key)
	}
	return sv.StructValue, nil
}

// stringMap returns an object of strings as a map; empty, never nil.
func stringMap(s *structpb.Struct, path string) (map[string]string, error) {
	out := map[string]string{}
	for k := range s.GetFields() {
		v, err := str(s, path, k, true)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// decimal returns a required member written as a non-negative decimal
// integer.
func decimal(s *structpb.Struct, path, key string) (int64, error) {
	v, err := str(s, path, key, true)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
		return 0, fmt.Errorf("%s.%s is %q, not a non-negative decimal integer", path, key, v)
	}
	return n, nil
}

// optionalDecimal returns a non-negative decimal member, nil when missing.
func optionalDecimal(s *structpb.Struct, path, key string) (*int64, error) {
	if _, ok := s.GetFields()[key]; !ok {
		return nil, nil
	}
	n, err := decimal(s, path, key)
	return &n, err
}

// optionalInt returns a decimal member of bitSize bits, nil when missing.
func optionalInt(s *structpb.Struct, path, key string, bitSize int) (*int64, error) {
	v, err := str(s, path, key, false)
	if err != nil || v == "" {
		return nil, err
	}
	n, err := strconv.ParseInt(v, 10, bitSize)
	if err != nil {
		return nil, fmt.Errorf("%s.%s is %q, not a decimal integer", path, key, v)
	}
	return &n, nil
}

// rfc3339 returns a time member, nil when missing.
func rfc3339(s *structpb.Struct, path, key string) (*time.Time, error) {
	v, err := str(s, path, key, false)
	if err != nil || v == "" {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("%s.%s is %q, not an RFC 3339 time", path, key, v)
	}
	return &t, nil
}
