package specdigest

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// fullYAML sets every pinned field, and the mutable ones. Its digest is
// goldenDigest.
const fullYAML = `
image: registry.example.com/vision/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
command: [python, -m, train]
args: ["--lr=$(CRUCIBLE_PARAM_LR)", "--out=$(OUT)"]
env:
- name: DATA_ROOT
  value: /data/train
- name: OUT
  value: $(DATA_ROOT)/out
resources:
  requests:
    cpu: "2"
    memory: 1Gi
  limits:
    memory: 8Gi
    nvidia.com/gpu: "1"
podTemplate:
  metadata:
    labels:
      team: vision
  spec:
    serviceAccountName: trainer
    nodeSelector:
      accelerator: a100
      kubernetes.io/arch: amd64
    volumes:
    - name: scratch
      emptyDir:
        sizeLimit: 10Gi
    containers:
    - name: trainer
      volumeMounts:
      - name: scratch
        mountPath: /scratch
dataset:
  name: imagenet
  version: "2012"
  digest: sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
  source:
    persistentVolumeClaim:
      claimName: datasets
      subPath: imagenet/2012
  mountPath: /data
parameters:
- name: optimizer
  values: [sgd, adam]
- name: batch
  int: {min: 32, max: 128, step: 32}
- name: layers
  int: {min: 2, max: 4, step: 1}
- name: lr
  float: {min: "1e-4", max: "0.1", steps: 4, scale: Log}
- name: dropout
  float: {min: "0", max: "0.5", steps: 6, scale: Linear}
search:
  algorithm: Grid
seeds:
  base: 42
  replicas: 3
objective:
  metric: val_loss
  goal: Minimize
parallelism: 4
maxFailedTrials: 2
suspend: false
`

// goldenDigest is the digest of fullYAML. It must never change without a
// conscious decision: it is stored in every Experiment's status and every
// Trial, and a new digest for the same spec means a new encoding version
// (see the package documentation). If this test fails, the change broke
// digest stability: fix the change, do not update this literal.
const goldenDigest = "sha256:1e7f0e2d388775caba51de91a7d7fc58e3962b928645294125436e04a215c6b5"

// goldenCanonical is what goldenDigest hashes after the version line,
// indented here for reading, to show what changed when TestGolden fails.
const goldenCanonical = `
{
	"args": [
		"--lr=$(CRUCIBLE_PARAM_LR)",
		"--out=$(OUT)"
	],
	"command": [
		"python",
		"-m",
		"train"
	],
	"dataset": {
		"digest": "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		"mountPath": "/data",
		"name": "imagenet",
		"source": {
			"persistentVolumeClaim": {
				"claimName": "datasets",
				"subPath": "imagenet/2012"
			}
		},
		"version": "2012"
	},
	"env": [
		{
			"name": "DATA_ROOT",
			"value": "/data/train"
		},
		{
			"name": "OUT",
			"value": "$(DATA_ROOT)/out"
		}
	],
	"image": "registry.example.com/vision/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"objective": {
		"goal": "Minimize",
		"metric": "val_loss"
	},
	"parameters": [
		{
			"name": "optimizer",
			"values": [
				"sgd",
				"adam"
			]
		},
		{
			"int": {
				"max": 128,
				"min": 32,
				"step": 32
			},
			"name": "batch"
		},
		{
			"int": {
				"max": 4,
				"min": 2,
				"step": 1
			},
			"name": "layers"
		},
		{
			"float": {
				"max": "1e-1",
				"min": "1e-4",
				"scale": "Log",
				"steps": 4
			},
			"name": "lr"
		},
		{
			"float": {
				"max": "5e-1",
				"min": "0",
				"scale": "Linear",
				"steps": 6
			},
			"name": "dropout"
		}
	],
	"podTemplate": {
		"metadata": {
			"labels": {
				"team": "vision"
			}
		},
		"spec": {
			"containers": [
				{
					"name": "trainer",
					"volumeMounts": [
						{
							"mountPath": "/scratch",
							"name": "scratch"
						}
					]
				}
			],
			"nodeSelector": {
				"accelerator": "a100",
				"kubernetes.io/arch": "amd64"
			},
			"serviceAccountName": "trainer",
			"volumes": [
				{
					"emptyDir": {
						"sizeLimit": "10737418240"
					},
					"name": "scratch"
				}
			]
		}
	},
	"resources": {
		"limits": {
			"memory": "8589934592",
			"nvidia.com/gpu": "1"
		},
		"requests": {
			"cpu": "2",
			"memory": "1073741824"
		}
	},
	"search": {
		"algorithm": "Grid"
	},
	"seeds": {
		"base": 42,
		"replicas": 3
	}
}
`

