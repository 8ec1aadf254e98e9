package integration

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/jobspec"
	"github.com/crucible-dev/crucible/test/builder"
)

// The API's limits and reserved names are Go constants (api/v1alpha1), but
// kubebuilder markers and admission policies cannot refer to them: the
// generated CRDs and config/policy repeat their values. TestLimitsAgree
// reads those files and fails when a value disagrees with its constant, so
// that a constant changed in Go cannot leave a stale copy behind. It needs
// no API server:
//
//	go test ./test/integration/ -run TestLimitsAgree
func TestLimitsAgree(t *testing.T) {
	root := filepath.Join("..", "..")
	experiments := crdSchema(t, filepath.Join(root, "config", "crd", "bases", "crucible.dev_experiments.yaml"))
	trials := crdSchema(t, filepath.Join(root, "config", "crd", "bases", "crucible.dev_trials.yaml"))
	policies := loadPolicies(t, filepath.Join(root, "config", "policy"))
	pins := policies["crucible-experiment-pins"]
	template := policies["crucible-experiment-template"]

	t.Run("MaxTrials", func(t *testing.T) {
		expectInt(t, "crucible-experiment-pins variable maxTrials", policyInt(t, pins, "maxTrials"), crucible.MaxTrials)
		expectInt(t, "Experiment spec.parallelism maximum", maximum(t, schemaAt(t, experiments, "spec", "parallelism")), crucible.MaxTrials)
		expectInt(t, "Experiment spec.maxFailedTrials maximum", maximum(t, schemaAt(t, experiments, "spec", "maxFailedTrials")), crucible.MaxTrials)
		expectInt(t, "Experiment spec.parameters[].float.steps maximum",
			maximum(t, schemaAt(t, experiments, "spec", "parameters", "[]", "float", "steps")), crucible.MaxTrials)
		intRange := schemaAt(t, experiments, "spec", "parameters", "[]", "int")
		expectInt(t, "Experiment spec.parameters[].int rule", ruleInt(t, intRange, `/ self\.step < (\d+)`), crucible.MaxTrials)
		expectInt(t, "Experiment spec.parameters[].int message", messageInt(t, intRange, `more than (\d+) values`), crucible.MaxTrials)
		expectInt(t, "Experiment spec.parameters description",
			firstInt(t, "spec.parameters description", schemaAt(t, experiments, "spec", "parameters").Description, `at most (\d+)`), crucible.MaxTrials)

		// The policy names the limit once, in maxTrials: no rule or message
		// may write it (or the cap above it) out again.
		for _, n := range []int{crucible.MaxTrials, crucible.MaxTrials + 1} {
			literal := regexp.MustCompile(`\b` + strconv.Itoa(n) + `\b`)
			for _, p := range policies {
				for where, text := range policyTexts(p) {
					if where != "variable maxTrials" && literal.MatchString(text) {
						t.Errorf("%s %s writes out %d; use variables.maxTrials", p.Name, where, n)
					}
				}
			}
		}
	})

	t.Run("MaxParameters", func(t *testing.T) {
		expectInt(t, "Experiment spec.parameters maxItems", maxItems(t, schemaAt(t, experiments, "spec", "parameters")), crucible.MaxParameters)
		expectInt(t, "Experiment status.bestTrial.parameters maxItems",
			maxItems(t, schemaAt(t, experiments, "status", "bestTrial", "parameters")), crucible.MaxParameters)
		expectInt(t, "Trial spec.parameters maxItems", maxItems(t, schemaAt(t, trials, "spec", "parameters")), crucible.MaxParameters)

		// The grid's size is a product with one factor per parameter.
		sizes := policyVariable(t, pins, "sizes")
		ones := regexp.MustCompile(`\[(1(?:, 1)*)\]\s*$`).FindStringSubmatch(sizes)
		if ones == nil {
			t.Fatalf("crucible-experiment-pins variable sizes does not end in a list of 1s: %s", sizes)
		}
		expectInt(t, "crucible-experiment-pins sizes padding", len(strings.Split(ones[1], ", ")), crucible.MaxParameters)
		factors := 0
		for _, v := range pins.Spec.Variables {
			if regexp.MustCompile(`^p\d+$`).MatchString(v.Name) {
				factors++
			}
		}
		expectInt(t, "crucible-experiment-pins product variables p1..pN", factors, crucible.MaxParameters)
		last := "p" + strconv.Itoa(crucible.MaxParameters)
		if !strings.Contains(pins.Spec.Validations[0].Expression, "variables."+last+" ") {
			t.Errorf("crucible-experiment-pins: the trial limit's rule does not read %s: %s", last, pins.Spec.Validations[0].Expression)
		}
	})

	t.Run("MaxExperimentNameLength", func(t *testing.T) {
		expectInt(t, "Experiment metadata.name rule", ruleInt(t, experiments, `size\(self\.metadata\.name\) <= (\d+)`), crucible.MaxExperimentNameLength)
		expectInt(t, "Experiment metadata.name message", messageInt(t, experiments, `at most (\d+) characters`), crucible.MaxExperimentNameLength)
	})

	// What crucible-experiment-template reserves is what the operator adds
	// to a trial's Pod: read from the Job internal/jobspec builds.
	t.Run("reserved names", func(t *testing.T) {
		expectString(t, "crucible-experiment-template trainerName", policyString(t, template, "trainerName"), crucible.TrainerContainerName)
		expectString(t, "crucible-experiment-template artifactsMountPath", policyString(t, template, "artifactsMountPath"), crucible.ArtifactsMountPath)
		operatorPrefix := policyString(t, template, "operatorEnvPrefix")
		s3Prefix := policyString(t, template, "s3EnvPrefix")

		exp := builder.MakeExperiment("e", "ns").Values("lr", "0.1").PVCDataset("datasets", "cifar", "/data").Obj()
		exp.Spec.Artifacts = &crucible.ArtifactsSpec{PersistentVolumeClaim: &crucible.PVCArtifactStore{ClaimName: "out"}}
		job := jobspec.New(exp, builder.MakeTrial(exp, "e-0123456789ab").Param("lr", "0.1").Obj())
		var volumes []string
		for _, v := range job.Spec.Template.Spec.Volumes {
			volumes = append(volumes, v.Name)
		}
		slices.Sort(volumes)
		reserved := policyStrings(t, template, "reservedVolumeNames")
		slices.Sort(reserved)
		if !slices.Equal(volumes, reserved) {
			t.Errorf("crucible-experiment-template reservedVolumeNames = %q, the operator adds volumes %q", reserved, volumes)
		}
		containers := job.Spec.Template.Spec.Containers
		if len(containers) != 1 || containers[0].Name != crucible.TrainerContainerName {
			t.Fatalf("the operator's Job has containers %v, want only %q", containers, crucible.TrainerContainerName)
		}
		var mounts []string
		for _, m := range containers[0].VolumeMounts {
			mounts = append(mounts, m.MountPath)
		}
		if !slices.Equal(mounts, []string{exp.Spec.Dataset.MountPath, crucible.ArtifactsMountPath}) {
			t.Errorf("the operator mounts %q in the trainer; crucible-experiment-template knows of the dataset's mountPath and %q",
				mounts, crucible.ArtifactsMountPath)
		}
		for _, e := range containers[0].Env {
			if !strings.HasPrefix(e.Name, operatorPrefix) {
				t.Errorf("the operator sets %s, which crucible-experiment-template does not reserve (operatorEnvPrefix %q)", e.Name, operatorPrefix)
			}
		}

		exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{Endpoint: "s3.example", Bucket: "runs",
			Region: "eu-west-1", CredentialsSecret: crucible.SecretReference{Name: "creds"}}}
		job = jobspec.New(exp, builder.MakeTrial(exp, "e-0123456789ab").Param("lr", "0.1").Obj())
		s3Vars := 0
		for _, e := range job.Spec.Template.Spec.Containers[0].Env {
			switch {
			case strings.HasPrefix(e.Name, operatorPrefix):
			case strings.HasPrefix(e.Name, s3Prefix):
				s3Vars++
			default:
				t.Errorf("with an s3 store the operator sets %s, which crucible-experiment-template does not reserve (%q, %q)",
					e.Name, operatorPrefix, s3Prefix)
			}
		}
		if s3Vars == 0 {
			t.Errorf("with an s3 store the operator sets no %s* variable; crucible-experiment-template reserves them for nothing", s3Prefix)
		}
		for _, name := range []string{crucible.SecretKeyAccessKeyID, crucible.SecretKeySecretAccessKey} {
			if !strings.HasPrefix(name, s3Prefix) {
				t.Errorf("the credentials key %s is not under crucible-experiment-template's s3EnvPrefix %q", name, s3Prefix)
			}
		}
	})
}

