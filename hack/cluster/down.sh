#!/usr/bin/env bash
# hack/cluster/down.sh -- stop the local end-to-end cluster (make dev-cluster-down)
# and delete everything hack/cluster/up.sh wrote: the kwokctl workdir (etcd
# data, logs, pki), the generated kwokctl configuration and the kubeconfig.
# A no-op when there is no cluster. Same environment as up.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCALBIN=${LOCALBIN:-$ROOT/bin}
CLUSTER_NAME=${CLUSTER_NAME:-crucible}
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
CLUSTER_KUBECONFIG=${CLUSTER_KUBECONFIG:-$CLUSTER_DIR/kubeconfig}

log() { echo "dev-cluster-down: $*" >&2; }

while read -r v; do unset "$v"; done < <(compgen -e | grep '^KWOK_' || true)
export KWOK_WORKDIR=$CLUSTER_DIR/kwok
CLUSTER_WORKDIR=$KWOK_WORKDIR/clusters/$CLUSTER_NAME

if [[ -d $CLUSTER_WORKDIR ]]; then
	if [[ -x $LOCALBIN/kwokctl ]]; then
		log "deleting cluster $CLUSTER_NAME"
		"$LOCALBIN/kwokctl" --name "$CLUSTER_NAME" delete cluster --kubeconfig "$CLUSTER_KUBECONFIG" >&2 ||
			log "kwokctl delete cluster failed; stopping the processes from its pid files"
	fi
	# Whatever kwokctl left running (or all of it, if kwokctl is gone): its
	# pid files name the processes; only those still running from this
	# cluster's workdir are stopped.
	for pidfile in "$CLUSTER_WORKDIR"/pids/*.pid; do
		[[ -f $pidfile ]] || continue
		pid=$(<"$pidfile")
		[[ $pid =~ ^[0-9]+$ ]] || continue
		if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$CLUSTER_WORKDIR"; then
			log "stopping pid $pid ($(basename "$pidfile" .pid))"
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
			[[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
		fi
	done
fi

# Only what up.sh created; CLUSTER_DIR itself goes only if nothing else is in it.
rm -rf "$KWOK_WORKDIR" "$CLUSTER_DIR/kwokctl.yaml" "$CLUSTER_KUBECONFIG"
rmdir "$CLUSTER_DIR" 2>/dev/null || true
log "cluster $CLUSTER_NAME is down"
