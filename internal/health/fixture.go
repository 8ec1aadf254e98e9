package health

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-cmp/cmp"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

var scheme = k8sruntime.NewScheme()

func init() {
	if err := crucible.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// FixturePath is the file of the fixture name of kind (lower case):
// testdata/<kind>/<name>.yaml in this package's directory.
func FixturePath(kind, name string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("health: no caller information to find the fixtures by")
	}
	return filepath.Join(filepath.Dir(file), "testdata", strings.ToLower(kind), name+".yaml")
}

// Fixture compares obj, as YAML with its apiVersion and kind, with the
// fixture name of its kind, after writing it there when update is set. It
// returns an error naming the file when they differ or the file is
// missing.
func Fixture(obj k8sruntime.Object, name string, update bool) error {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return err
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	got, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	path := FixturePath(gvk.Kind, name)
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			return err
		}
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no fixture %s: run the test with -update to write it", path)
	} else if err != nil {
		return err
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		return fmt.Errorf("the fixture %s is not what the status functions compute now (-fixture +computed):\n%s"+
			"run the test with -update to rewrite it, then go test ./internal/health/ for what GitOps tools make of it", path, diff)
	}
	return nil
}
