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
run_ansible_test "$@"
