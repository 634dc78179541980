#!/usr/bin/env bash
# Install what the browser tests need, quick when already done: Debian's Chromium (Playwright
# drives it, so no browser download) and JupyterLab in its own .venv-lab, kept out of the
# grading environment .venv. Needs root for apt-get (CI and these machines run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
debian_packages="chromium fonts-noto-color-emoji"  # the emoji: Otter's checks print one
if ! dpkg -s $debian_packages >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debian_packages >/dev/null
fi
python=$(command -v python3.11 || command -v python3)
want=$(sha256sum tests/browser/requirements-lab.txt | cut -d' ' -f1)
if [ "$(cat .venv-lab/.installed 2>/dev/null)" != "$want" ]; then
  "$python" -m venv .venv-lab
  .venv-lab/bin/python -m pip install --quiet --upgrade pip
  .venv-lab/bin/python -m pip install --quiet -r tests/browser/requirements-lab.txt
  echo "$want" > .venv-lab/.installed
fi
