#!/usr/bin/env bash
# Run ansible-test on a fresh copy of the collection: hack/ansible-test.sh sanity|units [args...]
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
[[ $# -ge 1 ]] || die "usage: hack/ansible-test.sh sanity|units|integration [ansible-test args]"
if [[ "$1" == sanity ]]; then
    check_no_sanity_ignores
fi
ensure_get_pip_shim
prepare_collection_copy
# make test: a units stage may reuse the virtualenv of an earlier one in its lane (lib.sh, take_cached_venv).
reuse=false
[[ "$1" == units && -n "${TRIAGE_VENV_CACHE:-}" ]] && reuse=true
if [[ "${reuse}" == true ]]; then
    take_cached_venv units
fi
status=0
run_ansible_test "$@" || status=$?
if [[ "${reuse}" == true ]]; then
    keep_venv_for_reuse units
fi
exit "${status}"
