#!/usr/bin/env bash
# Install the headless browser that tests/test_view_browser.py and benchmarks/bench_view_load.py
# drive: Debian's chromium and chromium-driver (selenium talks to chromedriver). Idempotent: does
# nothing when both are on PATH. Needs root (apt-get) the first time; CI runs as root.
# selenium itself is a Python dependency (pyproject extra `view`, installed by setup-env.sh).
set -euo pipefail
have() { command -v "$1" > /dev/null 2>&1; }
if have chromium && have chromedriver; then exit 0; fi
if [[ "$(id -u)" != 0 ]]; then
  echo "[setup-browser] chromium/chromedriver missing; run as root (or: sudo apt-get install -y chromium chromium-driver)" >&2
  exit 2
fi
start=$SECONDS
echo "[setup-browser] installing chromium and chromium-driver with apt-get (first time: about 1-2 minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq > /dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver > /dev/null
have chromium && have chromedriver || { echo "[setup-browser] install finished but chromium/chromedriver not on PATH" >&2; exit 2; }
echo "[setup-browser] $(chromium --version 2>/dev/null | head -1) in $((SECONDS - start)) s" >&2
