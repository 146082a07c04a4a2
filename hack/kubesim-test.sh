#!/usr/bin/env bash
# The emulator's own pytest suite (tests/kubesim/tests).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
[[ -d tests/kubesim/tests ]] || die "kubesim-test: tests/kubesim/tests is missing from this checkout"
"${VENV_PY}" -c 'import kubesim' 2>/dev/null \
    || die "tests/kubesim/tests exists but kubesim is not importable from .venv; run 'make venv'"
unset KUBECONFIG
python -m pytest tests/kubesim/tests -q -p no:cacheprovider "$@"
