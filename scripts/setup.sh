#!/usr/bin/env bash
# Installs everything dagc needs on a fresh Debian machine with Python 3.11:
# system tools (Vulkan CPU driver, SPIR-V tools, upstream MLIR 22), the pinned CPU
# torch wheel FIRST (an unpinned torch would pull a multi-GB CUDA build), then dagc
# with its test extra. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="mesa-vulkan-drivers libvulkan1 spirv-tools mlir-22-tools"
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  missing=""
  for p in $APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "== apt: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi

PY=${PYTHON:-python3}
echo "== pip: torch==2.13.0 (CPU), then dagc[test,vulkan]"
$PY -m pip install -q --disable-pip-version-check torch==2.13.0
$PY -m pip install -q --disable-pip-version-check -e ".[test,vulkan]"
