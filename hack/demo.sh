#!/usr/bin/env bash
# `make demo`: start kubesim, deploy a sample app, isolate one of its pods with the
# collection's playbook, show the result, clean up.
#
# HOOK for the pod_isolate work: replace the "missing" check below with the real demo once
# kubesim and the pod_isolate module/playbook exist. Until then it says what is missing.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"

missing=()
"${VENV_PY}" -c 'import kubesim' 2>/dev/null || missing+=("the kubesim emulator (tests/kubesim, installed by 'make venv')")
[[ -f plugins/modules/pod_isolate.py ]] || missing+=("the pod_isolate module (plugins/modules/pod_isolate.py)")
compgen -G 'playbooks/*isolate*.yml' >/dev/null || missing+=("an isolate playbook (playbooks/*isolate*.yml)")
if [[ ${#missing[@]} -gt 0 ]]; then
    say "make demo cannot run yet; missing:"
    for item in "${missing[@]}"; do say "  - ${item}"; done
    exit 0
fi
say "everything the demo needs exists, but hack/demo.sh has not been wired to it yet"
exit 1
