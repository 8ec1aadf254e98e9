package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// krewPlugin is krew's Plugin (sigs.k8s.io/krew/pkg/index), the fields a
// manifest may have: a strict decode refuses any other.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string         `json:"version"`
		ShortDescription string         `json:"shortDescription"`
		Description      string         `json:"description"`
		Caveats          string         `json:"caveats"`
		Homepage         string         `json:"homepage"`
		Platforms        []krewPlatform `json:"platforms"`
	} `json:"spec"`
}

type krewPlatform struct {
	URI      string                `json:"uri"`
	Sha256   string                `json:"sha256"`
	Selector *metav1.LabelSelector `json:"selector"`
	Files    []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
	Bin string `json:"bin"`
}

// TestKrewManifest checks hack/krew/crucible.yaml has what krew's index
// validation (krew's pkg/index/validation) requires, and a platform for
// each release archive.
func TestKrewManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "hack", "krew", "crucible.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("not a krew Plugin: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion %q, kind %q; want krew.googlecontainertools.github.com/v1alpha2 Plugin", p.APIVersion, p.Kind)
	}
	// The name is what follows "kubectl ": the binary is kubectl-<name>.
	if p.Metadata.Name != "crucible" {
		t.Errorf("metadata.name %q; want crucible", p.Metadata.Name)
	}
	semver := regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`)
	if !semver.MatchString(p.Spec.Version) {
		t.Errorf("spec.version %q; want a semantic version with a v", p.Spec.Version)
	}
	if !strings.HasPrefix(p.Spec.Homepage, "https://") {
		t.Errorf("spec.homepage %q; want an https URL", p.Spec.Homepage)
	}
	// krew-index asks for a short description of at most 50 characters.
	if n := len(p.Spec.ShortDescription); n == 0 || n > 50 {
		t.Errorf("spec.shortDescription has %d characters; want 1 to 50", n)
	}
	if p.Spec.Description == "" {
		t.Error("no spec.description")
	}

	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	var got []string
	for i, pl := range p.Spec.Platforms {
		if pl.Selector == nil {
			t.Errorf("platform %d has no selector", i)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pl.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("platform %d: selector %v: %v", i, pl.Selector, err)
		}
		goos, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		got = append(got, goos+"/"+arch)
		if want := "_" + p.Spec.Version + "_" + goos + "_" + arch + ".tar.gz"; !strings.HasPrefix(pl.URI, "https://") || !strings.HasSuffix(pl.URI, want) ||
			!strings.Contains(pl.URI, "/"+p.Spec.Version+"/") {
			t.Errorf("platform %s: uri %q; want an https release archive of %s ending %s", goos+"/"+arch, pl.URI, p.Spec.Version, want)
		}
		if !hex64.MatchString(pl.Sha256) {
			t.Errorf("platform %s: sha256 %q; want 64 lowercase hex digits", goos+"/"+arch, pl.Sha256)
		}
		if pl.Bin != "kubectl-crucible" {
			t.Errorf("platform %s: bin %q; want kubectl-crucible", goos+"/"+arch, pl.Bin)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}, got); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}
