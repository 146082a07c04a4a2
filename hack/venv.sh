#!/usr/bin/env bash
# Create or update .venv with the pinned toolchain (requirements-dev.txt) and the in-repo
# emulator (tests/kubesim). Idempotent: pip only runs when an input file changed since the
# last successful install.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "${REPO_ROOT}"

find_python() {
    local candidate
    for candidate in "${TRIAGE_PYTHON:-}" python3.11 python3; do
        [[ -n "${candidate}" ]] || continue
        # pyenv shims exist for versions that are not installed; ask the interpreter itself.
        if "${candidate}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "${candidate}"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "${VENV_PY}" ]]; then
    python="$(find_python)" || die "Python 3.11 is needed (ansible-core 2.19 is the newest line for it); set TRIAGE_PYTHON"
    say "creating .venv with $(${python} -c 'import sys; print(sys.executable)')"
    "${python}" -m venv "${VENV}"
fi

inputs=(requirements-dev.txt requirements.txt)
kubesim_pyproject=tests/kubesim/pyproject.toml
[[ -f "${kubesim_pyproject}" ]] && inputs+=("${kubesim_pyproject}")
stamp="${VENV}/.triage-installed"
digest="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${digest}" ]]; then
    say ".venv is up to date"
    exit 0
fi

"${VENV_PY}" -m pip install --quiet --upgrade pip
"${VENV_PY}" -m pip install --quiet -r requirements-dev.txt
[[ -f "${kubesim_pyproject}" ]] || die "tests/kubesim/pyproject.toml is missing from this checkout"
"${VENV_PY}" -m pip install --quiet -e tests/kubesim
echo "${digest}" > "${stamp}"
say ".venv is ready: $("${VENV}/bin/ansible" --version | head -n1)"
