package provenance

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// TestRecordRoundTrip reads back what a record says:
// Read(Envelope(Marshal(Statement(in)))).
func TestRecordRoundTrip(t *testing.T) {
	in := richInputs(t)
	s, pub := newSigner(t)
	line := envelopeOf(t, s, in)
	got, err := Verify(t.Context(), line, pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// The spec is the pinned part of the Experiment's: what the digest
	// covers, with the CRD's defaults filled in.
	wantSpec := in.Experiment.Spec.DeepCopy()
	wantSpec.Parallelism = 0
	wantSpec.Artifacts = nil
	wantSpec.Dataset.Verify = ""
	wantSpec.Search.Algorithm = crucible.SearchGrid
	wantSpec.Dataset.MountPath = "/data"
	wantSpec.Parameters[0].Float.Min, wantSpec.Parameters[0].Float.Max = "1e-3", "1e-1"
	want := &Record{
		PayloadDigest: Digest(payloadOf(t, in)),
		Signed:        true,
		Verified:      true,
		KeyID:         s.KeyID(),
		Experiment:    Object{Namespace: "vision", Name: "resnet-sweep", UID: "6f1c2a3e-0000-4000-8000-000000000001"},
		Trial:         Object{Namespace: "vision", Name: "resnet-sweep-0a1b2c3d4e5f", UID: "6f1c2a3e-0000-4000-8000-000000000002"},
		SpecDigest:    in.Experiment.Status.SpecDigest,
		Spec:          wantSpec,
		Parameters:    in.Trial.Spec.Parameters,
		Seed:          43,
		Index:         13,
		Metrics:       map[string]string{"accuracy": "0.9312", "loss": "0.231", "epochs": "90"},
		Artifacts: &Artifacts{
			URI:            in.Trial.Status.Artifacts.URI,
			ManifestDigest: "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
			Objects:        ptr.To[int64](3),
			Bytes:          ptr.To[int64](94371840),
		},
		Image: in.Experiment.Spec.Image,
		Dataset: &Dataset{
			Name:      "imagenet",
			Version:   "2012",
			URI:       "pvc://datasets/imagenet/2012",
			Digest:    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
			MountPath: "/data",
			Verification: Verification{
				Policy:  crucible.DatasetVerifyAlways,
				Status:  crucible.ReasonDigestMatched,
				Message: "the dataset has digest sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
				Time:    &verifiedAt,
			},
		},
		Source:     &crucible.SourceSpec{Repository: "https://github.com/example/vision.git", Commit: "89abcdef0123456789abcdef0123456789abcdef"},
		Builder:    in.Builder,
		Run:        in.Run,
		Outcome:    Outcome{Phase: crucible.TrialSucceeded, Reason: crucible.ReasonMetricsRecorded, Message: "exited 0 with 3 metrics"},
		StartedOn:  &startedAt,
		FinishedOn: &completedAt,
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(Record{}, "Statement", "Provenance"),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if d, err := specdigest.Compute(got.Spec); err != nil || d != got.SpecDigest {
		t.Errorf("the read spec's digest is %s (%v); want %s", d, err, got.SpecDigest)
	}

	// Without anything optional.
	in.Experiment.Spec.Dataset, in.Experiment.Spec.Source = nil, nil
	in.Experiment.Status = crucible.ExperimentStatus{}
	in.Trial.Spec.DatasetDigest, in.Trial.Spec.ExperimentDigest = "", ""
	in.Trial.Status = crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonExitCode, Artifacts: &crucible.TrialArtifacts{URI: "pvc://runs/x/"}}
	in.Run = Run{ExitCode: ptr.To[int32](137)}
	got, err = Read(envelopeOf(t, nil, in))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got.Dataset != nil || got.Source != nil || len(got.Metrics) != 0 || got.StartedOn != nil {
		t.Errorf("dataset %v, source %v, metrics %v, started %v; want none", got.Dataset, got.Source, got.Metrics, got.StartedOn)
	}
	if diff := cmp.Diff(&Artifacts{URI: "pvc://runs/x/"}, got.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Run{ExitCode: ptr.To[int32](137)}, got.Run); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
}

// TestReadRefuses checks that Read refuses records that are malformed or
// say something that does not hold together.
func TestReadRefuses(t *testing.T) {
	line := envelopeOf(t, nil, richInputs(t))
	envelope := func(payloadType, payload string) []byte {
		return []byte(`{"payloadType":"` + payloadType + `","payload":"` + payload + `","signatures":[]}` + "\n")
	}
	payload := base64.StdEncoding.EncodeToString(payloadOf(t, richInputs(t)))
	otherSpec := func(st map[string]any) {
		spec := richInputs(t).Experiment.Spec
		spec.Seeds.Base = 7
		b, err := specdigest.Canonical(&spec)
		if err != nil {
			t.Fatal(err)
		}
		ext := at(t, st, "predicate", "buildDefinition", "externalParameters")
		ext["spec"] = string(b)
		ext["specDigest"] = specdigest.Of(b)
	}
	tests := []struct {
		name    string
		line    []byte
		wantErr string
	}{
		{"empty", nil, "the record is empty"},
		{"not JSON", []byte("hello\n"), "not a DSSE envelope"},
		{"a JSON list", []byte("[]\n"), "not a DSSE envelope"},
		{"two lines", append(bytes.Clone(line), line...), "not a DSSE envelope: data after the JSON value"},
		{"too big", append(bytes.Repeat([]byte(" "), MaxEnvelopeSize), line...), "more than the 4194304 a record may have"},
		{"unknown key", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[],"extra":1}`), `unknown key "extra"`},
		{"key in another case", []byte(`{"PayloadType":"application/vnd.in-toto+json","payload":"","signatures":[]}`), `unknown key "PayloadType"`},
		{"no signatures", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":""}`), `missing key "signatures"`},
		{"null signatures", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":null}`), `"signatures" is not a list`},
		{"wrong payloadType", envelope("application/json", payload), `payloadType is "application/json", not an in-toto Statement's`},
		{"payload with a line break", envelope(PayloadType, payload[:8]+`\n`+payload[8:]), "the envelope's payload: not canonical base64"},
		{"payload not base64", envelope(PayloadType, "%%%"), "the envelope's payload: not canonical base64"},
		{"payload not a Statement", envelope(PayloadType, base64.StdEncoding.EncodeToString([]byte(`{"a":1}`))), "the payload is not an in-toto Statement"},
		{
			"Statement v0.1",
			rewrite(t, line, func(st map[string]any) { st["_type"] = "https://in-toto.io/Statement/v0.1" }),
			`the payload's _type is "https://in-toto.io/Statement/v0.1"`,
		},
		{
			"wrong predicateType",
			rewrite(t, line, func(st map[string]any) { st["predicateType"] = "https://slsa.dev/provenance/v0.2" }),
			`the Statement's predicateType is "https://slsa.dev/provenance/v0.2", not "https://slsa.dev/provenance/v1"`,
		},
		{
			"wrong buildType",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition")["buildType"] = "https://example.com/other"
			}),
			`the provenance's buildType is "https://example.com/other"`,
		},
		{
			"unknown predicate field",
			rewrite(t, line, func(st map[string]any) { at(t, st, "predicate")["extra"] = "x" }),
			"the predicate is not SLSA Provenance v1",
		},
		{
			"tampered metrics",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "subject", "metrics.json", "annotations", "metrics")["accuracy"] = "0.99"
			}),
			"the metrics' digest is sha256:",
		},
		{
			"a metric added",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "subject", "metrics.json", "annotations", "metrics")["f1"] = "0.5"
			}),
			"the metrics' digest is sha256:",
		},
		{
			"metric not a string",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "subject", "metrics.json", "annotations", "metrics")["accuracy"] = 0.9312
			}),
			"subject metrics.json annotations.metrics.accuracy is not a string",
		},
		{
			"no metrics subject",
			rewrite(t, line, func(st map[string]any) { st["subject"] = st["subject"].([]any)[:1] }),
			"the Statement has no subject metrics.json",
		},
		{
			"tampered spec",
			rewrite(t, line, func(st map[string]any) {
				ext := at(t, st, "predicate", "buildDefinition", "externalParameters")
				ext["spec"] = strings.Replace(ext["spec"].(string), `"base":42`, `"base":7`, 1)
			}),
			"not the recorded specDigest",
		},
		{
			"tampered specDigest",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "externalParameters")["specDigest"] = "sha256:" + strings.Repeat("0", 64)
			}),
			"not the recorded specDigest",
		},
		{
			"spec not canonical",
			rewrite(t, line, func(st map[string]any) {
				ext := at(t, st, "predicate", "buildDefinition", "externalParameters")
				spec := " " + ext["spec"].(string)
				ext["spec"], ext["specDigest"] = spec, specdigest.Of([]byte(spec))
			}),
			"the recorded spec does not read back to the same bytes",
		},
		{
			"spec with an unknown field",
			rewrite(t, line, func(st map[string]any) {
				ext := at(t, st, "predicate", "buildDefinition", "externalParameters")
				spec := `{"future":1,` + ext["spec"].(string)[1:]
				ext["spec"], ext["specDigest"] = spec, specdigest.Of([]byte(spec))
			}),
			`decoding the recorded spec: json: unknown field "future"`,
		},
		{
			"another spec than the dependencies",
			rewrite(t, line, otherSpec),
			"", // consistent: the dependencies do not depend on seeds
		},
		{
			"image not the spec's",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "resolvedDependencies", "image")["uri"] = "other@sha256:" + strings.Repeat("0", 64)
			}),
			"resolved dependency image is",
		},
		{
			"dataset digest not the spec's",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "resolvedDependencies", "dataset", "digest")["sha256"] = strings.Repeat("0", 64)
			}),
			"resolved dependency dataset has digest sha256:0000",
		},
		{
			"source commit not the spec's",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "resolvedDependencies", "source", "digest")["gitCommit"] = strings.Repeat("0", 40)
			}),
			"resolved dependency source is git+https://github.com/example/vision.git at 0000",
		},
		{
			"parameter missing",
			rewrite(t, line, func(st map[string]any) {
				delete(at(t, st, "predicate", "buildDefinition", "externalParameters", "trial", "parameters"), "lr")
			}),
			`externalParameters.trial.parameters has no value of the spec's parameter "lr"`,
		},
		{
			"parameter extra",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "externalParameters", "trial", "parameters")["momentum"] = "0.9"
			}),
			`externalParameters.trial.parameters has ["momentum"], which the spec has not`,
		},
		{
			"seed not decimal",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "buildDefinition", "externalParameters", "trial")["seed"] = "0x2b"
			}),
			`externalParameters.trial.seed is "0x2b", not a non-negative decimal integer`,
		},
		{
			"no experiment",
			rewrite(t, line, func(st map[string]any) {
				delete(at(t, st, "predicate", "buildDefinition", "internalParameters"), "experiment")
			}),
			"internalParameters.experiment is missing",
		},
		{
			"exit code not a number",
			rewrite(t, line, func(st map[string]any) {
				at(t, st, "predicate", "runDetails", "byproducts", "pod", "annotations")["exitCode"] = "one"
			}),
			`byproduct pod annotations.exitCode is "one", not a decimal integer`,
		},
		{
			"unknown subject",
			rewrite(t, line, func(st map[string]any) {
				st["subject"] = append(st["subject"].([]any), map[string]any{"name": "model", "digest": map[string]any{"sha256": strings.Repeat("0", 64)}})
			}),
			`unknown subject "model"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Read(tc.line)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Read: %v; want it read", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Read: error %v; want one containing %q", err, tc.wantErr)
			}
			if r != nil {
				t.Errorf("Read returned a record with its error")
			}
		})
	}
}

// TestReadTimes checks that times read back in UTC to the second.
func TestReadTimes(t *testing.T) {
	in := richInputs(t)
	in.Trial.Status.CompletionTime.Time = completedAt.In(time.FixedZone("CET", 3600)).Add(500 * time.Millisecond)
	r, err := Read(envelopeOf(t, nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if !r.FinishedOn.Equal(completedAt) || r.FinishedOn.Location() != time.UTC {
		t.Errorf("FinishedOn %v; want %v", r.FinishedOn, completedAt)
	}
}
