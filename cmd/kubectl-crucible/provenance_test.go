package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/provenance"
	"github.com/crucible-dev/crucible/internal/specdigest"
)

const testImage = "registry.example.com/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// trialInputs is a finished trial with a verified dataset, s3 artifacts
// and metrics.
func trialInputs(t *testing.T) provenance.Inputs {
	t.Helper()
	spec := crucible.ExperimentSpec{
		Image: testImage,
		Dataset: &crucible.DatasetSpec{
			Name:    "cifar10",
			Version: "2024-05-01",
			Digest:  "sha256:" + strings.Repeat("ab", 32),
			Source:  crucible.DatasetSource{PersistentVolumeClaim: &crucible.PVCDatasetSource{ClaimName: "datasets", SubPath: "cifar10"}},
		},
		Source:     &crucible.SourceSpec{Repository: "https://github.com/example/train.git", Commit: strings.Repeat("c", 40)},
		Parameters: []crucible.ParameterSpec{{Name: "lr", Values: []string{"0.1", "0.01"}}},
		Seeds:      crucible.SeedSpec{Base: 7, Replicas: 1},
		Objective:  crucible.ObjectiveSpec{Metric: "accuracy", Goal: crucible.GoalMaximize},
	}
	digest, err := specdigest.Compute(&spec)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return provenance.Inputs{
		Experiment: &crucible.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "sweep", UID: "exp-uid"},
			Spec:       spec,
			Status: crucible.ExperimentStatus{
				SpecDigest: digest,
				Conditions: []metav1.Condition{{
					Type: crucible.ExperimentDatasetVerifiedCondition, Status: metav1.ConditionTrue,
					Reason: crucible.ReasonDigestMatched, Message: "matched", LastTransitionTime: metav1.NewTime(start.Add(-time.Minute)),
				}},
			},
		},
		Trial: &crucible.Trial{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "sweep-0123456789ab", UID: "trial-uid"},
			Spec: crucible.TrialSpec{
				Index: 1, Parameters: []crucible.ParameterAssignment{{Name: "lr", Value: "0.01"}}, Seed: 7,
				Image: testImage, DatasetDigest: spec.Dataset.Digest, ExperimentDigest: digest,
			},
			Status: crucible.TrialStatus{
				Phase:          crucible.TrialSucceeded,
				Reason:         crucible.ReasonMetricsRecorded,
				StartTime:      ptr.To(metav1.NewTime(start)),
				CompletionTime: ptr.To(metav1.NewTime(start.Add(5 * time.Minute))),
				Metrics:        map[string]string{"accuracy": "0.91", "loss": "0.3"},
				Artifacts: &crucible.TrialArtifacts{
					URI:            "s3://runs/ml/sweep/exp-uid/sweep-0123456789ab/trial-uid/",
					Objects:        ptr.To[int64](2),
					Bytes:          ptr.To[int64](2048),
					ManifestDigest: "sha256:" + strings.Repeat("12", 32),
				},
			},
		},
		Builder: provenance.Builder{ID: "https://crucible.dev/operator", Version: "v0.4.0"},
		Run:     provenance.Run{NodeName: "node-1", GPU: "NVIDIA-L4", InstanceType: "g6.xlarge", ExitCode: ptr.To[int32](0)},
	}
}

// writeRecord writes the trial's record to a file, signed with the private
// key in privFile, unsigned when it is "".
func writeRecord(t *testing.T, privFile string) (path string, payloadDigest string) {
	t.Helper()
	var signer *provenance.Signer
	if privFile != "" {
		pemBytes, err := os.ReadFile(privFile)
		if err != nil {
			t.Fatal(err)
		}
		if signer, err = provenance.LoadSigner(pemBytes); err != nil {
			t.Fatal(err)
		}
	}
	st, err := provenance.Statement(trialInputs(t))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := provenance.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	line, err := provenance.Envelope(t.Context(), signer, payload)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "trial.provenance.intoto.jsonl")
	if err := os.WriteFile(path, line, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, provenance.Digest(payload)
}

// keygen makes a key pair in a new directory and returns its files and
// key ID.
func keygen(t *testing.T) (priv, pub, keyID string) {
	t.Helper()
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "crucible.key"), filepath.Join(dir, "crucible.pub")
	code, stdout, stderr := execute(t, "provenance", "keygen", "--private", priv, "--public", pub)
	if code != 0 || stderr != "" {
		t.Fatalf("keygen: exit code %d, stderr %q", code, stderr)
	}
	_, id, ok := strings.Cut(stdout, "key ID:      ")
	if !ok {
		t.Fatalf("keygen printed no key ID: %q", stdout)
	}
	return priv, pub, strings.TrimSpace(id)
}