// decode reads an ExperimentSpec from YAML, refusing unknown fields so that a
// typo cannot silently leave a field out.
func decode(t *testing.T, doc string) *crucible.ExperimentSpec {
	t.Helper()
	var spec crucible.ExperimentSpec
	if err := yaml.UnmarshalStrict([]byte(doc), &spec); err != nil {
		t.Fatalf("decoding YAML: %v", err)
	}
	return &spec
}

func compute(t *testing.T, spec *crucible.ExperimentSpec) string {
	t.Helper()
	d, err := Compute(spec)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return d
}

func TestGolden(t *testing.T) {
	spec := decode(t, fullYAML)
	got, err := canonical(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Every pinned field is set, so the golden digest covers them all.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatal(err)
	}
	want := []string{"args", "command", "dataset", "env", "image", "objective", "parameters", "podTemplate", "resources", "search", "seeds"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(fields))); diff != "" {
		t.Errorf("pinned fields in the encoding (-want +got):\n%s", diff)
	}
	var golden bytes.Buffer
	if err := json.Compact(&golden, []byte(goldenCanonical)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(golden.String(), string(got)); diff != "" {
		t.Errorf("canonical encoding changed (-want +got):\n%s", diff)
	}
	if d := compute(t, spec); d != goldenDigest {
		t.Errorf("Compute(fullYAML) = %q, want %q: the digest of a stored spec must never change", d, goldenDigest)
	}
}

// TestSameMeaning checks that manifests that mean the same as fullYAML have
// its digest.
func TestSameMeaning(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{
			name: "keys and map entries in another order",
			doc: `
suspend: false
objective: {goal: Minimize, metric: val_loss}
seeds: {replicas: 3, base: 42}
search: {algorithm: Grid}
parameters:
- values: [sgd, adam]
  name: optimizer
- int: {step: 32, max: 128, min: 32}
  name: batch
- int: {step: 1, max: 4, min: 2}
  name: layers
- float: {scale: Log, steps: 4, max: "0.1", min: "1e-4"}
  name: lr
- float: {scale: Linear, steps: 6, max: "0.5", min: "0"}
  name: dropout
dataset:
  mountPath: /data
  source:
    persistentVolumeClaim: {subPath: imagenet/2012, claimName: datasets}
  digest: sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
  version: "2012"
  name: imagenet
podTemplate:
  spec:
    containers:
    - volumeMounts:
      - mountPath: /scratch
        name: scratch
      name: trainer
    volumes:
    - emptyDir: {sizeLimit: 10Gi}
      name: scratch
    nodeSelector:
      kubernetes.io/arch: amd64
      accelerator: a100
    serviceAccountName: trainer
  metadata:
    labels: {team: vision}
resources:
  limits:
    nvidia.com/gpu: "1"
    memory: 8Gi
  requests:
    memory: 1Gi
    cpu: "2"
env:
- value: /data/train
  name: DATA_ROOT
- value: $(DATA_ROOT)/out
  name: OUT
args: ["--lr=$(CRUCIBLE_PARAM_LR)", "--out=$(OUT)"]
command: [python, -m, train]
maxFailedTrials: 2
parallelism: 4
image: registry.example.com/vision/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`,
		},
		{
			name: "quantities spelled differently",
			doc: replace(fullYAML,
				`memory: 1Gi`, `memory: 1024Mi`,
				`memory: 8Gi`, `memory: "8589934592"`,
				`cpu: "2"`, `cpu: 2000m`,
				`nvidia.com/gpu: "1"`, `nvidia.com/gpu: 1000m`,
				`sizeLimit: 10Gi`, `sizeLimit: "10737418240"`,
			),
		},
		{
			name: "float bounds spelled differently",
			doc: replace(fullYAML,
				`min: "1e-4"`, `min: "0.00010"`,
				`max: "0.1", steps: 4`, `max: "1E-1", steps: 4`,
				`min: "0", max: "0.5"`, `min: "-0.0", max: "+.5e0"`,
			),
		},
		{
			name: "defaults left out",
			doc: replace(fullYAML,
				"search:\n  algorithm: Grid\n", "",
				"  mountPath: /data\n", "",
				"{min: 2, max: 4, step: 1}", "{min: 2, max: 4}",
				`steps: 6, scale: Linear`, `steps: 6`,
			),
		},
		{
			name: "empty optional lists and maps spelled out",
			doc: replace(fullYAML,
				"    labels:\n", "    annotations: {}\n    labels:\n",
				"    serviceAccountName: trainer\n", "    serviceAccountName: trainer\n    tolerations: []\n    affinity: {}\n",
				"      volumeMounts:\n", "      ports: []\n      volumeMounts:\n",
				"resources:\n", "resources:\n  claims: []\n",
			),
		},
		{
			name: "mutable fields changed",
			doc: replace(fullYAML,
				"parallelism: 4", "parallelism: 100",
				"maxFailedTrials: 2", "maxFailedTrials: 0",
				"suspend: false", "suspend: true",
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.doc == fullYAML {
				t.Fatal("the variant is fullYAML itself")
			}
			if got := compute(t, decode(t, tc.doc)); got != goldenDigest {
				a, _ := canonical(decode(t, fullYAML))
				b, _ := canonical(decode(t, tc.doc))
				t.Errorf("digest %q, want %q; canonical encoding (-full +variant):\n%s", got, goldenDigest, cmp.Diff(string(a), string(b)))
			}
		})
	}
}

