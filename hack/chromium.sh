#!/usr/bin/env bash
# hack/chromium.sh -- make chromium: the headless browser of the dashboard's
# browser tests, Debian's chromium package, installed when it is missing.
#
# Prints the browser's path on stdout. Installs with apt-get, which needs
# root (this machine and CI are root); elsewhere it says what to install.
# CHROMIUM names another browser binary to use instead.
set -euo pipefail

if [[ -n ${CHROMIUM:-} ]]; then
	command -v "$CHROMIUM"
	exit 0
fi
for name in chromium chromium-browser google-chrome; do
	if path=$(command -v "$name"); then
		echo "$path"
		exit 0
	fi
done
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
	echo "chromium is missing: install Debian's chromium package (apt-get install -y chromium), or set CHROMIUM to a Chromium or Chrome binary" >&2
	exit 1
fi
echo "installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be stale or missing.
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