func TestProvenanceKeygenVerify(t *testing.T) {
	priv, pub, keyID := keygen(t)
	info, err := os.Stat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("private key mode %v; want 0600", mode)
	}
	for file, block := range map[string]string{priv: "PRIVATE KEY", pub: "PUBLIC KEY"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "-----BEGIN "+block+"-----\n") {
			t.Errorf("%s does not start with a %s PEM block: %q", file, block, b)
		}
	}
	if len(keyID) != 64 {
		t.Errorf("key ID %q; want 64 hex digits", keyID)
	}

	record, digest := writeRecord(t, priv)
	code, stdout, stderr := execute(t, "provenance", "verify", record, "--key", pub)
	if code != 0 || stderr != "" {
		t.Fatalf("verify: exit code %d, stderr %q", code, stderr)
	}
	in := trialInputs(t)
	want := `signature:     verified, key ` + keyID + `
provenance:    ` + digest + `
experiment:    ml/sweep (uid exp-uid)
spec digest:   ` + in.Experiment.Status.SpecDigest + `
trial:         sweep-0123456789ab (uid trial-uid), index 1
phase:         Succeeded (MetricsRecorded)
image:         ` + testImage + `
dataset:       cifar10 version 2024-05-01, sha256:` + strings.Repeat("ab", 32) + `, from pvc://datasets/cifar10
verification:  Always, DigestMatched at 2026-03-01T09:59:00Z: matched
source:        https://github.com/example/train.git at ` + strings.Repeat("c", 40) + `
parameters:    lr=0.01
seed:          7
metrics:       accuracy=0.91 loss=0.3
artifacts:     s3://runs/ml/sweep/exp-uid/sweep-0123456789ab/trial-uid/
manifest:      sha256:` + strings.Repeat("12", 32) + `, 2 objects, 2048 bytes
builder:       https://crucible.dev/operator v0.4.0
node:          node-1 (g6.xlarge, NVIDIA-L4)
exit code:     0
started:       2026-03-01T10:00:00Z
finished:      2026-03-01T10:05:00Z
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("verify output (-want +got):\n%s", diff)
	}

	code, stdout, stderr = execute(t, "provenance", "verify", "-o", "json", "--key", pub, record)
	if code != 0 || stderr != "" {
		t.Fatalf("verify -o json: exit code %d, stderr %q", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("-o json: %v in %q", err, stdout)
	}
	wantJSON := map[string]any{
		"signature":        map[string]any{"checked": true, "signed": true, "keyID": keyID},
		"provenanceDigest": digest,
		"experiment":       map[string]any{"namespace": "ml", "name": "sweep", "uid": "exp-uid"},
		"specDigest":       in.Experiment.Status.SpecDigest,
		"trial": map[string]any{
			"name": "sweep-0123456789ab", "uid": "trial-uid", "index": 1.0, "seed": 7.0,
			"parameters": []any{map[string]any{"name": "lr", "value": "0.01"}},
			"phase":      "Succeeded", "reason": "MetricsRecorded",
		},
		"image": testImage,
		"dataset": map[string]any{
			"name": "cifar10", "version": "2024-05-01", "uri": "pvc://datasets/cifar10",
			"digest": "sha256:" + strings.Repeat("ab", 32), "mountPath": "/data",
			"verification": map[string]any{"policy": "Always", "status": "DigestMatched", "message": "matched", "time": "2026-03-01T09:59:00Z"},
		},
		"source":  map[string]any{"repository": "https://github.com/example/train.git", "commit": strings.Repeat("c", 40)},
		"metrics": map[string]any{"accuracy": "0.91", "loss": "0.3"},
		"artifacts": map[string]any{
			"uri":            "s3://runs/ml/sweep/exp-uid/sweep-0123456789ab/trial-uid/",
			"manifestDigest": "sha256:" + strings.Repeat("12", 32), "objects": 2.0, "bytes": 2048.0,
		},
		"builder":    map[string]any{"id": "https://crucible.dev/operator", "version": "v0.4.0"},
		"run":        map[string]any{"node": "node-1", "gpu": "NVIDIA-L4", "instanceType": "g6.xlarge", "exitCode": 0.0},
		"startedOn":  "2026-03-01T10:00:00Z",
		"finishedOn": "2026-03-01T10:05:00Z",
	}
	if diff := cmp.Diff(wantJSON, got); diff != "" {
		t.Errorf("-o json (-want +got):\n%s", diff)
	}
}

func TestProvenanceVerifyUnsigned(t *testing.T) {
	record, _ := writeRecord(t, "")
	code, stdout, stderr := execute(t, "provenance", "verify", "--allow-unsigned", record)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	const notChecked = "signature:     NOT CHECKED (the record is unsigned)\n"
	if !strings.HasPrefix(stdout, notChecked) || !strings.HasSuffix(stdout, notChecked) {
		t.Errorf("stdout does not start and end with %q:\n%s", notChecked, stdout)
	}
	if want := "WARNING: signature NOT CHECKED (--allow-unsigned): anyone could have written this record\n"; stderr != want {
		t.Errorf("stderr %q; want %q", stderr, want)
	}

	code, stdout, _ = execute(t, "provenance", "verify", "--allow-unsigned", "-o", "json", record)
	if code != 0 {
		t.Fatalf("-o json: exit code %d", code)
	}
	var got struct {
		Signature map[string]any `json:"signature"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"checked": false, "signed": false}, got.Signature); diff != "" {
		t.Errorf("signature (-want +got):\n%s", diff)
	}
}