// replace applies old, new pairs to s, failing loudly if an old string is
// missing so that a variant cannot silently equal its base.
func replace(s string, oldNew ...string) string {
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			panic("replace: " + oldNew[i] + " not found")
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

func TestQuantities(t *testing.T) {
	// resource.Quantity encodes canonically within a suffix family...
	for _, q := range []string{"1Gi", "1024Mi", "1048576Ki"} {
		b, err := json.Marshal(resource.MustParse(q))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `"1Gi"` {
			t.Errorf("%s encodes as %s, want \"1Gi\"", q, b)
		}
	}
	// ...and the digest goes by value, across families too, wherever a
	// quantity appears.
	spec := func(q string) *crucible.ExperimentSpec {
		qq := resource.MustParse(q)
		return &crucible.ExperimentSpec{
			Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: qq}},
			PodTemplate: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "trainer", Env: []corev1.EnvVar{{Name: "MEM", ValueFrom: &corev1.EnvVarSource{
					ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: qq},
				}}}}},
				Overhead: corev1.ResourceList{corev1.ResourceMemory: qq},
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
					EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &qq},
				}}},
			}},
		}
	}
	tests := []struct {
		a, b string
		same bool
	}{
		{a: "1Gi", b: "1024Mi", same: true},
		{a: "1Gi", b: "1048576Ki", same: true},
		{a: "1Gi", b: "1073741824", same: true},
		{a: "1k", b: "1000", same: true},
		{a: "1k", b: "1e3", same: true},
		{a: "500m", b: "0.5", same: true},
		{a: "1Gi", b: "1G"},
		{a: "1Gi", b: "1025Mi"},
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			a, b := spec(tc.a), spec(tc.b)
			if got := compute(t, a) == compute(t, b); got != tc.same {
				t.Errorf("same digest for %s and %s: %v, want %v", tc.a, tc.b, got, tc.same)
			}
			if diff := cmp.Diff(spec(tc.a), a); diff != "" {
				t.Errorf("Compute changed its argument (-before +after):\n%s", diff)
			}
		})
	}
}

