#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (kit's Gradescope zip).
# It installs Python 3.11, the pinned grading environment and the kit itself (shipped in kit/),
# then makes the autograder's files readable by root alone: each student's kernel runs as a uid of
# its own and must not read the hidden tests and checks.
set -euo pipefail
cd /autograder/source

# Python 3.11 from Miniforge, as Otter's own setup does, but under /opt: a kernel confined to its
# own uid cannot enter /root.
apt-get update
apt-get install -y --no-install-recommends wget ca-certificates
wget -nv -O /tmp/miniforge.sh "https://github.com/conda-forge/miniforge/releases/download/25.3.1-0/Miniforge3-Linux-$(uname -m).sh"
bash /tmp/miniforge.sh -b -p /opt/miniforge3
rm /tmp/miniforge.sh
/opt/miniforge3/bin/conda create -y -p /opt/exercise-kit python=3.11 pip

/opt/exercise-kit/bin/python -m pip install --no-cache-dir -r requirements.txt
/opt/exercise-kit/bin/python -m pip install --no-cache-dir --no-deps ./kit
chmod -R go= /autograder/source
