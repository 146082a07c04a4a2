#!/usr/bin/env bash
# `make test` stage ee-context: turn extensions/ee/execution-environment.yml into a build context with
# `ansible-builder create` (no container engine needed), then check that the context would install this
# checkout's collection: the tarball is in it, the galaxy requirements name it, the Containerfile installs them.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
[[ -x "${VENV}/bin/ansible-builder" ]] || die "ansible-builder is not in .venv; run 'make venv'"

out="${REPO_ROOT}/.tmp/ee"
rm -rf "${out}"
mkdir -p "${out}/build"
prepare_collection_copy >/dev/null
(cd "${COLLECTION_DIR}" && "${VENV}/bin/ansible-galaxy" collection build --force --output-path "${out}/build" >/dev/null)
tarball=("${out}"/build/triage-k8s-*.tar.gz)
[[ -f "${tarball[0]}" ]] || die "ansible-galaxy collection build wrote no triage-k8s tarball"
mv "${tarball[0]}" "${out}/triage-k8s.tar.gz"

"${VENV}/bin/ansible-builder" create -f extensions/ee/execution-environment.yml -c "${out}/context" \
    --output-filename Containerfile -v 1

context="${out}/context"
fail=0
check() { if ! eval "$2"; then say "ee-context: FAILED: $1"; fail=1; fi; }
check "the Containerfile exists" "[[ -s '${context}/Containerfile' ]]"
check "the collection tarball is in the context" \
    "cmp -s '${out}/triage-k8s.tar.gz' '${context}/_build/collections/triage-k8s.tar.gz'"
check "the galaxy requirements name it" \
    "grep -q '/build/collections/triage-k8s.tar.gz' '${context}/_build/requirements.yml'"
check "the Containerfile installs the galaxy requirements" \
    "grep -q 'ansible-galaxy collection install' '${context}/Containerfile'"
check "the Containerfile installs ansible-core and ansible-runner" \
    "grep -q 'ansible-core>=2.16' '${context}/Containerfile' && grep -q 'ansible-runner' '${context}/Containerfile'"
tar -tzf "${out}/triage-k8s.tar.gz" >"${out}/tarball.list"
check "the tarball carries meta/execution-environment.yml (where the Python requirements come from)" \
    "grep -qx 'meta/execution-environment.yml' '${out}/tarball.list'"
[[ ${fail} -eq 0 ]] || exit 1
say "ee-context: build context in ${context} ($(find "${context}" -type f | wc -l) files)"