// TestPinnedFieldChanges checks that changing any single pinned field
// changes the digest, and that changing a mutable field does not.
func TestPinnedFieldChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(*crucible.ExperimentSpec)
		same   bool
	}{
		{name: "image", change: func(s *crucible.ExperimentSpec) {
			s.Image = "registry.example.com/vision/trainer@sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		}},
		{name: "command", change: func(s *crucible.ExperimentSpec) { s.Command = []string{"python3", "-m", "train"} }},
		{name: "command removed", change: func(s *crucible.ExperimentSpec) { s.Command = nil }},
		{name: "args", change: func(s *crucible.ExperimentSpec) { s.Args = append(s.Args, "--fast") }},
		{name: "args order", change: func(s *crucible.ExperimentSpec) { slices.Reverse(s.Args) }},
		{name: "env value", change: func(s *crucible.ExperimentSpec) { s.Env[0].Value = "/data/val" }},
		{name: "env order", change: func(s *crucible.ExperimentSpec) { slices.Reverse(s.Env) }},
		{name: "resources limit", change: func(s *crucible.ExperimentSpec) {
			s.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("2Gi")
		}},
		{name: "resources request removed", change: func(s *crucible.ExperimentSpec) {
			delete(s.Resources.Requests, corev1.ResourceCPU)
		}},
		{name: "podTemplate node selector", change: func(s *crucible.ExperimentSpec) {
			s.PodTemplate.Spec.NodeSelector["accelerator"] = "h100"
		}},
		{name: "podTemplate volume", change: func(s *crucible.ExperimentSpec) {
			s.PodTemplate.Spec.Volumes[0].EmptyDir.Medium = corev1.StorageMediumMemory
		}},
		{name: "podTemplate label", change: func(s *crucible.ExperimentSpec) {
			s.PodTemplate.Labels["team"] = "nlp"
		}},
		{name: "podTemplate service account", change: func(s *crucible.ExperimentSpec) {
			s.PodTemplate.Spec.ServiceAccountName = "default"
		}},
		{name: "dataset name", change: func(s *crucible.ExperimentSpec) { s.Dataset.Name = "imagenet21k" }},
		{name: "dataset version", change: func(s *crucible.ExperimentSpec) { s.Dataset.Version = "2013" }},
		{name: "dataset digest", change: func(s *crucible.ExperimentSpec) {
			s.Dataset.Digest = "sha256:eedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
		}},
		{name: "dataset claim", change: func(s *crucible.ExperimentSpec) {
			s.Dataset.Source.PersistentVolumeClaim.ClaimName = "datasets-2"
		}},
		{name: "dataset subPath", change: func(s *crucible.ExperimentSpec) {
			s.Dataset.Source.PersistentVolumeClaim.SubPath = ""
		}},
		{name: "dataset source image", change: func(s *crucible.ExperimentSpec) {
			s.Dataset.Source = crucible.DatasetSource{Image: &crucible.ImageDatasetSource{
				Reference: "registry.example.com/data/imagenet@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
			}}
		}},
		{name: "dataset mountPath", change: func(s *crucible.ExperimentSpec) { s.Dataset.MountPath = "/datasets" }},
		{name: "dataset removed", change: func(s *crucible.ExperimentSpec) { s.Dataset = nil }},
		{name: "parameter name", change: func(s *crucible.ExperimentSpec) { s.Parameters[0].Name = "optim" }},
		{name: "parameter value", change: func(s *crucible.ExperimentSpec) { s.Parameters[0].Values[1] = "adamw" }},
		{name: "parameter value order", change: func(s *crucible.ExperimentSpec) { slices.Reverse(s.Parameters[0].Values) }},
		{name: "int min", change: func(s *crucible.ExperimentSpec) { s.Parameters[1].Int.Min = 16 }},
		{name: "int max", change: func(s *crucible.ExperimentSpec) { s.Parameters[1].Int.Max = 256 }},
		{name: "int step", change: func(s *crucible.ExperimentSpec) { s.Parameters[1].Int.Step = 16 }},
		{name: "float min", change: func(s *crucible.ExperimentSpec) { s.Parameters[3].Float.Min = "1e-5" }},
		{name: "float max", change: func(s *crucible.ExperimentSpec) { s.Parameters[3].Float.Max = "1" }},
		{name: "float steps", change: func(s *crucible.ExperimentSpec) { s.Parameters[3].Float.Steps = 5 }},
		{name: "float scale", change: func(s *crucible.ExperimentSpec) { s.Parameters[3].Float.Scale = crucible.ScaleLinear }},
		{name: "parameter removed", change: func(s *crucible.ExperimentSpec) { s.Parameters = s.Parameters[:4] }},
		{name: "parameters reordered", change: func(s *crucible.ExperimentSpec) {
			s.Parameters[0], s.Parameters[1] = s.Parameters[1], s.Parameters[0]
		}},
		{name: "search algorithm", change: func(s *crucible.ExperimentSpec) { s.Search.Algorithm = "Random" }},
		{name: "seeds base", change: func(s *crucible.ExperimentSpec) { s.Seeds.Base = 43 }},
		{name: "seeds replicas", change: func(s *crucible.ExperimentSpec) { s.Seeds.Replicas = 1 }},
		{name: "objective metric", change: func(s *crucible.ExperimentSpec) { s.Objective.Metric = "val_acc" }},
		{name: "objective goal", change: func(s *crucible.ExperimentSpec) { s.Objective.Goal = crucible.GoalMaximize }},

		{name: "source added", change: func(s *crucible.ExperimentSpec) {
			s.Source = &crucible.SourceSpec{Repository: "https://git.example.com/vision/trainer.git", Commit: strings.Repeat("a", 40)}
		}},
		{name: "dataset verify", same: true, change: func(s *crucible.ExperimentSpec) { s.Dataset.Verify = crucible.DatasetVerifyNever }},
		{name: "parallelism", same: true, change: func(s *crucible.ExperimentSpec) { s.Parallelism = 1 }},
		{name: "maxFailedTrials", same: true, change: func(s *crucible.ExperimentSpec) { s.MaxFailedTrials = 10 }},
		{name: "suspend", same: true, change: func(s *crucible.ExperimentSpec) { s.Suspend = true }},
	}
	base := compute(t, decode(t, fullYAML))
	seen := map[string]string{base: "fullYAML"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := decode(t, fullYAML)
			tc.change(spec)
			got := compute(t, spec)
			switch {
			case tc.same && got != base:
				t.Errorf("changing %s changed the digest: it may change while an Experiment runs", tc.name)
			case !tc.same && got == base:
				t.Errorf("changing %s left the digest unchanged", tc.name)
			case !tc.same:
				if other, dup := seen[got]; dup {
					t.Errorf("changing %s gives the same digest as %s", tc.name, other)
				}
				seen[got] = tc.name
			}
		})
	}
}

