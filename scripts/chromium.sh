#!/usr/bin/env bash
# scripts/chromium.sh makes sure Debian's headless-capable `chromium` is on PATH, for the
# dashboard's browser test (examples/e2e/dashboard_test.go): it installs the package with
# apt-get when it is missing and the script runs as root, and says what to do otherwise.
# It prints the binary's path on stdout.
set -euo pipefail
log() { printf 'chromium.sh: %s\n' "$*" >&2; }

if p=$(command -v chromium); then
	echo "$p"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	log "no chromium on PATH and not root: install Debian's chromium package (apt-get install chromium)"
	exit 1
fi
log "installing Debian's chromium package (apt-get; about 1-2 minutes once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
