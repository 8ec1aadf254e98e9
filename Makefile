# Crucible — a Kubernetes operator for reproducible ML training runs.
#
#   make demo     a local cluster, the operator, a sample sweep to the end
#   make test     verify, unit, integration (envtest) and end-to-end tests
#   make verify   regenerate code and manifests; fail if they differ from git
#   make lint     golangci-lint
#   make run      run the operator against the cluster in KUBECONFIG
#
# Tools and Kubernetes binaries are built from source through the Go module
# proxy and cached in bin/ (see hack/tools.mk); a second run rebuilds nothing.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(shell pwd)/bin
export GOFLAGS ?= -buildvcs=false

CONTROLLER_TOOLS_VERSION ?= v0.23.0
# golangci-lint with the Kube API Linter compiled in, pinned in hack/kal.
KAL_VERSION ?= v0.0.0-20260716143926-092fe0c72997

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-kal

include hack/tools.mk
include hack/cluster.mk
include hack/s3.mk
include hack/image.mk
include hack/helm.mk
include hack/kueue.mk

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:generateEmbeddedObjectMeta=true paths="./api/..." paths="./internal/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: dashboard-assets ## go vet.
	go vet ./...

.PHONY: verify
verify: generate manifests fmt ## Regenerate everything; fail on any change or untracked file anywhere in the tree.
	@go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "The tree differs from what is committed (generated files, or files left behind); run make generate manifests fmt and commit:"; \
		git status --porcelain; \
		git --no-pager diff --stat; exit 1; fi

.PHONY: test-unit
test-unit: dashboard-assets ## Unit tests of the pure packages and reconcilers (no API server).
	go test -race $$(go list ./... | grep -v /test/) ./test/bench/

.PHONY: test-integration
test-integration: envtest-assets s3-assets ## Integration tests on a real kube-apiserver and etcd (envtest), and a real S3 gateway.
	KUBEBUILDER_ASSETS="$(LOCALBIN)" go test ./test/integration/ -timeout 30m -v -ginkgo.v=false
	go test ./test/integration/artifactstore/ ./test/s3server/... -timeout 5m

.PHONY: test-e2e
test-e2e: build chromium dev-cluster ## End-to-end suite on the local cluster (make dev-cluster), the operator as a process.
	E2E_KUBECONFIG="$(CLUSTER_KUBECONFIG)" go test ./test/e2e/... -timeout 30m -count=1 -v -ginkgo.v=false

.PHONY: test
test: verify vet lint test-unit test-image test-chart test-integration test-e2e ## Everything CI runs.

.PHONY: lint
lint: $(GOLANGCI_LINT) dashboard-assets ## golangci-lint, with the Kube API Linter on api/ (.golangci.yml).
	$(GOLANGCI_LINT) run ./...

##@ Build and run

# The dashboard's chart library (Apache ECharts from the npm registry, pinned
# by version and sha512 in internal/dashboard/static/vendor/echarts.lock),
# embedded in both binaries; not committed. Runs nothing when it is there.
# The browser of the dashboard's tests: Debian's chromium, installed by
# apt-get when missing (CHROMIUM names another).
.PHONY: chromium
chromium: ## Find or install headless Chromium for the browser tests.
	@hack/chromium.sh >/dev/null

.PHONY: dashboard-assets
dashboard-assets: ## Fetch and verify the dashboard's chart library (needs npm once).
	hack/dashboard-assets.sh

.PHONY: demo
demo: build dev-cluster ## A local cluster, the operator, a sample sweep to the end and its leaderboard.
	LOCALBIN="$(LOCALBIN)" CLUSTER_DIR="$(CLUSTER_DIR)" KUBECONFIG="$(CLUSTER_KUBECONFIG)" hack/demo.sh

.PHONY: build
build: dashboard-assets ## Build the manager and the kubectl-crucible CLI into bin/
	go build -o $(LOCALBIN)/manager ./cmd
	go build -o $(LOCALBIN)/kubectl-crucible ./cmd/kubectl-crucible

# RUN_ARGS are the manager's flags, e.g. RUN_ARGS="--artifact-endpoints=127.0.0.1:9000 --artifact-allow-insecure".
RUN_ARGS ?=

.PHONY: run
run: manifests ## Run the operator against the cluster in KUBECONFIG (install the CRDs first: make install).
	go run ./cmd $(RUN_ARGS)

