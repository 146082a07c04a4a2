#!/usr/bin/env bash
# The second ansible-core line: ansible-core 2.20.x needs a Python >= 3.12 controller, so it
# gets its own virtualenv (.venv-py312) and runs the unit tests there. Sanity on this line
# would double the run time and is not done. Skipped with a message when no real Python 3.12
# exists (pyenv shims do not count) or when TRIAGE_PY312=no.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "${REPO_ROOT}" || exit 1

[[ "${TRIAGE_PY312:-yes}" != no ]] || skip "py312: disabled by TRIAGE_PY312=no"
python312=""
for candidate in python3.12 "${HOME}"/.pyenv/versions/3.12*/bin/python3.12; do
    if "${candidate}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
        python312="${candidate}"
        break
    fi
done
[[ -n "${python312}" ]] || skip "py312: no Python 3.12 interpreter here, so the ansible-core 2.20 line is not tested"

venv312="${REPO_ROOT}/.venv-py312"
requirement='ansible-core>=2.20,<2.21'
stamp="${venv312}/.triage-installed"
if [[ ! -x "${venv312}/bin/python" ]]; then
    "${python312}" -m venv "${venv312}"
fi
if [[ "$(cat "${stamp}" 2>/dev/null)" != "${requirement}" ]]; then
    "${venv312}/bin/python" -m pip install --quiet --upgrade pip
    "${venv312}/bin/python" -m pip install --quiet "${requirement}"
    echo "${requirement}" > "${stamp}"
fi
# This venv's bin first: ansible-test finds `python3.12` there instead of a pyenv shim.
export PATH="${venv312}/bin:${PATH}"
say "py312: $(ansible --version | head -n1) on $("${venv312}/bin/python" --version)"
ensure_get_pip_shim "${venv312}/bin/python"
prepare_collection_copy
TRIAGE_TEST_PYTHON=3.12 run_ansible_test units "$@"
