package health

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// argoDir holds the health checks and the argocd-cm patch that carries
// them.
const argoDir = "../../config/argocd"

// argoHealth is what an Argo CD health check returns.
type argoHealth struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// argoStatuses are the statuses Argo CD accepts from a health check; it
// reads any other as Unknown.
var argoStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

// script reads the health check of kind: config/argocd/health-<kind>.lua.
func script(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(argoDir, "health-"+strings.ToLower(kind)+".lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runArgoHealth runs a health check on obj the way Argo CD does
// (util/lua/lua.go of argoproj/argo-cd): without the standard libraries,
// which argocd-cm enables only with resource.customizations.useOpenLibs,
// but the base, package and table libraries (and a safe os, which these
// scripts do not use); obj as the global obj, its numbers Lua numbers; a
// second to run; the returned table read through JSON.
func runArgoHealth(script string, obj *unstructured.Unstructured) (argoHealth, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return argoHealth{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return argoHealth{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return argoHealth{}, fmt.Errorf("the script returned a %s, not a table", l.Get(-1).Type())
	}
	fields := map[string]any{}
	var bad error
	ret.ForEach(func(k, v lua.LValue) {
		s, ok := v.(lua.LString)
		if !ok {
			bad = fmt.Errorf("the script returned %s = %s, not a string", k, v.Type())
		}
		fields[k.String()] = string(s)
	})
	if bad != nil {
		return argoHealth{}, bad
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return argoHealth{}, err
	}
	var h argoHealth
	if err := json.Unmarshal(raw, &h); err != nil {
		return argoHealth{}, err
	}
	if !slices.Contains(argoStatuses, h.Status) {
		return argoHealth{}, fmt.Errorf("the script returned the status %q, which Argo CD reads as Unknown", h.Status)
	}
	return h, nil
}

// luaValue converts an unstructured value as Argo CD's decodeValue does.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(luaValue(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), luaValue(l, item))
		}
		return t
	}
	return lua.LNil
}

// argoKinds are the kinds with a health check, by the argocd-cm key of
// their check.
func argoKinds() map[string]string {
	keys := map[string]string{}
	for _, kind := range []string{"Experiment", "Trial", "ModelVersion", "Model"} {
		keys["resource.customizations.health."+crucible.GroupVersion.Group+"_"+kind] = kind
	}
	return keys
}

// update rewrites config/argocd/argocd-cm-patch.yaml from the scripts:
//
//	go test ./internal/health/ -run TestArgoCDConfigMapPatch -update
var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm-patch.yaml from config/argocd/health-*.lua")

// The argocd-cm patch carries every health check exactly as it is in its
// file, under the key Argo CD reads it by, and nothing else.
func TestArgoCDConfigMapPatch(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(argoDir, "health-*.lua"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for key, kind := range argoKinds() {
		want[key] = script(t, kind)
	}
	if len(files) != len(want) {
		t.Errorf("config/argocd has %d health checks %v; want one for each of %v", len(files), files, argoKinds())
	}
	path := filepath.Join(argoDir, "argocd-cm-patch.yaml")
	if *update {
		if err := os.WriteFile(path, argoPatch(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Errorf("%s patches %s %s %v; want the ConfigMap argocd-cm", path, cm.APIVersion, cm.Kind, cm.Metadata["name"])
	}
	for key, w := range want {
		if cm.Data[key] != w {
			t.Errorf("%s: %s is not health-%s.lua as it is; run the test with -update", path, key, strings.ToLower(argoKinds()[key]))
		}
	}
	for key := range cm.Data {
		if _, ok := want[key]; !ok {
			t.Errorf("%s has the key %s, which is no health check of config/argocd", path, key)
		}
	}
}

// argoPatch is the argocd-cm patch carrying scripts, by key.
func argoPatch(scripts map[string]string) []byte {
	var b strings.Builder
	b.WriteString(`# The health checks of config/argocd/health-*.lua, as a patch of Argo CD's
# argocd-cm: in the kustomization that installs Argo CD,
#
#   patches:
#     - path: argocd-cm-patch.yaml
#
# or merge its data into argocd-cm another way (the argo-cd Helm chart:
# configs.cm; this chart: argocd.healthChecks.enabled). Written by
#   go test ./internal/health/ -run TestArgoCDConfigMapPatch -update
# which fails when it differs from the scripts: edit those, not this.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	for _, key := range slices.Sorted(maps.Keys(scripts)) {
		fmt.Fprintf(&b, "  %s: |\n", key)
		for line := range strings.Lines(scripts[key]) {
			if strings.TrimSpace(line) != "" {
				b.WriteString("    ")
			}
			b.WriteString(line)
		}
	}
	return []byte(b.String())
}
