#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine, once. Safe to re-run.
set -euo pipefail
need=()
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is required (https://dot.net)"; exit 1; }
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  # Debian's python3 + numpy/nibabel/torch/skimage are used only by tests' independent reference checks.
  # chromium (headless) renders report.html in the report test.
  for p in python3-numpy python3-nibabel python3-scipy chromium; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
