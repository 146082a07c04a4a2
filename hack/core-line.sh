#!/usr/bin/env bash
# One ansible-core line the collection claims (meta/runtime.yml requires_ansible), in a
# virtualenv of its own: hack/core-line.sh LINE STAGE [STAGE...]
#
#   LINE    2.16 ... 2.21 (the interpreter follows the line: 2.16-2.19 run their controller
#           on Python 3.11, 2.20 and later need Python >= 3.12)
#   STAGE   sanity | units | integration, run with that line's ansible-test by the same scripts
#           as `make sanity|units|integration` (hack/ansible-test.sh, hack/integration.sh)
#
# .venv stays the development toolchain (ansible-core 2.19, ansible-lint, kubesim); kubesim keeps
# running from it. Only ansible-test (and the ansible it drives) comes from .venv-core-LINE.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "${REPO_ROOT}" || exit 1

[[ $# -ge 2 ]] || die "usage: hack/core-line.sh LINE sanity|units|integration [...]"
line="$1"
shift
[[ "${line}" =~ ^2\.[0-9]+$ ]] || die "core-line: '${line}' is not an ansible-core line such as 2.16"
minor="${line#2.}"
python_version=3.11
[[ "${minor}" -ge 20 ]] && python_version=3.12

# A real interpreter of that version: pyenv shims exist for versions that are not installed.
interpreter=""
for candidate in "python${python_version}" "${HOME}"/.pyenv/versions/"${python_version}".*/bin/python"${python_version}"; do
    if "${candidate}" -c "import sys; sys.exit(sys.version_info[:2] != (${python_version/./, }))" 2>/dev/null; then
        interpreter="${candidate}"
        break
    fi
done
[[ -n "${interpreter}" ]] || skip "core-line ${line}: no Python ${python_version} interpreter here, so ansible-core ${line} is not tested"

line_venv="${REPO_ROOT}/.venv-core-${line}"
requirement="ansible-core>=${line}.0,<2.$((minor + 1))"
stamp="${line_venv}/.triage-installed"
# make test runs two stages at a time, and two of them may want this line's venv at once.
exec 7>"${line_venv}.lock"
flock 7
if [[ ! -x "${line_venv}/bin/python" ]]; then
    "${interpreter}" -m venv "${line_venv}"
fi
if [[ "$(cat "${stamp}" 2>/dev/null)" != "${requirement}" ]]; then
    "${line_venv}/bin/python" -m pip install --quiet --upgrade pip
    "${line_venv}/bin/python" -m pip install --quiet "${requirement}"
    echo "${requirement}" > "${stamp}"
fi
flock -u 7
say "core-line ${line}: ansible-core $("${line_venv}/bin/python" -c "from ansible.release import __version__; print(__version__)") on $("${line_venv}/bin/python" --version)"

# lib.sh's require_venv puts this venv's bin ahead of .venv's, and ensure_get_pip_shim asks this
# line's ansible-test which pip it bootstraps.
export TRIAGE_CORE_VENV="${line_venv}"
export TRIAGE_TEST_PYTHON="${python_version}"
status=0
for stage in "$@"; do
    say "--- core-line ${line}: ${stage} ---"
    case "${stage}" in
        sanity|units) hack/ansible-test.sh "${stage}" || status=1 ;;
        integration) hack/integration.sh || status=1 ;;
        *) die "core-line: unknown stage '${stage}' (sanity, units or integration)" ;;
    esac
done
exit "${status}"
