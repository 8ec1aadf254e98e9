package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// update rewrites the golden files from what the code writes now:
//
//	go test ./internal/provenance/ -run TestStatementGolden -update
//
// Only after a deliberate change of the format: a record already written
// must keep reading the same, and its buildType names the layout.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

const goldenFile = "testdata/statement.golden.json"

// TestStatementGolden compares the canonical bytes of the rich fixture's
// Statement with the golden file, byte for byte.
func TestStatementGolden(t *testing.T) {
	got := payloadOf(t, richInputs(t))
	path := filepath.FromSlash(goldenFile)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the Statement's bytes changed (-want +got):\n%s", cmp.Diff(lines(t, want), lines(t, got)))
		if bytes.Equal(indentBytes(t, got), indentBytes(t, want)) {
			t.Errorf("the documents are equal but their bytes differ: the encoding changed")
		}
	}
}

func indentBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return buf.Bytes()
}

func indent(t *testing.T, b []byte) string { return string(indentBytes(t, b)) }

// lines is a document indented, a line per element, for a readable diff.
func lines(t *testing.T, b []byte) []string { return strings.Split(indent(t, b), "\n") }

// TestMarshalStable checks that the same input gives the same bytes,
// whatever the order maps are filled in, and that they are canonical.
func TestMarshalStable(t *testing.T) {
	first := payloadOf(t, richInputs(t))
	for i := range 20 {
		in := richInputs(t)
		// The same metrics, inserted in another order each time.
		m := map[string]string{}
		keys := []string{"loss", "epochs", "accuracy"}
		for j := range keys {
			k := keys[(i+j)%len(keys)]
			m[k] = in.Trial.Status.Metrics[k]
		}
		in.Trial.Status.Metrics = m
		if got := payloadOf(t, in); !bytes.Equal(got, first) {
			t.Fatalf("run %d gave other bytes:\n%s", i, cmp.Diff(indent(t, first), indent(t, got)))
		}
	}
	// Canonical: compact, keys sorted, no HTML escaping.
	var buf bytes.Buffer
	if err := json.Compact(&buf, first); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), first) {
		t.Errorf("the bytes are not compact")
	}
	for _, s := range []string{`\u003c`, `\u0026`} {
		if bytes.Contains(first, []byte(s)) {
			t.Errorf("the bytes escape HTML: %s", s)
		}
	}
	if !bytes.Contains(first, []byte(`<a & b>`)) {
		t.Errorf("the env value with HTML characters is not written as is")
	}
}

