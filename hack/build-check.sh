#!/usr/bin/env bash
# Build the collection artifact, install it into a temporary path, and render the
# documentation of every module with ansible-doc, as a user of the released artifact would.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
prepare_collection_copy
work="$(mktemp -d "${TMPDIR:-/tmp}/triage-build.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

ansible-galaxy collection build "${COLLECTION_DIR}" --output-path "${work}/dist"
tarball="$(ls "${work}"/dist/triage-k8s-*.tar.gz)"
# Nothing that build_ignore in galaxy.yml names may be in the artifact (the same list, read by never_ships.py).
if ! "${VENV_PY}" "${REPO_ROOT}/hack/never_ships.py" check "${tarball}"; then
    die "the artifact contains the paths listed above, which build_ignore in galaxy.yml excludes"
fi
# Only the freshly installed copy may be seen, not one in ~/.ansible/collections or site-packages.
export ANSIBLE_COLLECTIONS_PATH="${work}/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
ansible-galaxy collection install --force --no-deps "${tarball}" -p "${work}/collections"

modules=()
for file in "${REPO_ROOT}"/plugins/modules/*.py; do
    [[ -e "${file}" ]] || continue
    name="$(basename "${file}" .py)"
    [[ "${name}" == __init__ ]] || modules+=("triage.k8s.${name}")
done
[[ ${#modules[@]} -gt 0 ]] || die "no modules found in plugins/modules"
listed="$(ansible-doc -t module -l triage.k8s)"
failed=0
for module in "${modules[@]}"; do
    if ! grep -q "^${module} " <<<"${listed}"; then
        say "FAIL: ${module} is not listed by ansible-doc -l triage.k8s"; failed=1; continue
    fi
    if ! out="$(ansible-doc -t module "${module}" 2>&1)" || grep -q -E 'ERROR|WARNING' <<<"${out}"; then
        say "FAIL: ansible-doc ${module}:"; say "${out}"; failed=1; continue
    fi
    say "ok: ansible-doc ${module} ($(wc -l <<<"${out}") lines)"
done
[[ "${failed}" -eq 0 ]] || die "ansible-doc failed for some modules"
say "build-check: $(basename "${tarball}") builds, installs and documents ${#modules[@]} module(s)"
