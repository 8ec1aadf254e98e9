package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/framework"
)

// Manifests for kubectl, relative to the repository's root: the samples,
// and ours for what they do not cover. What a refusal must say is read from
// the manifest's comments (see expectedRefusal).
var (
	badManifests  = []string{"config/samples/bad/*.yaml", "test/e2e/testdata/bad/*.yaml"}
	goodManifests = []string{"config/samples/*.yaml", sampleExperiment, "test/e2e/testdata/good/*.yaml"}
)

// KubectlTimeout bounds one kubectl run.
const KubectlTimeout = time.Minute

var _ = Describe("kubectl apply --dry-run=server", func() {
	var ns string
	BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

	DescribeTable("refuses a bad manifest with a message naming the field",
		func(ctx SpecContext, path string) {
			stdout, stderr, code := kubectl(ctx, "apply", "--dry-run=server", "-n", ns, "-f", withoutNamespace(path))
			Expect(code).NotTo(BeZero(), "kubectl accepted %s: %s", path, stdout)
			Expect(stderr).To(ContainSubstring("is invalid"))
			want, exact := expectedRefusal(path)
			if exact {
				Expect(collapseSpace(stderr)).To(ContainSubstring(want), "%s says what kubectl prints", path)
			} else {
				Expect(stderr).To(MatchRegexp(want), "the refusal of %s names the field", path)
			}
			expectNoExperiments(ctx, ns)
		},
		manifestEntries(badManifests),
	)

	DescribeTable("accepts a good manifest",
		func(ctx SpecContext, path string) {
			stdout, stderr, code := kubectl(ctx, "apply", "--dry-run=server", "-n", ns, "-f", withoutNamespace(path))
			Expect(code).To(BeZero(), "kubectl refused %s: %s", path, stderr)
			Expect(stdout).To(ContainSubstring("(server dry run)"))
			expectNoExperiments(ctx, ns)
		},
		manifestEntries(goodManifests),
	)
})

// manifestEntries makes one table entry per Experiment manifest the
// patterns match (not a kustomization, say).
func manifestEntries(patterns []string) []TableEntry {
	var entries []TableEntry
	for _, pattern := range patterns {
		files, err := filepath.Glob(filepath.Join(framework.Root(), pattern))
		if err != nil {
			panic(err) // a constant pattern
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil || !experimentKind.Match(data) {
				continue
			}
			rel, _ := filepath.Rel(framework.Root(), f)
			entries = append(entries, Entry(rel, f))
		}
	}
	return entries
}

var experimentKind = regexp.MustCompile(`(?m)^kind:\s*Experiment\s*$`)

// expectedRefusal reads what kubectl must print about a bad manifest from
// its leading comment: the text after "Expect" up to an empty comment line
// (as config/samples/bad/ writes it), spaces collapsed; exact is true then.
// Without one, the refusal must at least name a field: want is a pattern.
func expectedRefusal(path string) (want string, exact bool) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var block []string
	in := false
	for line := range strings.Lines(string(data)) {
		text, isComment := strings.CutPrefix(strings.TrimSpace(line), "#")
		if !isComment {
			break
		}
		text = strings.TrimSpace(text)
		switch {
		case in && text == "":
			return collapseSpace(strings.Join(block, " ")), true
		case in:
			block = append(block, text)
		case strings.HasSuffix(text, "Expect"):
			in = true
		}
	}
	if in && len(block) > 0 {
		return collapseSpace(strings.Join(block, " ")), true
	}
	return `(spec|metadata)\.[a-zA-Z]`, false
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// withoutNamespace returns path, or a copy of it without metadata.namespace
// when it names one, so that kubectl -n puts it in the test's namespace.
func withoutNamespace(path string) string {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var out bytes.Buffer
	rewritten := false
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred(), "reading %s", path)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetNamespace() != "" {
			u.SetNamespace("")
			rewritten = true
		}
		doc, err := yaml.Marshal(u.Object)
		Expect(err).NotTo(HaveOccurred())
		out.WriteString("---\n")
		out.Write(doc)
	}
	if !rewritten {
		return path
	}
	copied := filepath.Join(GinkgoT().TempDir(), filepath.Base(path))
	Expect(os.WriteFile(copied, out.Bytes(), 0o644)).To(Succeed())
	return copied
}

// kubectl runs bin/kubectl against the suite's cluster and returns its
// output and exit code.
func kubectl(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(ctx, KubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(framework.Root(), "bin", "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		Expect(err).NotTo(HaveOccurred(), "running kubectl %s", strings.Join(args, " "))
	}
	GinkgoWriter.Printf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), out.String(), errOut.String())
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// expectNoExperiments checks that nothing was stored: a dry run writes
// nothing.
func expectNoExperiments(ctx context.Context, ns string) {
	GinkgoHelper()
	var list crucible.ExperimentList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	Expect(list.Items).To(BeEmpty())
}
