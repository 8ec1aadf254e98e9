# hack/kueue.mk -- Kueue (sigs.k8s.io/kueue) for the e2e suite's queue specs:
# its controller built from source through the Go module proxy, and its CRDs
# taken from the same module, so that trials are admitted by the real
# scheduler of quotas, not by a fake.
#
# kueue is pinned in the tools module hack/kueue (go.sum verifies every
# source byte) and built into $(LOCALBIN)/kueue; its CRDs are copied from
# the module into $(LOCALBIN)/kueue-crds. A version stamp
# ($(LOCALBIN)/.kueue-<version>) makes a second run build nothing, and a new
# KUEUE_VERSION a new build. Bump it with:
#
#   cd hack/kueue && go get -tool sigs.k8s.io/kueue/cmd/kueue@<version> && go mod tidy
#
# The e2e suite (test/e2e/kueue_test.go) installs the CRDs and runs bin/kueue
# as a process against the local cluster, as it runs the operator.

KUEUE_VERSION ?= v0.17.0
KUEUE ?= $(LOCALBIN)/kueue
KUEUE_CRDS ?= $(LOCALBIN)/kueue-crds

_kueue_pin_hint = run: cd hack/kueue && go get -tool sigs.k8s.io/kueue/cmd/kueue@$(KUEUE_VERSION) && go mod tidy

.PHONY: kueue
kueue: $(KUEUE) $(KUEUE_CRDS)/.done ## Build the Kueue controller from the pinned module in hack/kueue into bin/kueue, its CRDs into bin/kueue-crds.

$(KUEUE): $(LOCALBIN)/.kueue-$(KUEUE_VERSION)
	@$(call _check_pinned_version,$(TOOLS_MK_DIR)/kueue,sigs.k8s.io/kueue,$(KUEUE_VERSION),$(_kueue_pin_hint))
	@echo "building kueue $(KUEUE_VERSION) -> $@"
	@set -e; cd $(TOOLS_MK_DIR)/kueue; \
	$(TOOLS_GO_ENV) $(TOOLS_GO) build $(TOOLS_GO_BUILD_FLAGS) -ldflags "-s -w" -o $@.tmp sigs.k8s.io/kueue/cmd/kueue; \
	mv -f $@.tmp $@

$(KUEUE_CRDS)/.done: $(LOCALBIN)/.kueue-$(KUEUE_VERSION)
	@set -e; cd $(TOOLS_MK_DIR)/kueue; \
	dir=$$($(TOOLS_GO_ENV) $(TOOLS_GO) list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kueue); \
	if [ -z "$$dir" ]; then $(TOOLS_GO_ENV) $(TOOLS_GO) mod download sigs.k8s.io/kueue; \
	  dir=$$($(TOOLS_GO_ENV) $(TOOLS_GO) list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kueue); fi; \
	rm -rf $(KUEUE_CRDS); mkdir -p $(KUEUE_CRDS); \
	cp $$dir/config/components/crd/bases/*.yaml $(KUEUE_CRDS)/; \
	chmod u+w $(KUEUE_CRDS)/*.yaml; \
	touch $@

# Checked first, so that a mismatch leaves the existing stamp alone.
$(LOCALBIN)/.kueue-$(KUEUE_VERSION):
	@$(call _check_pinned_version,$(TOOLS_MK_DIR)/kueue,sigs.k8s.io/kueue,$(KUEUE_VERSION),$(_kueue_pin_hint))
	@mkdir -p $(LOCALBIN)
	@rm -f $(LOCALBIN)/.kueue-v*
	@touch $@

test-e2e: kueue
