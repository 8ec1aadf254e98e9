# hack/s3.mk -- build the S3 server that the artifact-store tests run against.
#
# Include from the top-level Makefile, after hack/tools.mk (it uses
# TOOLS_GO, TOOLS_GO_ENV, TOOLS_GO_BUILD_FLAGS and _check_pinned_version):
#
#     include hack/tools.mk
#     include hack/s3.mk
#     test-integration: s3-assets
#
# versitygw (github.com/versity/versitygw, Apache-2.0) is an S3 gateway; with
# its posix backend it serves buckets and objects from a local directory.
# test/s3server starts $(LOCALBIN)/versitygw on a loopback port for each test
# server. It is built from source through the Go module proxy, pinned in
# hack/versitygw (a Go module of its own, like hack/k8s, hack/etcd and
# hack/kwok), with a version stamp ($(LOCALBIN)/.versitygw-<version>) so a
# second `make s3-assets` runs no command at all.
#
# No `$(LOCALBIN):` rule is defined here on purpose; recipes run `mkdir -p`.
#
#   make dev-s3        start a local S3 store for the dev cluster (no-op if it is
#                      up), create its bucket, print the Secret and spec.artifacts
#   make dev-s3-down   stop it and delete all its state
#
# The store is the same versitygw, on 127.0.0.1:$(DEV_S3_PORT), its data under
# $(CLUSTER_DIR)/s3 (see hack/dev-s3.sh). Only stdout carries the Secret:
#
#   make -s dev-s3 | kubectl apply -n <namespace> -f -

S3_MK_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

VERSITYGW_VERSION ?= v1.8.0

# Commit the release was tagged from, if known; it only shows up in
# `versitygw --version` ("Build"). The module proxy does not tell it.
VERSITYGW_GIT_COMMIT ?= none (built from github.com/versity/versitygw@$(VERSITYGW_VERSION))

VERSITYGW_STAMP := $(LOCALBIN)/.versitygw-$(VERSITYGW_VERSION)

# The same -X settings as versitygw's Makefile and .goreleaser.yaml
# (main.Version, main.Build, main.BuildTime). $(1) = build time: the release's
# module time, in the Makefile's `date -u '+%Y-%m-%d_%I:%M:%S%p'` format, so
# the binary does not depend on when it was built. -s -w as for the other
# binaries in $(LOCALBIN).
define _versitygw_ldflags
-s -w\
 -X 'main.Version=$(VERSITYGW_VERSION)'\
 -X 'main.Build=$(VERSITYGW_GIT_COMMIT)'\
 -X 'main.BuildTime=$(1)'
endef

_versitygw_pin_hint = run: cd hack/versitygw && go get -tool github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION) && go mod tidy

# The local store of make dev-s3. CLUSTER_DIR comes from hack/cluster.mk when
# it is included; the same default otherwise.
CLUSTER_DIR ?= $(abspath $(S3_MK_DIR)/..)/.cluster
DEV_S3_DIR ?= $(CLUSTER_DIR)/s3
DEV_S3_PORT ?= 9000
DEV_S3_BUCKET ?= crucible-artifacts
DEV_S3_REGION ?= us-east-1
DEV_S3_SECRET ?= crucible-dev-s3

_dev_s3_env = LOCALBIN="$(LOCALBIN)" CLUSTER_DIR="$(CLUSTER_DIR)" DEV_S3_DIR="$(DEV_S3_DIR)" \
  DEV_S3_PORT="$(DEV_S3_PORT)" DEV_S3_BUCKET="$(DEV_S3_BUCKET)" DEV_S3_REGION="$(DEV_S3_REGION)" \
  DEV_S3_SECRET="$(DEV_S3_SECRET)"

.PHONY: s3-assets clean-s3-assets dev-s3 dev-s3-down

## dev-s3: start a local S3 store for the dev cluster (no-op if it is up); prints its Secret and spec.artifacts.
dev-s3: $(LOCALBIN)/versitygw
	@$(_dev_s3_env) $(S3_MK_DIR)/dev-s3.sh up

## dev-s3-down: stop the local S3 store and delete all its state.
dev-s3-down:
	@$(_dev_s3_env) $(S3_MK_DIR)/dev-s3.sh down

## s3-assets: build versitygw (the S3 server of the artifact-store tests) into $(LOCALBIN).
s3-assets: $(LOCALBIN)/versitygw

## clean-s3-assets: remove the binary and stamp built here.
clean-s3-assets:
	rm -f $(LOCALBIN)/versitygw $(LOCALBIN)/.versitygw-v*

# A version stamp; creating it drops the stamps of other versions. The pin is
# checked first so that a mismatch leaves the existing stamps alone.
$(VERSITYGW_STAMP):
	@$(call _check_pinned_version,$(S3_MK_DIR)/versitygw,github.com/versity/versitygw,$(VERSITYGW_VERSION),$(_versitygw_pin_hint))
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.versitygw-v*
	@touch $@

$(LOCALBIN)/versitygw: $(VERSITYGW_STAMP)
	@$(call _check_pinned_version,$(S3_MK_DIR)/versitygw,github.com/versity/versitygw,$(VERSITYGW_VERSION),$(_versitygw_pin_hint))
	@echo "building versitygw $(VERSITYGW_VERSION) -> $@"
	@set -e; cd $(S3_MK_DIR)/versitygw; \
	date=$$($(TOOLS_GO_ENV) $(TOOLS_GO) list -mod=readonly -m -f '{{.Time.UTC.Format "2006-01-02_03:04:05PM"}}' github.com/versity/versitygw); \
	$(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) \
	  -ldflags "$(call _versitygw_ldflags,$$date)" \
	  -o $@.tmp github.com/versity/versitygw/cmd/versitygw; \
	mv -f $@.tmp $@
