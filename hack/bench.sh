#!/usr/bin/env bash
# Benchmarks (not part of `make test`): runs bench/run.sh when the bench part provides it.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
[[ -x bench/run.sh ]] || skip "bench: bench/run.sh does not exist yet"
exec bench/run.sh "$@"
