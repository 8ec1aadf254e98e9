// Package health is how GitOps tools see Crucible's objects: Flux (and any
// tool built on sigs.k8s.io/cli-utils' kstatus) through the conventions of
// kstatus, Argo CD through the Lua health checks of config/argocd.
//
// Its testdata holds Experiments, Trials, ModelVersions and Models in every
// phase, as the operator's own status functions compute them: the
// controllers' status tests write them with Fixture and fail when they
// differ. Its tests read each one with kstatus, and with the Argo CD
// scripts run the way Argo CD runs them, and check what each tool says.
package health
