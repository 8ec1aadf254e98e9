// Command crucible-image builds the Crucible manager's OCI image without a
// Docker engine (make image), checks it (make test-image) and pushes it.
//
//	crucible-image build -out bin/image -epoch N -binary linux/amd64=PATH [-binary linux/arm64=PATH] [-label k=v]
//	crucible-image digest bin/image
//	crucible-image verify [-forbid STRING]... bin/image
//	crucible-image push bin/image REGISTRY/REPO[:TAG]
//
// The image is built from scratch: one layer with the static manager at
// /manager, /etc/passwd and /etc/group with distroless's nonroot user
// (65532), /home/nonroot and /tmp; USER 65532:65532, ENTRYPOINT
// ["/manager"], no shell. Every time in it is -epoch (make passes
// SOURCE_DATE_EPOCH, the last commit's time), entries are sorted and owners
// and modes fixed, so the same binaries give the same digest. build writes
// an OCI image layout whose index.json holds one image index of the
// platforms, and prints that index's digest: the one to pin.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "crucible-image:", err)
		os.Exit(1)
	}
}

const usage = "usage: crucible-image build|digest|verify|push ... (see hack/image.mk)"

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], stdout, stderr)
	case "digest":
		return runDigest(args[1:], stdout)
	case "verify":
		return runVerify(args[1:], stdout)
	case "push":
		return runPush(args[1:], stdout)
	default:
		return fmt.Errorf("unknown command %q; %s", args[0], usage)
	}
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	out := fs.String("out", "", "directory of the OCI image layout to write (replaced)")
	epoch := fs.Int64("epoch", 0, "the time of every entry and of the config, in seconds since 1970 (SOURCE_DATE_EPOCH)")
	var binaries, labels listFlag
	fs.Var(&binaries, "binary", "OS/ARCH[/VARIANT]=PATH of a static manager binary; once per platform")
	fs.Var(&labels, "label", "KEY=VALUE of an image label; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(binaries) == 0 || fs.NArg() != 0 {
		return errors.New("build needs -out and at least one -binary, and no arguments")
	}
	var bins []Binary
	for _, b := range binaries {
		plat, file, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-binary %q: want OS/ARCH=PATH", b)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return fmt.Errorf("-binary %q: %w", b, err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		bins = append(bins, Binary{Platform: *p, Data: data})
	}
	labelMap := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("-label %q: want KEY=VALUE", l)
		}
		labelMap[k] = v
	}
	if len(labelMap) == 0 {
		labelMap = nil
	}

	idx, err := buildIndex(bins, time.Unix(*epoch, 0), labelMap)
	if err != nil {
		return err
	}
	if err := writeLayout(*out, idx); err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if _, err := fmt.Fprintf(stderr, "%s %s\n", d.Platform, d.Digest); err != nil {
			return err
		}
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, digest)
	return err
}

func runDigest(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: crucible-image digest LAYOUT")
	}
	idx, err := readLayout(args[0])
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, digest)
	return err
}

func runVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var forbidden listFlag
	fs.Var(&forbidden, "forbid", "a string /manager must not contain (an absolute build path); repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: crucible-image verify [-forbid STRING]... LAYOUT")
	}
	idx, err := readLayout(fs.Arg(0))
	if err != nil {
		return err
	}
	report, err := verifyIndex(idx, forbidden)
	if err != nil {
		return err
	}
	for _, line := range report {
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	return nil
}

// runPush pushes the image index and its images to a registry, with the
// credentials of ~/.docker/config.json (docker login, crane auth login),
// and prints the pushed reference by digest.
func runPush(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: crucible-image push LAYOUT REGISTRY/REPO[:TAG]")
	}
	idx, err := readLayout(args[0])
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(args[1])
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, ref.Context().Digest(digest.String()))
	return err
}