// crdSchema reads a CRD and returns its one version's schema.
func crdSchema(t *testing.T, path string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == crucible.GroupVersion.Version {
			return v.Schema.OpenAPIV3Schema
		}
	}
	t.Fatalf("%s has no version %s", path, crucible.GroupVersion.Version)
	return nil
}

// schemaAt follows property names from s; "[]" steps into a list's items.
func schemaAt(t *testing.T, s *apiextensionsv1.JSONSchemaProps, path ...string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	for i, p := range path {
		if p == "[]" {
			if s.Items == nil || s.Items.Schema == nil {
				t.Fatalf("%s is no list", strings.Join(path[:i], "."))
			}
			s = s.Items.Schema
			continue
		}
		next, ok := s.Properties[p]
		if !ok {
			t.Fatalf("the schema has no %s", strings.Join(path[:i+1], "."))
		}
		s = &next
	}
	return s
}

func maximum(t *testing.T, s *apiextensionsv1.JSONSchemaProps) int {
	t.Helper()
	if s.Maximum == nil {
		t.Fatalf("%q has no maximum", s.Description)
	}
	return int(*s.Maximum)
}

func maxItems(t *testing.T, s *apiextensionsv1.JSONSchemaProps) int {
	t.Helper()
	if s.MaxItems == nil {
		t.Fatalf("%q has no maxItems", s.Description)
	}
	return int(*s.MaxItems)
}

