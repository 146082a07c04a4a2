#!/usr/bin/env bash
# A second ansible-core line (2.20+) needs a Python 3.12 controller. It is not part of
# `make test` yet: the extra virtualenv and per-test venvs would roughly double the run.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
skip "py312: the ansible-core 2.20+ line on Python 3.12 is not run (not wired up; see docs/developing.md)"