// tamperedRecord writes the record in file with one byte of its payload
// changed ("0.91" made "0.97"), re-encoded, and returns its path.
func tamperedRecord(t *testing.T, file string) string {
	t.Helper()
	line, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	changedPayload := bytes.Replace(payload, []byte(`"0.91"`), []byte(`"0.97"`), 1)
	if bytes.Equal(changedPayload, payload) {
		t.Fatal("the record has no \"0.91\" to change")
	}
	env["payload"] = base64.StdEncoding.EncodeToString(changedPayload)
	changedLine, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "changed.intoto.jsonl")
	if err := os.WriteFile(changed, append(changedLine, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return changed
}

func TestProvenanceErrors(t *testing.T) {
	priv, pub, keyID := keygen(t)
	_, otherPub, _ := keygen(t)
	signed, _ := writeRecord(t, priv)
	unsigned, _ := writeRecord(t, "")
	dir := t.TempDir()

	changed := tamperedRecord(t, signed)
	empty := filepath.Join(dir, "empty.intoto.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{
			name:    "changed byte",
			args:    []string{"provenance", "verify", changed, "--key", pub},
			wantErr: "error: " + changed + ": the signature does not verify with key " + keyID + ": the record was changed or signed with another key\n",
		},
		{
			name:    "another key",
			args:    []string{"provenance", "verify", signed, "--key", otherPub},
			wantErr: ": the record was changed or signed with another key\n",
		},
		{
			name:    "unsigned with a key",
			args:    []string{"provenance", "verify", unsigned, "--key", pub},
			wantErr: "error: " + unsigned + ": the record is unsigned: the operator that wrote it had no signing key\n",
		},
		{
			name:    "no key",
			args:    []string{"provenance", "verify", signed},
			wantErr: "error: pass --key PUB.pem, the operator's public key, to check the record's signature (or --allow-unsigned to read it without checking)\n",
		},
		{
			name:    "private key for the public one",
			args:    []string{"provenance", "verify", signed, "--key", priv},
			wantErr: "error: " + priv + `: want a public key in PEM ("PUBLIC KEY"), found "PRIVATE KEY": this is a private key; pass the public one` + "\n",
		},
		{
			name:    "missing key file",
			args:    []string{"provenance", "verify", signed, "--key", filepath.Join(dir, "missing.pub")},
			wantErr: "error: reading the public key: open " + filepath.Join(dir, "missing.pub") + ": no such file or directory\n",
		},
		{
			name:    "empty record",
			args:    []string{"provenance", "verify", empty, "--key", pub},
			wantErr: "error: " + empty + " is empty\n",
		},
		{
			name:    "no file",
			args:    []string{"provenance", "verify", "--key", pub},
			wantErr: "error: want one file, got 0 arguments: kubectl crucible provenance verify FILE --key PUB.pem\n",
		},
		{
			name:    "keygen over an existing key",
			args:    []string{"provenance", "keygen", "--private", filepath.Join(dir, "new.key"), "--public", pub},
			wantErr: "error: open " + pub + ": file exists: keygen never overwrites a key\n",
		},
		{
			name:    "keygen without files",
			args:    []string{"provenance", "keygen", "--private", filepath.Join(dir, "new.key")},
			wantErr: "error: pass --private FILE and --public FILE: where to write the two keys\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := execute(t, tc.args...)
			if code != 1 {
				t.Errorf("exit code %d; want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
			if !strings.HasSuffix(stderr, tc.wantErr) || !strings.HasPrefix(stderr, "error: ") {
				t.Errorf("stderr %q; want %q", stderr, tc.wantErr)
			}
		})
	}
	// The refused keygen left nothing behind.
	if _, err := os.Stat(filepath.Join(dir, "new.key")); !os.IsNotExist(err) {
		t.Errorf("a refused keygen left its private key: %v", err)
	}
}
