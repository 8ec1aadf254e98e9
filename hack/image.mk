# hack/image.mk -- make image and make test-image: the manager's OCI image,
# built without a Docker engine.
#
#   make image        build the manager for $(IMAGE_PLATFORMS) and write the
#                     multi-platform image as an OCI image layout in bin/image;
#                     print its digest (the image index's: the one to pin)
#   make test-image   the tool's tests; a second build from a new go build in a
#                     temporary directory must give the same digest; both
#                     images are checked (user, entrypoint, no shell, a static
#                     ELF for each platform, no build ID or build path in it)
#
# Push the layout to a registry (credentials from ~/.docker/config.json, as
# written by docker login or crane auth login), then deploy it by digest:
#
#   bin/crucible-image push bin/image registry.example.com/crucible/manager:v0.1.0
#   crane push bin/image registry.example.com/crucible/manager:v0.1.0    # the same, with crane
#
# The image is built from scratch (no base image is pulled): /manager,
# /etc/passwd and /etc/group with distroless's nonroot user, /home/nonroot,
# /tmp; USER 65532:65532, ENTRYPOINT ["/manager"], no shell. The manager
# carries Mozilla's root CAs (golang.org/x/crypto/x509roots/fallback,
# imported by cmd/main.go), so the image needs no CA bundle, and the build
# reads nothing of the build machine but the sources and the Go toolchain.
#
# Reproducible: the binaries are built with -trimpath -buildvcs=false
# -ldflags=-buildid= and the GOAMD64/GOARM64 defaults, whatever the caller's
# environment says; every time in the image is SOURCE_DATE_EPOCH (the last
# commit's time unless set); entries are sorted, modes and owners fixed. The
# same commit and Go version give the same digest. hack/image/ is
# crucible-image, a Go module of its own pinning go-containerregistry
# ($(GGCR_VERSION)), built once into $(LOCALBIN) and rebuilt when that
# version or the tool's sources change.
#
# The Dockerfile stays for those who build with Docker (on distroless, so
# its digest differs from this one).

IMAGE_MK_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

GGCR_VERSION ?= v0.22.1
IMAGE_TOOL ?= $(LOCALBIN)/crucible-image
IMAGE_TOOL_STAMP := $(LOCALBIN)/.crucible-image-$(GGCR_VERSION)
IMAGE_TOOL_SRCS := $(filter-out %_test.go,$(wildcard $(IMAGE_MK_DIR)/image/*.go)) \
	$(IMAGE_MK_DIR)/image/go.mod $(IMAGE_MK_DIR)/image/go.sum

# OS/ARCH pairs; every one is cross-compiled by the Go toolchain (the first
# arm64 build compiles the dependencies once more: about 3 minutes here).
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
# The OCI image layout make image writes, and where its binaries are built.
IMAGE_DIR ?= $(LOCALBIN)/image
IMAGE_BIN_DIR ?= $(LOCALBIN)/image-bin
# IMAGE_TEST_COLD=1: make test-image's second build starts from an empty Go
# build cache, so that it compiles every package again (minutes, not
# seconds) instead of relinking cached ones.
IMAGE_TEST_COLD ?=

# The environment of the manager's build: no cgo (a static binary), and the
# caller's GOFLAGS, GOAMD64, GOARM64 and GOEXPERIMENT replaced by fixed
# values, since each of them changes the binary.
IMAGE_GO_ENV := CGO_ENABLED=0 GOWORK=off GOFLAGS= GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT=
# -s -w as in the Dockerfile; -buildid= drops the build ID, -trimpath the
# build machine's paths. The Makefile's build sets no version by -ldflags.
IMAGE_GO_BUILD_FLAGS := -mod=readonly -trimpath -buildvcs=false -ldflags "-s -w -buildid="

# $(1) = directory: build the manager for every platform into
# $(1)/manager-<os>-<arch>. $(2) = more environment for go build. One shell
# line, so that recipes can chain it.
define _image_binaries
mkdir -p $(1); \
for p in $(IMAGE_PLATFORMS); do \
  os=$${p%%/*}; arch=$${p#*/}; \
  echo "go build ./cmd for $$p -> $(1)/manager-$$os-$$arch" >&2; \
  env $(IMAGE_GO_ENV) $(2) GOOS=$$os GOARCH=$$arch go build $(IMAGE_GO_BUILD_FLAGS) \
    -o $(1)/manager-$$os-$$arch ./cmd; \
done
endef

# $(1) = the binaries' directory, $(2) = the layout to write; prints the
# digest. The time is SOURCE_DATE_EPOCH, else the last commit's, else 0;
# the revision label is the commit's, if there is one.
define _image_assemble
epoch=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)}; \
rev=$$(git rev-parse HEAD 2>/dev/null || true); \
$(IMAGE_TOOL) build -out $(2) -epoch "$$epoch" \
  $${rev:+-label org.opencontainers.image.revision=$$rev} \
  $(foreach p,$(IMAGE_PLATFORMS),-binary $(p)=$(1)/manager-$(subst /,-,$(p)))