.PHONY: install
install: $(LOCALBIN)/kubectl ## Install the CRDs and the admission policies into the cluster in KUBECONFIG.
	$(LOCALBIN)/kubectl apply --server-side -k config/crd
	$(LOCALBIN)/kubectl apply --server-side -k config/policy

.PHONY: deploy
deploy: $(LOCALBIN)/kubectl ## Install everything, the manager Deployment included (set its image in config/manager first).
	$(LOCALBIN)/kubectl apply --server-side -k config/default

##@ Tools

$(CONTROLLER_GEN): $(LOCALBIN)/.controller-gen-$(CONTROLLER_TOOLS_VERSION)
$(LOCALBIN)/.controller-gen-$(CONTROLLER_TOOLS_VERSION):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	@touch $@

# Built from the pinned module in hack/kal (go.sum verifies every byte); a
# version stamp, so a second run builds nothing.
$(GOLANGCI_LINT): $(LOCALBIN)/.kal-$(KAL_VERSION)
	@$(call _check_pinned_version,$(TOOLS_MK_DIR)/kal,sigs.k8s.io/kube-api-linter,$(KAL_VERSION),run: cd hack/kal && go get -tool sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter@$(KAL_VERSION) && go mod tidy)
	@echo "building golangci-lint with the Kube API Linter $(KAL_VERSION) -> $@"
	cd $(TOOLS_MK_DIR)/kal && $(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) -o $@.tmp \
		sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter && mv -f $@.tmp $@
$(LOCALBIN)/.kal-$(KAL_VERSION):
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.kal-v*
	@touch $@

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Benchmarks

# make bench runs on a cluster of its own, never on the e2e cluster: 20 KWOK
# nodes of 1,000 pods hold the 10,000 concurrent pods of the largest sweep.
BENCH_CLUSTER_NAME ?= crucible-bench
BENCH_CLUSTER_DIR ?= $(CURDIR)/.cluster-bench
BENCH_KWOK_NODES ?= 20
BENCH_KWOK_NODE_PODS ?= 1000
BENCH_ARGS ?= -n 1000,5000 -rss-n 5000,10000 -repeat 3

.PHONY: bench
# Every run starts on a new cluster, so that it does not measure what earlier
# runs left behind (an hour of sweeps grows etcd's database past 700 MB).
bench: build ## Sweep benchmarks on a new local cluster of their own; writes docs/benchmarks.md.
	$(MAKE) dev-cluster-down CLUSTER_NAME=$(BENCH_CLUSTER_NAME) CLUSTER_DIR=$(BENCH_CLUSTER_DIR)
	$(MAKE) dev-cluster CLUSTER_NAME=$(BENCH_CLUSTER_NAME) CLUSTER_DIR=$(BENCH_CLUSTER_DIR) \
		KWOK_NODES=$(BENCH_KWOK_NODES) KWOK_NODE_PODS=$(BENCH_KWOK_NODE_PODS)
	go run ./test/bench -kubeconfig $(BENCH_CLUSTER_DIR)/kubeconfig $(BENCH_ARGS) -out docs/benchmarks.md

# make bench-digest hashes a tree it writes to a temporary directory (64
# files of 16 MiB, 1 GiB; DIGEST_BENCH_ARGS resizes it) and times sha256sum
# over the same files in the same run.
DIGEST_BENCH_ARGS ?= -digest.files=64 -digest.file-mib=16

# make bench-dashboard writes an Experiment of 10,000 ended trials into the
# dev cluster (no operator needed) and times the dashboard on it, in Go and
# in headless Chromium, against a paged List of the same trials.
.PHONY: bench-dashboard
bench-dashboard: build chromium dev-cluster ## The dashboard on 10,000 trials: page time, Chromium render, memory.
	go run ./test/dashboardbench -kubeconfig $(CLUSTER_KUBECONFIG)

.PHONY: bench-step-metrics
bench-step-metrics: build s3-assets dev-cluster ## Step metrics: 100 trials x 100 steps; reports/s, latency, 429s, manager CPU/RSS, status and store writes per trial.
	E2E_KUBECONFIG="$(CLUSTER_KUBECONFIG)" go test ./test/stepbench/ -run '^TestStepMetricsBench$$' -count=1 -v -timeout 15m

.PHONY: bench-digest
bench-digest: ## Dataset digest throughput, 1 and 2 workers, against sha256sum; no cluster.
	go test ./internal/datasetdigest/ -run '^$$' -bench '^BenchmarkDigest$$' -benchtime 3x -args $(DIGEST_BENCH_ARGS)
