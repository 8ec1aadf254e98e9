#!/usr/bin/env bash
# hack/demo.sh -- make demo: a local cluster, the operator, a sample sweep to
# the end, a live view of it, the leaderboard, and a reproduction of the best
# trial with its verdict.
#
# Expects make to have built bin/ (the cluster's binaries and bin/manager) and
# started the cluster (make dev-cluster); KUBECONFIG points at it. Exits
# non-zero if the sweep does not succeed, its best trial is not the one the
# simulated trainer makes best, or its reproduction is not Identical.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCALBIN=${LOCALBIN:-$ROOT/bin}
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-300}
: "${KUBECONFIG:?KUBECONFIG must name the kubeconfig of the cluster}"
export KUBECONFIG

NAME=resnet-demo
NS=default
KUBECTL=("$LOCALBIN/kubectl")
LOG=$CLUSTER_DIR/manager.log
manager_pid=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	if [[ -n $manager_pid ]] && kill -0 "$manager_pid" 2>/dev/null; then
		kill "$manager_pid" 2>/dev/null || true
		wait "$manager_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

say "Installing the CRDs and the admission policies"
"${KUBECTL[@]}" apply --server-side --force-conflicts -f "$ROOT/config/crd/bases" >/dev/null
"${KUBECTL[@]}" apply --server-side --force-conflicts -k "$ROOT/config/policy" >/dev/null
"${KUBECTL[@]}" wait --for condition=Established --timeout=60s crd/experiments.crucible.dev crd/trials.crucible.dev >/dev/null
echo "experiments.crucible.dev, trials.crucible.dev, ValidatingAdmissionPolicies $("${KUBECTL[@]}" get validatingadmissionpolicies -o name | grep crucible- | sed 's|.*/||' | paste -sd, - | sed 's/,/, /g')"

say "Starting the operator (log: $LOG)"
mkdir -p "$CLUSTER_DIR"
# The dataset verifier's image is never pulled here: the KWOK Stage
# test/e2e/stages/dataset-verifier.yaml plays its Pod.
"$LOCALBIN/manager" --metrics-bind-address=0 --health-probe-bind-address=0 --kube-api-qps=-1 \
	--dataset-verifier-image=crucible-dev.local/crucible:demo >"$LOG" 2>&1 &
manager_pid=$!
sleep 1
kill -0 "$manager_pid" 2>/dev/null || { cat "$LOG"; echo "the operator did not start" >&2; exit 1; }
echo "pid $manager_pid"

say "Applying the sample sweep: hack/demo/experiment.yaml"
"${KUBECTL[@]}" delete experiment "$NAME" -n "$NS" --ignore-not-found --wait=true >/dev/null
"${KUBECTL[@]}" delete experiment -l crucible.dev/reproduces -n "$NS" --ignore-not-found --wait=true >/dev/null
"${KUBECTL[@]}" apply -f "$ROOT/hack/demo/dataset.yaml" >/dev/null
"${KUBECTL[@]}" apply --server-side -f "$ROOT/hack/demo/experiment.yaml"

say "Following it"
jsonpath='{.status.phase}{"\t"}{.status.trials.succeeded}{"\t"}{.status.trials.failed}{"\t"}{.status.trials.active}{"\t"}{.status.trials.total}{"\t"}{.status.bestTrial.objective}'
printf '%-8s  %-10s  %-9s  %-6s  %-6s  %s\n' TIME PHASE SUCCEEDED FAILED ACTIVE BEST
last= phase= start=$SECONDS
while ((SECONDS - start < DEMO_TIMEOUT)); do
	line=$("${KUBECTL[@]}" get experiment "$NAME" -n "$NS" -o jsonpath="$jsonpath" 2>/dev/null || true)
	IFS=$'\t' read -r phase ok failed active total best <<<"$line" || true
	if [[ -n $line && $line != "$last" ]]; then
		printf '%-8s  %-10s  %-9s  %-6s  %-6s  %s\n' "$((SECONDS - start))s" "${phase:-Pending}" "${ok:-0}/${total:-?}" "${failed:-0}" "${active:-0}" "${best:--}"
		last=$line
	fi
	[[ $phase == Succeeded || $phase == Failed ]] && ((${active:-0} == 0)) && break
	sleep 1
done

ntrials=$("${KUBECTL[@]}" get trials -n "$NS" -l "crucible.dev/experiment=$NAME" -o name | wc -l)
say "Leaderboard (best 5 of $ntrials trials)"
printf '%-4s  %-20s  %-26s  %-24s  %s\n' RANK VAL_LOSS TRIAL PARAMETERS SEED
"${KUBECTL[@]}" get trials -n "$NS" -l crucible.dev/experiment=$NAME \
	-o jsonpath='{range .items[?(@.status.phase=="Succeeded")]}{.status.objective}{"\t"}{.metadata.name}{"\t"}{range .spec.parameters[*]}{.name}={.value} {end}{"\t"}{.spec.seed}{"\n"}{end}' |
	sort -g | head -5 | awk -F'\t' '{ printf "%-4s  %-20s  %-26s  %-24s  %s\n", NR, $1, $2, $3, $4 }'

say "Result"
"${KUBECTL[@]}" get experiment "$NAME" -n "$NS" -o wide
echo
echo "dataset: $("${KUBECTL[@]}" get experiment "$NAME" -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="DatasetVerified")].reason}: {.status.conditions[?(@.type=="DatasetVerified")].message}')"
best=$("${KUBECTL[@]}" get experiment "$NAME" -n "$NS" -o jsonpath='{range .status.bestTrial.parameters[*]}{.name}={.value} {end}')
best_trial=$("${KUBECTL[@]}" get experiment "$NAME" -n "$NS" -o jsonpath='{.status.bestTrial.name}')

reproduced=0
if [[ $phase == Succeeded && -n $best_trial ]]; then
	say "Reproducing the best trial: kubectl crucible reproduce trial/$best_trial --apply --wait"
	if "$LOCALBIN/kubectl-crucible" reproduce "trial/$best_trial" -n "$NS" --apply --wait --timeout "${DEMO_TIMEOUT}s"; then
		reproduced=1
	fi
	echo
	"${KUBECTL[@]}" get experiment -n "$NS" -l "crucible.dev/reproduces=$best_trial"
fi
echo
echo "kubeconfig: $KUBECONFIG"
echo "  KUBECONFIG=$KUBECONFIG $LOCALBIN/kubectl-crucible dashboard"
echo "      then open http://127.0.0.1:8080/namespaces/$NS/experiments/$NAME (the dashboard)"
echo "  KUBECONFIG=$KUBECONFIG $LOCALBIN/kubectl get crucible"
echo "  make dev-cluster-down   # stops the cluster and deletes its state"
if [[ $phase != Succeeded ]]; then
	echo "FAIL: the sweep ended $phase (or timed out after ${DEMO_TIMEOUT}s); operator log: $LOG" >&2
	exit 1
fi
if [[ $best != "lr=0.01 depth=4 " ]]; then
	echo "FAIL: the best trial is '$best'; the simulated trainer makes lr=0.01 depth=4 best" >&2
	exit 1
fi
if ((!reproduced)); then
	echo "FAIL: the reproduction of $best_trial is not Identical; operator log: $LOG" >&2
	exit 1
fi
echo "OK: Succeeded; the best trial is lr=0.01 depth=4, as the simulated trainer makes it, and its reproduction is Identical."
