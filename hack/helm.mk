# hack/helm.mk -- the Helm chart (charts/crucible): helm built from source
# through the Go module proxy, and make test-chart.
#
# helm is pinned in the tools module hack/helm (go.sum verifies every source
# byte) and built into $(LOCALBIN)/helm; a version stamp
# ($(LOCALBIN)/.helm-<version>) makes a second run build nothing, and a new
# HELM_VERSION a new build. Bump it with:
#
#   cd hack/helm && go get -tool helm.sh/helm/v3/cmd/helm@<version> && go mod tidy
#
# The chart's CRDs, RBAC rules and admission policies are copied from config/
# by hack/chart.sh, which `make manifests` runs; `make verify` fails when
# they drift.

HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm
CHART_DIR := charts/crucible

_helm_pin_hint = run: cd hack/helm && go get -tool helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && go mod tidy

# The ldflags of helm's own Makefile: the version it reports, and the
# Kubernetes version `helm lint` and `helm template` assume (client-go's
# v0.<minor> is Kubernetes 1.<minor>).
define _helm_ldflags
-s -w -X 'helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)'\
 -X 'helm.sh/helm/v3/internal/version.gitTreeState=clean'\
 -X 'helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1'\
 -X 'helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(1)'\
 -X 'helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1'\
 -X 'helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(1)'
endef

.PHONY: helm
helm: $(HELM) ## Build helm from the pinned module in hack/helm into bin/helm.

$(HELM): $(LOCALBIN)/.helm-$(HELM_VERSION)
	@$(call _check_pinned_version,$(TOOLS_MK_DIR)/helm,helm.sh/helm/v3,$(HELM_VERSION),$(_helm_pin_hint))
	@echo "building helm $(HELM_VERSION) -> $@"
	@set -e; cd $(TOOLS_MK_DIR)/helm; \
	minor=$$($(TOOLS_GO_ENV) $(TOOLS_GO) list -mod=readonly -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2); \
	$(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) \
	  -ldflags "$(call _helm_ldflags,$$minor)" \
	  -o $@.tmp helm.sh/helm/v3/cmd/helm; \
	mv -f $@.tmp $@

# Checked first, so that a mismatch leaves the existing stamp alone.
$(LOCALBIN)/.helm-$(HELM_VERSION):
	@$(call _check_pinned_version,$(TOOLS_MK_DIR)/helm,helm.sh/helm/v3,$(HELM_VERSION),$(_helm_pin_hint))
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.helm-v*
	@touch $@

# The chart's optional parts all on: what test-chart renders a second time,
# and what charts/chart_test.go checks.
CHART_ALL_ON_VALUES := $(CHART_DIR)/ci/all-on-values.yaml

.PHONY: test-chart
test-chart: $(HELM) ## helm lint and helm template of charts/crucible, the rendered objects checked by a Go test.
	$(HELM) lint --strict $(CHART_DIR)
	$(HELM) lint --strict $(CHART_DIR) -f $(CHART_ALL_ON_VALUES)
	$(HELM) template crucible $(CHART_DIR) --namespace crucible-system >/dev/null
	$(HELM) template crucible $(CHART_DIR) --namespace crucible-system -f $(CHART_ALL_ON_VALUES) \
		--api-versions monitoring.coreos.com/v1 >/dev/null
	HELM="$(HELM)" go test ./charts/ -count=1

# The e2e suite installs the chart with bin/helm (test/e2e/chart_test.go).
test-e2e: $(HELM)