endef

# Absolute paths of the build machine that a -trimpath binary never holds.
_image_forbid = -forbid $(CURDIR) -forbid "$$(go env GOROOT)" -forbid "$$(go env GOMODCACHE)"

.PHONY: image
image: dashboard-assets $(IMAGE_TOOL) ## Build the manager's OCI image (from scratch, linux/amd64 and arm64) into bin/image; print its digest.
	@set -e; $(call _image_binaries,$(IMAGE_BIN_DIR))
	@set -e; $(call _image_assemble,$(IMAGE_BIN_DIR),$(IMAGE_DIR))

.PHONY: test-image
test-image: image ## The image's tool tests; two builds give one digest; user, entrypoint, no shell, static ELF.
	cd $(IMAGE_MK_DIR)/image && $(TOOLS_GO_ENV) $(TOOLS_GO) vet ./... && $(TOOLS_GO_ENV) $(TOOLS_GO) test ./...
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(call _image_binaries,$$tmp/bin,$(if $(IMAGE_TEST_COLD),GOCACHE=$$tmp/gocache)); \
	$(call _image_assemble,$$tmp/bin,$$tmp/image) >/dev/null; \
	first=$$($(IMAGE_TOOL) digest $(IMAGE_DIR)); second=$$($(IMAGE_TOOL) digest $$tmp/image); \
	if [ "$$first" != "$$second" ]; then \
	  echo "test-image: two builds of one tree, two digests: $$first (bin/image), $$second; blobs that differ:" >&2; \
	  diff <(ls $(IMAGE_DIR)/blobs/sha256) <(ls $$tmp/image/blobs/sha256) >&2 || true; \
	  cmp $(IMAGE_BIN_DIR)/manager-linux-amd64 $$tmp/bin/manager-linux-amd64 >&2 || true; \
	  exit 1; \
	fi; \
	echo "test-image: two builds, one digest: $$first"; \
	$(IMAGE_TOOL) verify $(_image_forbid) $(IMAGE_DIR); \
	$(IMAGE_TOOL) verify $(_image_forbid) $$tmp/image >/dev/null

# Built from the pinned module in hack/image; the stamp rebuilds it when
# GGCR_VERSION changes, the sources when the tool does.
$(IMAGE_TOOL): $(IMAGE_TOOL_STAMP) $(IMAGE_TOOL_SRCS)
	@$(call _check_pinned_version,$(IMAGE_MK_DIR)/image,github.com/google/go-containerregistry,$(GGCR_VERSION),run: cd hack/image && go get github.com/google/go-containerregistry@$(GGCR_VERSION) && go mod tidy)
	@echo "building crucible-image (go-containerregistry $(GGCR_VERSION)) -> $@"
	cd $(IMAGE_MK_DIR)/image && $(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) -ldflags "-s -w" -o $@.tmp . && mv -f $@.tmp $@
$(IMAGE_TOOL_STAMP):
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.crucible-image-v*
	@touch $@
