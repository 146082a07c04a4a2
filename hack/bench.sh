#!/usr/bin/env bash
# `make bench [QUICK=1]`: this collection against kubernetes.core and the seeds' kubectl runbook, on one kubesim
# (bench/run.py; docs/benchmarks.md says what it measures). The baselines live in their own venv, .venv-bench
# (bench/requirements.txt: the `ansible` package, which bundles kubernetes.core, and matplotlib), never in .venv.
# QUICK=1 (what `make test` runs): every benchmark at small sizes, the sections side by side (bench/run.py),
# asserting each figure was produced;
# its report goes to .tmp/bench/benchmarks-quick.md, never over docs/benchmarks.md.
set -euo pipefail
# The collection as ansible-playbook finds it (ansible_collections/triage/k8s), in a place of its own so that a
# concurrent `make integration` in this checkout keeps its copy (lib.sh reads this when sourced).
TRIAGE_COLLECTION_ROOT="$(cd "$(dirname "$0")/.." && pwd)/.tmp/bench/collections"
export TRIAGE_COLLECTION_ROOT
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "${REPO_ROOT}"

BENCH_VENV="${REPO_ROOT}/.venv-bench"
BENCH_PY="${BENCH_VENV}/bin/python"

# Same idempotence as hack/venv.sh: pip runs only when an input file changed since the last install.
ensure_bench_venv() {
    local inputs=(bench/requirements.txt requirements.txt tests/kubesim/pyproject.toml) stamp digest python
    stamp="${BENCH_VENV}/.triage-bench-installed"
    digest="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
    if [[ -x "${BENCH_PY}" && -f "${stamp}" && "$(cat "${stamp}")" == "${digest}" ]]; then
        return 0
    fi
    if [[ ! -x "${BENCH_PY}" ]]; then
        python="${TRIAGE_PYTHON:-python3.11}"
        "${python}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
            || die "the bench venv needs Python 3.11 (ansible 12 / ansible-core 2.19, as .venv); set TRIAGE_PYTHON"
        say "creating .venv-bench with ${python}"
        "${python}" -m venv "${BENCH_VENV}"
    fi
    say "installing the benchmark's requirements into .venv-bench (the ansible package is large: a few minutes)"
    "${BENCH_PY}" -m pip install --quiet --upgrade pip
    "${BENCH_PY}" -m pip install --quiet -r bench/requirements.txt
    "${BENCH_PY}" -m pip install --quiet -e tests/kubesim
    echo "${digest}" >"${stamp}"
}

ensure_bench_venv
prepare_collection_copy
# Never a cluster the bench did not start: the approaches get kubesim's kubeconfig explicitly.
unset KUBECONFIG
while IFS= read -r var; do unset "${var}"; done < <(compgen -e | grep '^K8S_AUTH_' || true)

args=()
if [[ -n "${QUICK:-}" && "${QUICK}" != "0" ]]; then
    args+=(--quick)
fi
exec "${BENCH_PY}" bench/run.py --collections "${TRIAGE_COLLECTION_ROOT}" "${args[@]}" "$@"
