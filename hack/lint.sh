#!/usr/bin/env bash
# ansible-lint with the production profile, on the working tree (exclusions in .ansible-lint).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
ansible-lint --profile production --nocolor
