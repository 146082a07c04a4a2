#!/usr/bin/env bash
# `make test`: every CI stage in order. A failing stage does not stop the others; the run
# ends with one line "N passed, N failed, N skipped" and fails if any stage failed.
set -uo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
export TRIAGE_SKIP_RC=77

# ansible-core lines: meta/runtime.yml claims >=2.16, so sanity runs on the oldest and the newest
# line, units on every line, integration on the oldest and the newest (hack/core-line.sh).
# The development venv (.venv, ansible-core 2.19) runs lint, build-check, the emulator's suite
# and its own units; `make sanity|units|integration` use it too.
stages=(
    "sanity-2.21:hack/core-line.sh 2.21 sanity"
    "sanity-2.16:hack/core-line.sh 2.16 sanity"
    "units-2.19:hack/ansible-test.sh units"
    "units-2.16:hack/core-line.sh 2.16 units"
    "units-2.17:hack/core-line.sh 2.17 units"
    "units-2.18:hack/core-line.sh 2.18 units"
    "units-2.20:hack/core-line.sh 2.20 units"
    "units-2.21:hack/core-line.sh 2.21 units"
    "integration-2.21:hack/core-line.sh 2.21 integration"
    "integration-2.16:hack/core-line.sh 2.16 integration"
    "lint:hack/lint.sh"
    "build-check:hack/build-check.sh"
    "changelog-lint:hack/changelog-lint.sh"
    "ee-context:hack/ee-context.sh"
    "kubesim-test:hack/kubesim-test.sh"
    "bench-quick:hack/bench.sh --quick"
)
passed=0 failed=0 skipped=0
report=()
cd "${REPO_ROOT}" || exit 1

# The toolchain is stage 0: without it nothing else can run, so a failure stops here.
say "===== stage venv: hack/venv.sh ====="
start=${SECONDS}
if ! hack/venv.sh; then
    mkdir -p "${REPO_ROOT}/.tmp"
    say "0 passed, 1 failed, 0 skipped (make venv failed; no stage ran)" | tee "${REPO_ROOT}/.tmp/test-summary.txt"
    exit 1
fi
report+=("$(printf '%-16s %-18s %5ss' venv "ready" "$((SECONDS - start))")")
for entry in "${stages[@]}"; do
    name="${entry%%:*}"
    read -r -a command <<<"${entry#*:}"
    say "" "===== stage ${name}: ${command[*]} ====="
    start=${SECONDS}
    "${command[@]}"
    rc=$?
    elapsed=$((SECONDS - start))
    if [[ ${rc} -eq 0 ]]; then
        verdict=passed; passed=$((passed + 1))
    elif [[ ${rc} -eq 77 ]]; then
        verdict=skipped; skipped=$((skipped + 1))
    else
        verdict="FAILED (exit ${rc})"; failed=$((failed + 1))
    fi
    report+=("$(printf '%-16s %-18s %5ss' "${name}" "${verdict}" "${elapsed}")")
done
say "" "===== summary ====="
printf '%s\n' "${report[@]}"
mkdir -p "${REPO_ROOT}/.tmp"
say "${passed} passed, ${failed} failed, ${skipped} skipped" | tee "${REPO_ROOT}/.tmp/test-summary.txt"
[[ ${failed} -eq 0 ]]
