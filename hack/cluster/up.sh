#!/usr/bin/env bash
# hack/cluster/up.sh -- start the local end-to-end cluster (make dev-cluster).
#
# A kwokctl cluster with the binary runtime: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and the kwok controller run as local
# processes, all taken from $LOCALBIN (built from source by hack/tools.mk and
# hack/cluster.mk); kwokctl is never allowed to download anything. KWOK_NODES
# simulated nodes are created, and the KWOK Stages in $KWOK_STAGES (node and
# pod lifecycle plus the simulated trainer) replace kwok's default Stages.
#
# Idempotent: if the cluster is already up this only makes sure its nodes
# exist and prints the kubeconfig path. The kubeconfig path is the only thing
# printed on stdout, so `export KUBECONFIG=$(hack/cluster/up.sh)` works.
#
# Environment (defaults in brackets; hack/cluster.mk passes them all):
#   LOCALBIN            binaries                                  [<repo>/bin]
#   CLUSTER_NAME        kwokctl cluster name                      [crucible]
#   CLUSTER_DIR         all cluster state                         [<repo>/.cluster]
#   CLUSTER_KUBECONFIG  kubeconfig written here                   [$CLUSTER_DIR/kubeconfig]
#   KWOK_NODES          number of simulated nodes                 [4]
#   KWOK_STAGES         directory of KWOK Stage manifests         [<repo>/test/e2e/stages]
#   KUBE_VERSION        version of the Kubernetes binaries        [v1.37.2]
#   KWOK_NODE_CPU, KWOK_NODE_MEMORY, KWOK_NODE_PODS, KWOK_NODE_GPUS
#                       capacity of each node                     [32, 256Gi, 110, 8]
#   KWOK_POD_PARALLELISM
#                       Pod Stages kwok plays at once: one per node, as each
#                       node's kubelet reports on its own Pods    [KWOK_NODES, at least 4]
#   KUBE_API_QPS, KUBE_API_BURST, CONCURRENT_JOB_SYNCS
#                       client limits of kube-controller-manager and kube-scheduler,
#                       and the Job controller's workers          [1000, 2000, 50]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCALBIN=${LOCALBIN:-$ROOT/bin}
CLUSTER_NAME=${CLUSTER_NAME:-crucible}
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
CLUSTER_KUBECONFIG=${CLUSTER_KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
NODES=${KWOK_NODES:-4}
STAGES=${KWOK_STAGES:-$ROOT/test/e2e/stages}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
NODE_CPU=${KWOK_NODE_CPU:-32}
NODE_MEMORY=${KWOK_NODE_MEMORY:-256Gi}
NODE_PODS=${KWOK_NODE_PODS:-110}
NODE_GPUS=${KWOK_NODE_GPUS:-8}
API_QPS=${KUBE_API_QPS:-1000}
API_BURST=${KUBE_API_BURST:-2000}
JOB_SYNCS=${CONCURRENT_JOB_SYNCS:-50}
POD_PARALLELISM=${KWOK_POD_PARALLELISM:-$((NODES > 4 ? NODES : 4))}

log() { echo "dev-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# kwokctl reads many KWOK_* variables as overrides of its configuration
# (KWOK_RUNTIME, KWOK_KUBE_VERSION, KWOK_KUBE_APISERVER_BINARY, ...): drop any
# inherited ones so that only the configuration written below counts.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^KWOK_' || true)
# All of kwokctl's state (clusters, logs, pids, etcd data, cache) goes here
# instead of ~/.kwok.
export KWOK_WORKDIR=$CLUSTER_DIR/kwok

for b in kwokctl kwok etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
	[[ -x $LOCALBIN/$b ]] || die "$LOCALBIN/$b is missing: run make dev-cluster (it builds it)"
done
[[ -d $STAGES ]] || die "no Stage directory $STAGES"
[[ $NODES =~ ^[0-9]+$ ]] || die "KWOK_NODES must be a number, not '$NODES'"

KWOKCTL=("$LOCALBIN/kwokctl" --name "$CLUSTER_NAME")
KUBECTL=("$LOCALBIN/kubectl" --kubeconfig "$CLUSTER_KUBECONFIG")
CLUSTER_WORKDIR=$KWOK_WORKDIR/clusters/$CLUSTER_NAME

ready() {
	[[ -f $CLUSTER_KUBECONFIG ]] && "${KUBECTL[@]}" get --raw /readyz --request-timeout=5s >/dev/null 2>&1
}

# wait_for WHAT TIMEOUT COMMAND...: run COMMAND until it succeeds, at most TIMEOUT seconds.
wait_for() {
	local what=$1 timeout=$2 start=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		((SECONDS - start < timeout)) || die "timed out after ${timeout}s waiting for $what (logs: $CLUSTER_WORKDIR/logs)"
		sleep 0.5
	done
}

nodes_ready() {
	local n
	n=$("${KUBECTL[@]}" get nodes -l type=kwok \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
	((n >= NODES))
}

ensure_nodes() {
	local i name manifest=""
	for ((i = 0; i < NODES; i++)); do
		name=kwok-node-$i
		manifest+="---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    # kwok's --manage-nodes-with-annotation-selector default; kwokctl's binary
    # runtime runs kwok with --manage-all-nodes, the annotation keeps these
    # nodes managed under either setting.
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    type: kwok
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: \"\"
    nvidia.com/gpu.present: \"true\"
status:
  allocatable: &resources
    cpu: \"$NODE_CPU\"
    memory: $NODE_MEMORY
    pods: \"$NODE_PODS\"
    nvidia.com/gpu: \"$NODE_GPUS\"
  capacity: *resources
"
	done
	if ((NODES > 0)); then
		# create, not apply: existing nodes (and their status) are left alone.
		"${KUBECTL[@]}" create -f - <<<"$manifest" 2>&1 | grep -v 'AlreadyExists' >&2 || true
		wait_for "$NODES Ready nodes" 60 nodes_ready
	fi
}

if ready; then
	ensure_nodes
	log "cluster $CLUSTER_NAME is already up"
	echo "$CLUSTER_KUBECONFIG"
	exit 0
fi

mkdir -p "$CLUSTER_DIR"
start=$SECONDS

if [[ -f $CLUSTER_WORKDIR/kwok.yaml ]]; then
	# Created before, but not running (e.g. after a reboot): start it again
	# with the configuration it was created with.
	log "starting the stopped cluster $CLUSTER_NAME"
	"${KWOKCTL[@]}" start cluster --wait=2m >&2 ||
		die "could not start cluster $CLUSTER_NAME; run make dev-cluster-down and try again"
else
	config=$CLUSTER_DIR/kwokctl.yaml
	# Every binary kwokctl may ask for is a local path: a local path is used in
	# place (symlinked), where a URL would be downloaded. etcdctl, etcdutl and
	# kectl are not built here; they point at paths that do not exist so that
	# `kwokctl etcdctl`/`snapshot` fail at once instead of trying the network.
	cat >"$config" <<EOF
# Generated by hack/cluster/up.sh; removed by hack/cluster/down.sh.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $KUBE_VERSION
  # Listen on loopback only (kwokctl's default is 0.0.0.0).
  bindAddress: 127.0.0.1
  quietPull: true
  cacheDir: $KWOK_WORKDIR/cache
  etcdBinary: $LOCALBIN/etcd
  kubeApiserverBinary: $LOCALBIN/kube-apiserver
  kubeControllerManagerBinary: $LOCALBIN/kube-controller-manager
  kubeSchedulerBinary: $LOCALBIN/kube-scheduler
  kwokControllerBinary: $LOCALBIN/kwok
  kubectlBinary: $LOCALBIN/kubectl
  etcdctlBinary: $LOCALBIN/etcdctl
  etcdutlBinary: $LOCALBIN/etcdutl
  kectlBinary: $LOCALBIN/kectl
componentsPatches:
# Client-side limits: with the defaults (20 QPS for the controller manager) the
# Job controller finishes only a few Jobs a second.
# No leader election: there is one of each, and kwokctl does not restart a
# component that exits. With it on, a loaded machine that delays one lease
# renewal past its 10 s deadline makes both exit ("leaderelection lost"; seen
# here mid-run of the e2e suite), and the cluster then has no Job controller,
# scheduler or namespace controller.
- name: kube-controller-manager
  extraArgs:
  - key: kube-api-qps
    value: "$API_QPS"
  - key: kube-api-burst
    value: "$API_BURST"
  - key: concurrent-job-syncs
    value: "$JOB_SYNCS"
  - key: leader-elect
    value: "false"
- name: kube-scheduler
  extraArgs:
  - key: kube-api-qps
    value: "$API_QPS"
  - key: kube-api-burst
    value: "$API_BURST"
  - key: leader-elect
    value: "false"
---
# kwok plays 4 Pod Stages at once by default, for all nodes together: a
# thousand Pods that start together then end seconds late. Real kubelets
# report in parallel, one per node. kwokctl writes every option of this
# document, unset ones as zero or false, so kwok's other defaults are
# spelled out.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: $POD_PARALLELISM
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enableDebuggingHandlers: true
  enableProfilingHandler: true
EOF
	# Stages given with --config replace kwok's default Stages.
	configs=(--config "$config")
	shopt -s nullglob
	stages=("$STAGES"/*.yaml)
	shopt -u nullglob
	((${#stages[@]} > 0)) || die "no *.yaml in $STAGES"
	for f in "${stages[@]}"; do configs+=(--config "$f"); done

	log "creating cluster $CLUSTER_NAME (kwokctl workdir $CLUSTER_WORKDIR)"
	"${KWOKCTL[@]}" "${configs[@]}" create cluster \
		--kubeconfig "$CLUSTER_KUBECONFIG" \
		--wait=2m >&2 ||
		die "kwokctl create cluster failed (logs: $CLUSTER_WORKDIR/logs)"
fi

wait_for "kube-apiserver" 120 ready
# The ServiceAccount admission plugin refuses pods until the controller manager
# has created the namespace's default ServiceAccount.
wait_for "the default ServiceAccount" 120 "${KUBECTL[@]}" get serviceaccount default -n default
ensure_nodes
log "cluster $CLUSTER_NAME is up after $((SECONDS - start))s with $NODES nodes; logs in $CLUSTER_WORKDIR/logs"
echo "$CLUSTER_KUBECONFIG"