// ruleInt returns the number pattern captures in the one x-kubernetes-validations
// rule of s it matches.
func ruleInt(t *testing.T, s *apiextensionsv1.JSONSchemaProps, pattern string) int {
	t.Helper()
	var texts []string
	for _, r := range s.XValidations {
		texts = append(texts, r.Rule)
	}
	return oneInt(t, "rule", texts, pattern)
}

// messageInt is ruleInt for the rules' messages.
func messageInt(t *testing.T, s *apiextensionsv1.JSONSchemaProps, pattern string) int {
	t.Helper()
	var texts []string
	for _, r := range s.XValidations {
		texts = append(texts, r.Message)
	}
	return oneInt(t, "message", texts, pattern)
}

func oneInt(t *testing.T, what string, texts []string, pattern string) int {
	t.Helper()
	var found []int
	for _, text := range texts {
		if regexp.MustCompile(pattern).MatchString(text) {
			found = append(found, firstInt(t, what, text, pattern))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %ss match %q, want 1: %q", len(found), what, pattern, texts)
	}
	return found[0]
}

func firstInt(t *testing.T, what, text, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s does not match %q: %q", what, pattern, text)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// loadPolicies reads every ValidatingAdmissionPolicy of dir by name.
func loadPolicies(t *testing.T, dir string) map[string]*admissionregistrationv1.ValidatingAdmissionPolicy {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policies := map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yamlutil.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := dec.Read()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var kind struct{ Kind string }
			if err := yaml.Unmarshal(doc, &kind); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if kind.Kind != "ValidatingAdmissionPolicy" {
				continue
			}
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := yaml.UnmarshalStrict(doc, p); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			policies[p.Name] = p
		}
	}
	for _, name := range []string{"crucible-experiment-pins", "crucible-experiment-template"} {
		if policies[name] == nil {
			t.Fatalf("%s has no ValidatingAdmissionPolicy %s", dir, name)
		}
	}
	return policies
}

// policyTexts is every expression and message of p, by where it is.
func policyTexts(p *admissionregistrationv1.ValidatingAdmissionPolicy) map[string]string {
	texts := map[string]string{}
	for _, v := range p.Spec.Variables {
		texts["variable "+v.Name] = v.Expression
	}
	for i, v := range p.Spec.Validations {
		n := strconv.Itoa(i)
		texts["validation "+n+" expression"] = v.Expression
		texts["validation "+n+" message"] = v.Message
		texts["validation "+n+" messageExpression"] = v.MessageExpression
	}
	return texts
}

func policyVariable(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, name string) string {
	t.Helper()
	for _, v := range p.Spec.Variables {
		if v.Name == name {
			return v.Expression
		}
	}
	t.Fatalf("%s has no variable %s", p.Name, name)
	return ""
}

func policyInt(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(policyVariable(t, p, name)))
	if err != nil {
		t.Fatalf("%s variable %s is no integer literal: %v", p.Name, name, err)
	}
	return n
}

// policyStrings returns the CEL string literals of a variable that is a
// list of them, or one.
func policyStrings(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, name string) []string {
	t.Helper()
	expr := policyVariable(t, p, name)
	if !regexp.MustCompile(`^\s*(\[\s*)?'[^']*'(\s*,\s*'[^']*')*(\s*\])?\s*$`).MatchString(expr) {
		t.Fatalf("%s variable %s is no string literal or list of them: %s", p.Name, name, expr)
	}
	var out []string
	for _, m := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

func policyString(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, name string) string {
	t.Helper()
	s := policyStrings(t, p, name)
	if len(s) != 1 {
		t.Fatalf("%s variable %s is no single string: %q", p.Name, name, s)
	}
	return s[0]
}

func expectInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s is %d, the API constant %d", what, got, want)
	}
}

func expectString(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s is %q, the API constant %q", what, got, want)
	}
}