func TestFormat(t *testing.T) {
	format := regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	for name, spec := range map[string]*crucible.ExperimentSpec{
		"full":  decode(t, fullYAML),
		"empty": {},
	} {
		if d := compute(t, spec); !format.MatchString(d) || len(d) > 71 {
			t.Errorf("%s: digest %q does not match %s", name, d, format)
		}
	}
}

func TestNilSpec(t *testing.T) {
	if d, err := Compute(nil); err == nil {
		t.Errorf("Compute(nil) = %q, want an error", d)
	}
}

func TestCanonicalDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"0", "0"},
		{"-0.0", "0"},
		{"+0e5", "0"},
		{"0e99999999999999999999999", "0"},
		{"1", "1"},
		{"1.", "1"},
		{"1.000", "1"},
		{"+1", "1"},
		{"1e0", "1"},
		{"10", "1e1"},
		{"1500", "15e2"},
		{"0.001", "1e-3"},
		{"0.0010", "1e-3"},
		{"1e-3", "1e-3"},
		{"1E-3", "1e-3"},
		{".001", "1e-3"},
		{"+.001E0", "1e-3"},
		{"0.1e-2", "1e-3"},
		{"1.5", "15e-1"},
		{"-1.5", "-15e-1"},
		{"-150e-2", "-15e-1"},
		{"007.50", "75e-1"},
		{"12345678901234567890.5", "123456789012345678905e-1"},
		// Not decimal numbers by the CRD's pattern: kept as they are.
		{"", ""},
		{"abc", "abc"},
		{"Inf", "Inf"},
		{"0x1p3", "0x1p3"},
		{"1_000", "1_000"},
		{"1e", "1e"},
		{".", "."},
		// An exponent too large to reason about: kept as it is.
		{"1e99999999999999999999", "1e99999999999999999999"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := canonicalDecimal(tc.in); got != tc.want {
				t.Errorf("canonicalDecimal(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCanonicalIsWhatComputeHashes(t *testing.T) {
	spec := decode(t, fullYAML)
	b, err := Canonical(spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := Of(b); got != goldenDigest {
		t.Errorf("Of(Canonical(spec)) = %s, want the golden digest %s", got, goldenDigest)
	}
}
