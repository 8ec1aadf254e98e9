#!/usr/bin/env bash
# hack/dev-s3.sh -- a local S3 store for the dev cluster (make dev-s3, make dev-s3-down).
#
#   hack/dev-s3.sh up     start it (or find it running), create the bucket, and
#                         print on stdout a Secret with its credentials and, in
#                         comments, the spec.artifacts to use
#   hack/dev-s3.sh down   stop it and delete all its state
#
# The store is versitygw ($LOCALBIN/versitygw, built by make s3-assets) with its
# posix backend, listening on loopback only, as test/s3server runs it for the
# tests: buckets are the directories of $DEV_S3_DIR/data and object metadata is
# kept in user extended attributes, so that directory must be on ext4, xfs or
# btrfs. The root credentials are generated on the first start and kept in
# $DEV_S3_DIR/credentials (mode 600), so a second `up` prints the same Secret.
# Only the operator, a local process, talks to the store (it lists and deletes
# what trials wrote); trial pods on the KWOK cluster never run, so 127.0.0.1
# is the endpoint, in plain HTTP (insecure: true).
#
# Idempotent: `up` on a running store only makes sure the bucket exists and
# prints the same output; `down` with no store is a no-op. Everything but the
# Secret goes to stderr, so that
#
#   make -s dev-s3 | kubectl apply -n <namespace> -f -
#
# creates the Secret. Environment (defaults in brackets; hack/s3.mk passes them):
#   LOCALBIN         binaries                                      [<repo>/bin]
#   CLUSTER_DIR      the dev cluster's state                       [<repo>/.cluster]
#   DEV_S3_DIR       the store's state: data/, credentials, pid, log [$CLUSTER_DIR/s3]
#   DEV_S3_PORT      loopback port                                 [9000]
#   DEV_S3_BUCKET    bucket created at start                       [crucible-artifacts]
#   DEV_S3_REGION    region the store signs and answers for        [us-east-1]
#   DEV_S3_SECRET    name of the printed Secret                    [crucible-dev-s3]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCALBIN=${LOCALBIN:-$ROOT/bin}
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
DIR=${DEV_S3_DIR:-$CLUSTER_DIR/s3}
PORT=${DEV_S3_PORT:-9000}
BUCKET=${DEV_S3_BUCKET:-crucible-artifacts}
REGION=${DEV_S3_REGION:-us-east-1}
SECRET=${DEV_S3_SECRET:-crucible-dev-s3}

DATA=$DIR/data
CREDENTIALS=$DIR/credentials
PIDFILE=$DIR/versitygw.pid
LOG=$DIR/versitygw.log
ENDPOINT=127.0.0.1:$PORT

log() { echo "dev-s3: $*" >&2; }
die() { log "$*"; exit 1; }

# running: the pid of the store started from $DATA, if it runs.
running() {
	local pid
	[[ -f $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# The pid alone could be another process's by now: it must be versitygw
	# serving this directory.
	[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF " posix $DATA" || return 1
	echo "$pid"
}

# s3 METHOD PATH: one request signed (SigV4) with the root credentials; prints
# the HTTP status code.
s3() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$ROOT_ACCESS_KEY_ID:$ROOT_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		"http://$ENDPOINT$2" || true
}

# random N ALPHABET: N characters of ALPHABET from /dev/urandom.
random() {
	local out
	out=$(LC_ALL=C tr -dc "$2" </dev/urandom | head -c "$1") || true
	echo "$out"
}

down() {
	local pid
	if pid=$(running); then
		log "stopping versitygw (pid $pid)"
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
		[[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$DIR"
	rmdir "$CLUSTER_DIR" 2>/dev/null || true
	log "the S3 store is down"
}

up() {
	[[ -x $LOCALBIN/versitygw ]] || die "$LOCALBIN/versitygw is missing: run make dev-s3 (it builds it with make s3-assets)"
	[[ $PORT =~ ^[0-9]+$ ]] || die "DEV_S3_PORT must be a number, not '$PORT'"
	mkdir -p "$DATA"
	if [[ ! -s $CREDENTIALS ]]; then
		(
			umask 077
			printf 'ROOT_ACCESS_KEY_ID=%s\nROOT_SECRET_ACCESS_KEY=%s\n' \
				"$(random 20 'A-Z0-9')" "$(random 40 'A-Za-z0-9')" >"$CREDENTIALS"
		)
	fi
	# shellcheck source=/dev/null
	source "$CREDENTIALS"
	export ROOT_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY

	local pid
	if pid=$(running); then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--port $ENDPOINT " ||
			die "versitygw (pid $pid) serves $DATA on another port than $PORT: run make dev-s3-down first"
		log "versitygw is already running (pid $pid) on $ENDPOINT"
	else
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			die "port $PORT on 127.0.0.1 is taken by another process: set DEV_S3_PORT"
		fi
		log "starting versitygw on $ENDPOINT, data in $DATA"
		# In a session of its own (setsid -f), so that it outlives make and a
		# ^C there; it writes its own pid before it becomes versitygw.
		(cd "$DIR" && setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
			"$LOCALBIN/versitygw" --port "$ENDPOINT" --region "$REGION" --quiet posix "$DATA" \
			>>"$LOG" 2>&1 </dev/null)
		for _ in $(seq 50); do running >/dev/null && break; sleep 0.1; done
	fi

	local start=$SECONDS code
	until [[ $(s3 GET /) == 200 ]]; do
		running >/dev/null || die "versitygw exited; its log ($LOG):$(echo; tail -n 20 "$LOG")"
		((SECONDS - start < 30)) || die "versitygw did not answer on $ENDPOINT within 30s (log: $LOG)"
		sleep 0.2
	done

	code=$(s3 PUT "/$BUCKET")
	case $code in
	200) log "created bucket $BUCKET" ;;
	409) log "bucket $BUCKET exists" ;; # BucketAlreadyOwnedByYou
	*) die "creating bucket $BUCKET: HTTP $code (log: $LOG)" ;;
	esac

	cat <<EOF
# S3 store for the dev cluster: versitygw on http://$ENDPOINT, bucket $BUCKET,
# data in $DATA (make dev-s3-down stops it and deletes it).
#
# This Secret holds its credentials. Create it in the Experiment's namespace:
#
#   make -s dev-s3 | kubectl apply -n <namespace> -f -
#
# run the operator locally, allowed to talk to this store:
#
#   make run RUN_ARGS="--artifact-endpoints=$ENDPOINT --artifact-allow-insecure"
#
# and give the Experiment:
#
#   spec:
#     artifacts:
#       s3:
#         endpoint: $ENDPOINT
#         bucket: $BUCKET
#         region: $REGION
#         insecure: true
#         credentialsSecret:
#           name: $SECRET
apiVersion: v1
kind: Secret
metadata:
  name: $SECRET
type: Opaque
stringData:
  AWS_ACCESS_KEY_ID: $ROOT_ACCESS_KEY_ID
  AWS_SECRET_ACCESS_KEY: $ROOT_SECRET_ACCESS_KEY
EOF
}

case ${1:-} in
up) up ;;
down) down ;;
*) die "usage: $0 up|down" ;;
esac
