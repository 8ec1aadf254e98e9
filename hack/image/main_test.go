package main

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// push sends the layout's index to a registry (go-containerregistry's
// in-memory one) under the digest build printed, and a pull gets it back.
func TestPush(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the machine
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)

	dir := filepath.Join(t.TempDir(), "image")
	idx, err := buildIndex(binaries(t), epoch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(dir, idx); err != nil {
		t.Fatal(err)
	}
	var digestOut bytes.Buffer
	if err := run([]string{"digest", dir}, &digestOut, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(digestOut.String())

	repo := strings.TrimPrefix(srv.URL, "http://") + "/crucible/manager"
	var out bytes.Buffer
	if err := run([]string{"push", dir, repo + ":test"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != repo+"@"+want {
		t.Errorf("push printed %q, want %q", got, repo+"@"+want)
	}
	ref, err := name.ParseReference(repo + ":test")
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d := digest(t, pulled); d.String() != want {
		t.Errorf("the registry holds %s, want %s", d, want)
	}
	if _, err := verifyIndex(pulled, nil); err != nil {
		t.Errorf("the pulled image: %v", err)
	}
}