// TestStatement checks the parts of a Statement that depend on the input.
func TestStatement(t *testing.T) {
	emptyMetrics := sha256.Sum256([]byte("{}"))
	tests := []struct {
		name   string
		change func(in *Inputs)
		// check looks at the Statement as plain JSON.
		check func(t *testing.T, st map[string]any)
	}{
		{
			name: "rich",
			check: func(t *testing.T, st map[string]any) {
				want := map[string]any{
					"name": "metrics.json",
					"digest": map[string]any{"sha256": hexSHA256(
						`{"accuracy":"0.9312","epochs":"90","loss":"0.231"}`)},
					"annotations": map[string]any{"metrics": map[string]any{"accuracy": "0.9312", "epochs": "90", "loss": "0.231"}},
				}
				if diff := cmp.Diff(want, at(t, st, "subject", "metrics.json")); diff != "" {
					t.Errorf("metrics subject (-want +got):\n%s", diff)
				}
				want = map[string]any{
					"name":   "dataset",
					"uri":    "pvc://datasets/imagenet/2012",
					"digest": map[string]any{"sha256": "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
					"annotations": map[string]any{
						"name": "imagenet", "version": "2012", "mountPath": "/data",
						"verification": map[string]any{
							"policy":  "Always",
							"status":  "DigestMatched",
							"message": "the dataset has digest sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
							"time":    "2026-03-01T09:59:30Z",
						},
					},
				}
				if diff := cmp.Diff(want, at(t, st, "predicate", "buildDefinition", "resolvedDependencies", "dataset")); diff != "" {
					t.Errorf("dataset (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "nothing optional",
			change: func(in *Inputs) {
				in.Experiment.Spec.Dataset = nil
				in.Experiment.Spec.Source = nil
				in.Experiment.Spec.Command, in.Experiment.Spec.Args, in.Experiment.Spec.Env = nil, nil, nil
				in.Experiment.Spec.Parameters = nil
				in.Experiment.Status = crucible.ExperimentStatus{}
				in.Trial.Spec.Parameters = nil
				in.Trial.Spec.DatasetDigest, in.Trial.Spec.ExperimentDigest = "", ""
				in.Trial.Status = crucible.TrialStatus{Phase: crucible.TrialFailed}
				in.Builder.Version = ""
				in.Run = Run{}
			},
			check: func(t *testing.T, st map[string]any) {
				subjects := st["subject"].([]any)
				want := []any{map[string]any{
					"name":        "metrics.json",
					"digest":      map[string]any{"sha256": hex.EncodeToString(emptyMetrics[:])},
					"annotations": map[string]any{"metrics": map[string]any{}},
				}}
				if diff := cmp.Diff(want, subjects); diff != "" {
					t.Errorf("subjects (-want +got):\n%s", diff)
				}
				def := at(t, st, "predicate", "buildDefinition")
				if n := len(def["resolvedDependencies"].([]any)); n != 1 {
					t.Errorf("%d resolved dependencies; want the image alone", n)
				}
				ext := at(t, st, "predicate", "buildDefinition", "externalParameters")
				for _, k := range []string{"command", "args", "env"} {
					if _, ok := ext[k]; ok {
						t.Errorf("externalParameters has an empty %s", k)
					}
				}
				run := at(t, st, "predicate", "runDetails")
				wantRun := map[string]any{
					"builder":    map[string]any{"id": "https://crucible.dev/operator"},
					"metadata":   map[string]any{"invocationId": "6f1c2a3e-0000-4000-8000-000000000002"},
					"byproducts": []any{map[string]any{"name": "outcome", "annotations": map[string]any{"phase": "Failed"}}},
				}
				if diff := cmp.Diff(wantRun, run); diff != "" {
					t.Errorf("runDetails (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "dataset image, verification disabled, pvc artifacts",
			change: func(in *Inputs) {
				d := in.Experiment.Spec.Dataset
				d.Source = crucible.DatasetSource{Image: &crucible.ImageDatasetSource{Reference: "registry.example.com/data/imagenet@sha256:" + strings.Repeat("1", 64)}}
				d.Verify = crucible.DatasetVerifyNever
				d.MountPath = "/mnt/in"
				in.Experiment.Status.SpecDigest = ""
				in.Trial.Spec.ExperimentDigest = ""
				in.Experiment.Status.Conditions = []metav1.Condition{{
					Type: crucible.ExperimentDatasetVerifiedCondition, Status: metav1.ConditionFalse,
					Reason: crucible.ReasonVerificationDisabled,
				}}
				in.Trial.Status.Artifacts = &crucible.TrialArtifacts{URI: "pvc://runs/vision/t/"}
			},
			check: func(t *testing.T, st map[string]any) {
				want := map[string]any{
					"name":   "dataset",
					"uri":    "registry.example.com/data/imagenet@sha256:" + strings.Repeat("1", 64),
					"digest": map[string]any{"sha256": "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
					"annotations": map[string]any{
						"name": "imagenet", "version": "2012", "mountPath": "/mnt/in",
						"verification": map[string]any{"policy": "Never", "status": "VerificationDisabled"},
					},
				}
				if diff := cmp.Diff(want, at(t, st, "predicate", "buildDefinition", "resolvedDependencies", "dataset")); diff != "" {
					t.Errorf("dataset (-want +got):\n%s", diff)
				}
				if n := len(st["subject"].([]any)); n != 1 {
					t.Errorf("%d subjects; want metrics.json alone without a manifest digest", n)
				}
				want = map[string]any{"name": "artifacts", "uri": "pvc://runs/vision/t/"}
				if diff := cmp.Diff(want, at(t, st, "predicate", "runDetails", "byproducts", "artifacts")); diff != "" {
					t.Errorf("artifacts byproduct (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "times are recorded to the second",
			change: func(in *Inputs) {
				in.Trial.Status.StartTime.Time = startedAt.Add(999_999_999)
			},
			check: func(t *testing.T, st map[string]any) {
				md := at(t, st, "predicate", "runDetails", "metadata")
				if got := md["startedOn"]; got != "2026-03-01T10:00:00Z" {
					t.Errorf("startedOn %v; want 2026-03-01T10:00:00Z", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := richInputs(t)
			if tc.change != nil {
				tc.change(&in)
			}
			var st map[string]any
			if err := json.Unmarshal(payloadOf(t, in), &st); err != nil {
				t.Fatal(err)
			}
			tc.check(t, st)
		})
	}
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestStatementErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(in *Inputs)
		wantErr string
	}{
		{"no Experiment", func(in *Inputs) { in.Experiment = nil }, "provenance needs the Experiment and the Trial"},
		{"no Trial", func(in *Inputs) { in.Trial = nil }, "provenance needs the Experiment and the Trial"},
		{"no builder", func(in *Inputs) { in.Builder.ID = "" }, "provenance needs the builder's ID"},
		{
			"status digest of another spec",
			func(in *Inputs) { in.Experiment.Status.SpecDigest = "sha256:" + strings.Repeat("0", 64) },
			"the Experiment's status.specDigest sha256:0000000000000000000000000000000000000000000000000000000000000000 is not the digest of its spec",
		},
		{
			"trial of another spec",
			func(in *Inputs) { in.Trial.Spec.ExperimentDigest = "sha256:" + strings.Repeat("0", 64) },
			"the Trial was made from a spec with digest sha256:0000000000000000000000000000000000000000000000000000000000000000",
		},
		{
			"trial of another image",
			func(in *Inputs) { in.Trial.Spec.Image = "other@sha256:" + strings.Repeat("0", 64) },
			`the Trial's image "other@sha256:0000000000000000000000000000000000000000000000000000000000000000" is not the Experiment's`,
		},
		{
			"image not pinned",
			func(in *Inputs) {
				in.Experiment.Spec.Image, in.Trial.Spec.Image = "trainer:latest", "trainer:latest"
				in.Experiment.Status.SpecDigest, in.Trial.Spec.ExperimentDigest = "", ""
			},
			`image "trainer:latest" is not pinned by digest`,
		},
		{
			"trial of another dataset",
			func(in *Inputs) { in.Trial.Spec.DatasetDigest = "sha256:" + strings.Repeat("0", 64) },
			"the Trial's dataset digest sha256:0000000000000000000000000000000000000000000000000000000000000000 is not the Experiment's",
		},
		{
			"trial parameters not the spec's",
			func(in *Inputs) { in.Trial.Spec.Parameters[0].Name = "momentum" },
			`the statement would not read back: externalParameters.trial.parameters has no value of the spec's parameter "lr"`,
		},
		{
			"malformed manifest digest",
			func(in *Inputs) { in.Trial.Status.Artifacts.ManifestDigest = "md5:abc" },
			`the artifacts' manifest digest: "md5:abc" is not sha256:<64 lowercase hex digits>`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := richInputs(t)
			tc.change(&in)
			_, err := Statement(in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Statement: error %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
}
