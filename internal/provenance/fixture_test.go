package provenance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

// richSpecYAML sets every pinned field: image, command, args, env,
// resources, a podTemplate, a dataset on a claim, the source, parameters of
// each kind, seeds and the objective; and s3 artifacts, which are not
// pinned.
const richSpecYAML = `
image: registry.example.com/vision/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
command: [python, -m, train]
args: ["--lr=$(CRUCIBLE_PARAM_LR)", "--depth=$(CRUCIBLE_PARAM_DEPTH)"]
env:
- name: DATA_ROOT
  value: /data/train
- name: HTML
  value: "<a & b>"
resources:
  requests:
    cpu: "2"
    memory: 1Gi
  limits:
    nvidia.com/gpu: "1"
podTemplate:
  spec:
    nodeSelector:
      accelerator: a100
    containers:
    - name: trainer
dataset:
  name: imagenet
  version: "2012"
  digest: sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
  source:
    persistentVolumeClaim:
      claimName: datasets
      subPath: imagenet/2012
  verify: Always
source:
  repository: https://github.com/example/vision.git
  commit: 89abcdef0123456789abcdef0123456789abcdef
parameters:
- name: lr
  float: {min: "0.001", max: "0.1", steps: 3, scale: Log}
- name: depth
  int: {min: 2, max: 8, step: 2}
- name: optimizer
  values: [adam, sgd]
seeds: {base: 42, replicas: 2}
objective: {metric: accuracy, goal: Maximize}
parallelism: 4
artifacts:
  s3:
    endpoint: minio.storage:9000
    bucket: runs
    prefix: vision
    credentialsSecret: {name: s3}
`

// Times of the fixture.
var (
	verifiedAt  = time.Date(2026, 3, 1, 9, 59, 30, 0, time.UTC)
	startedAt   = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	completedAt = time.Date(2026, 3, 1, 10, 42, 17, 0, time.UTC)
)

// richInputs is a trial with everything recorded: s3 artifacts, metrics,
// a verified dataset, the source, node labels and an exit code.
func richInputs(t testing.TB) Inputs {
	t.Helper()
	spec := crucible.ExperimentSpec{}
	if err := yaml.UnmarshalStrict([]byte(richSpecYAML), &spec); err != nil {
		t.Fatal(err)
	}
	digest, err := specdigest.Compute(&spec)
	if err != nil {
		t.Fatal(err)
	}
	exp := &crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vision", Name: "resnet-sweep", UID: types.UID("6f1c2a3e-0000-4000-8000-000000000001")},
		Spec:       spec,
		Status: crucible.ExperimentStatus{
			SpecDigest: digest,
			Conditions: []metav1.Condition{{
				Type:               crucible.ExperimentDatasetVerifiedCondition,
				Status:             metav1.ConditionTrue,
				Reason:             crucible.ReasonDigestMatched,
				Message:            "the dataset has digest sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
				LastTransitionTime: metav1.NewTime(verifiedAt),
			}},
		},
	}
	trial := &crucible.Trial{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vision", Name: "resnet-sweep-0a1b2c3d4e5f", UID: types.UID("6f1c2a3e-0000-4000-8000-000000000002")},
		Spec: crucible.TrialSpec{
			Index: 13,
			Parameters: []crucible.ParameterAssignment{
				{Name: "lr", Value: "0.01"},
				{Name: "depth", Value: "4"},
				{Name: "optimizer", Value: "sgd"},
			},
			Assignment:       "lr=0.01 depth=4 optimizer=sgd",
			Seed:             43,
			Replica:          1,
			Image:            spec.Image,
			DatasetDigest:    spec.Dataset.Digest,
			ExperimentDigest: digest,
		},
		Status: crucible.TrialStatus{
			Phase:          crucible.TrialSucceeded,
			JobName:        "resnet-sweep-0a1b2c3d4e5f",
			StartTime:      ptr.To(metav1.NewTime(startedAt)),
			CompletionTime: ptr.To(metav1.NewTime(completedAt)),
			Metrics:        map[string]string{"accuracy": "0.9312", "loss": "0.231", "epochs": "90"},
			Objective:      "0.9312",
			Reason:         crucible.ReasonMetricsRecorded,
			Message:        "exited 0 with 3 metrics",
			Artifacts: &crucible.TrialArtifacts{
				URI:            "s3://runs/vision/vision/resnet-sweep/6f1c2a3e-0000-4000-8000-000000000001/resnet-sweep-0a1b2c3d4e5f/6f1c2a3e-0000-4000-8000-000000000002/",
				Objects:        ptr.To[int64](3),
				Bytes:          ptr.To[int64](94371840),
				ManifestDigest: "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
			},
		},
	}
	return Inputs{
		Experiment: exp,
		Trial:      trial,
		Builder:    Builder{ID: "https://crucible.dev/operator", Version: "v0.4.0"},
		Run: Run{
			NodeName:     "gpu-node-7",
			GPU:          "NVIDIA-A100-SXM4-80GB",
			InstanceType: "p4d.24xlarge",
			JobUID:       "6f1c2a3e-0000-4000-8000-000000000003",
			PodUID:       "6f1c2a3e-0000-4000-8000-000000000004",
			ExitCode:     ptr.To[int32](0),
		},
	}
}

// payloadOf returns the canonical bytes of in's Statement.
func payloadOf(t testing.TB, in Inputs) []byte {
	t.Helper()
	st, err := Statement(in)
	if err != nil {
		t.Fatalf("Statement: %v", err)
	}
	b, err := Marshal(st)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

// envelopeOf returns the envelope of in's Statement, signed by s (unsigned
// when nil).
func envelopeOf(t testing.TB, s *Signer, in Inputs) []byte {
	t.Helper()
	line, err := Envelope(context.Background(), s, payloadOf(t, in))
	if err != nil {
		t.Fatalf("Envelope: %v", err)
	}
	return line
}

// newSigner generates a key pair and returns its signer and public key.
func newSigner(t testing.TB) (*Signer, []byte) {
	t.Helper()
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(priv)
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	return s, pub
}

// rewrite decodes the Statement of an envelope as plain JSON, lets change
// it, and returns an unsigned envelope of the result: how a reader would
// tamper with a record.
func rewrite(t *testing.T, line []byte, change func(st map[string]any)) []byte {
	t.Helper()
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	change(st)
	payload, err = json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Envelope(t.Context(), nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a decoded JSON document: at(st, "predicate", "runDetails") or,
// for a list, the element whose "name" is the key.
func at(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			v = nil
			for _, e := range x {
				if m, ok := e.(map[string]any); ok && m["name"] == p {
					v = m
				}
			}
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("no object at %v", path)
	}
	return m
}
