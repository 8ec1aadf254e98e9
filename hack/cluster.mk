# hack/cluster.mk -- a local end-to-end cluster: kwokctl --runtime binary with
# the control-plane binaries of hack/tools.mk and simulated (KWOK) nodes.
#
# Include from the top-level Makefile, after hack/tools.mk:
#
#     include hack/tools.mk
#     include hack/cluster.mk
#
#   make dev-cluster        start (or find running) the cluster; prints the kubeconfig path
#   make dev-cluster-down   stop it and delete all its state
#   export KUBECONFIG=$(make -s dev-cluster-kubeconfig)
#
# kwok and kwokctl are built from sigs.k8s.io/kwok, pinned in hack/kwok (a Go
# module of its own, like hack/k8s and hack/etcd), with a version stamp
# ($(LOCALBIN)/.kwok-<version>) so a second make builds nothing. Nothing is
# downloaded at cluster start: kwokctl is pointed at the binaries in
# $(LOCALBIN) (see hack/cluster/up.sh). All cluster state lives under
# $(CLUSTER_DIR) (git-ignored), never under ~/.kwok.

CLUSTER_MK_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

KWOK_VERSION ?= v0.8.0

CLUSTER_NAME ?= crucible
KWOK_NODES ?= 4
# Everything the cluster writes: kwokctl's workdir, logs, etcd data, kubeconfig.
CLUSTER_DIR ?= $(abspath $(CLUSTER_MK_DIR)/..)/.cluster
CLUSTER_KUBECONFIG ?= $(CLUSTER_DIR)/kubeconfig
# KWOK Stages (trainer simulation + node/pod lifecycle) passed to kwokctl --config.
KWOK_STAGES ?= $(abspath $(CLUSTER_MK_DIR)/..)/test/e2e/stages

KWOK_STAMP := $(LOCALBIN)/.kwok-$(KWOK_VERSION)
KWOK_BINARIES := kwok kwokctl

# The same -X settings as kwok's hack/releases.sh. KubeVersion is the default
# Kubernetes version kwokctl assumes; ours is the one hack/tools.mk builds.
define _kwok_ldflags
-s -w\
 -X 'sigs.k8s.io/kwok/pkg/consts.Version=$(patsubst v%,%,$(KWOK_VERSION))'\
 -X 'sigs.k8s.io/kwok/pkg/consts.PreRelease=GA'\
 -X 'sigs.k8s.io/kwok/pkg/consts.KubeVersion=$(patsubst v%,%,$(KUBE_VERSION))'
endef

.PHONY: kwok-binaries dev-cluster dev-cluster-down dev-cluster-kubeconfig clean-kwok-binaries

## kwok-binaries: build kwok and kwokctl into $(LOCALBIN).
kwok-binaries: $(addprefix $(LOCALBIN)/,$(KWOK_BINARIES))

## clean-kwok-binaries: remove the binaries and stamp built here.
clean-kwok-binaries:
	rm -f $(addprefix $(LOCALBIN)/,$(KWOK_BINARIES)) $(LOCALBIN)/.kwok-v*

$(KWOK_STAMP):
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.kwok-v*
	@touch $@

$(addprefix $(LOCALBIN)/,$(KWOK_BINARIES)): $(LOCALBIN)/%: $(KWOK_STAMP)
	@$(call _check_pinned_version,$(CLUSTER_MK_DIR)/kwok,sigs.k8s.io/kwok,$(KWOK_VERSION),cd hack/kwok && go get -tool sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION) sigs.k8s.io/kwok/cmd/kwokctl@$(KWOK_VERSION) && go mod tidy)
	@echo "building $* $(KWOK_VERSION) -> $@"
	@set -e; cd $(CLUSTER_MK_DIR)/kwok; \
	$(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) \
	  -ldflags "$(_kwok_ldflags)" \
	  -o $@.tmp sigs.k8s.io/kwok/cmd/$*; \
	mv -f $@.tmp $@

# The binaries the cluster runs, all from $(LOCALBIN).
DEV_CLUSTER_BINARIES := $(addprefix $(LOCALBIN)/,$(KWOK_BINARIES) $(KUBE_BINARIES) etcd)

## dev-cluster: start the e2e cluster (no-op if it is up); prints its kubeconfig path.
dev-cluster: $(DEV_CLUSTER_BINARIES)
	@LOCALBIN="$(LOCALBIN)" CLUSTER_NAME="$(CLUSTER_NAME)" CLUSTER_DIR="$(CLUSTER_DIR)" \
	  CLUSTER_KUBECONFIG="$(CLUSTER_KUBECONFIG)" KWOK_NODES="$(KWOK_NODES)" \
	  KWOK_STAGES="$(KWOK_STAGES)" KUBE_VERSION="$(KUBE_VERSION)" \
	  $(CLUSTER_MK_DIR)/cluster/up.sh

## dev-cluster-down: stop the e2e cluster and delete all its state.
dev-cluster-down:
	@LOCALBIN="$(LOCALBIN)" CLUSTER_NAME="$(CLUSTER_NAME)" CLUSTER_DIR="$(CLUSTER_DIR)" \
	  CLUSTER_KUBECONFIG="$(CLUSTER_KUBECONFIG)" \
	  $(CLUSTER_MK_DIR)/cluster/down.sh

## dev-cluster-kubeconfig: print the kubeconfig path (make -s dev-cluster-kubeconfig).
dev-cluster-kubeconfig:
	@echo "$(CLUSTER_KUBECONFIG)"
