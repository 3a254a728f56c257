#!/usr/bin/env bash
# Debian's Chromium for the report test (headless; no browser download). Needs root and apt.
set -euo pipefail
command -v chromium >/dev/null && { echo "chromium present: $(chromium --version 2>/dev/null)"; exit 0; }
[[ $EUID -eq 0 ]] || { echo "install_chromium.sh: not root, cannot apt-get install chromium" >&2; exit 1; }
started=$(date +%s)
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium installed in $(( $(date +%s) - started )) s: $(chromium --version 2>/dev/null)"
