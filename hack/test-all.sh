#!/usr/bin/env bash
# `make test`: every CI stage. A failing stage does not stop the others; the run ends with one line
# "N passed, N failed, N skipped" and fails if any stage failed.
#
# The stages run in two lanes side by side (the machines have 2 cores, and the integration stages spend much
# of their time waiting on kubesim's controllers). Each lane has its own copy of the collection
# (TRIAGE_COLLECTION_ROOT), each integration stage starts its own kubesim, and a stage's output is printed
# whole when it ends, so the log reads one stage at a time. TRIAGE_TEST_LANES=1 runs them one after another.
set -uo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
export TRIAGE_SKIP_RC=77

# ansible-core lines: meta/runtime.yml claims >=2.16, so sanity runs on the oldest and the newest
# line, units on every line, integration on the oldest and the newest (hack/core-line.sh).
# The development venv (.venv, ansible-core 2.19) runs lint, build-check, the emulator's suite
# and its own units; `make sanity|units|integration` use it too.
# Lanes are balanced by the durations measured side by side (integration 10-12 minutes each, a units line
# about 2.5, kubesim-test about 4, sanity about 2, bench-quick about 2.5).
lane_a=(
    "integration-2.21:hack/core-line.sh 2.21 integration"
    "sanity-2.21:hack/core-line.sh 2.21 sanity"
    "units-2.21:hack/core-line.sh 2.21 units"
    "units-2.17:hack/core-line.sh 2.17 units"
    "units-2.20:hack/core-line.sh 2.20 units"
    "bench-quick:hack/bench.sh --quick"
    "lint:hack/lint.sh"
    "changelog-lint:hack/changelog-lint.sh"
)
lane_b=(
    "integration-2.16:hack/core-line.sh 2.16 integration"
    "sanity-2.16:hack/core-line.sh 2.16 sanity"
    "units-2.16:hack/core-line.sh 2.16 units"
    "units-2.18:hack/core-line.sh 2.18 units"
    "units-2.19:hack/ansible-test.sh units"
    "kubesim-test:hack/kubesim-test.sh"
    "build-check:hack/build-check.sh"
    "ee-context:hack/ee-context.sh"
)
cd "${REPO_ROOT}" || exit 1
logs="${REPO_ROOT}/.tmp/test-logs"
rm -rf "${logs}"
mkdir -p "${logs}"

# The toolchain is stage 0: without it nothing else can run, so a failure stops here.
say "===== stage venv: hack/venv.sh ====="
start=${SECONDS}
if ! hack/venv.sh; then
    say "0 passed, 1 failed, 0 skipped (make venv failed; no stage ran)" | tee "${REPO_ROOT}/.tmp/test-summary.txt"
    exit 1
fi
venv_line="$(printf '%-16s %-18s %5ss' venv "ready" "$((SECONDS - start))")"

# run_lane LANE STAGE... : the stages one after another, each line of LANE.results "name rc seconds".
run_lane() {
    local lane="$1" entry name rc began
    shift
    export TRIAGE_COLLECTION_ROOT="${REPO_ROOT}/.tmp/collections-lane-${lane}"
    # A units stage may take over the ansible-test virtualenv of an earlier one with the same requirements
    # (hack/lib.sh, take_cached_venv); the cache starts empty in every make test, so nothing outlives the run.
    export TRIAGE_VENV_CACHE="${REPO_ROOT}/.tmp/venv-cache-lane-${lane}"
    rm -rf "${TRIAGE_VENV_CACHE}"
    for entry in "$@"; do
        name="${entry%%:*}"
        read -r -a command <<<"${entry#*:}"
        began=${SECONDS}
        "${command[@]}" >"${logs}/${name}.log" 2>&1 </dev/null
        rc=$?
        printf '%s %s %s\n' "${name}" "${rc}" "$((SECONDS - began))" >>"${logs}/lane-${lane}.results"
        # One stage's whole output at a time on the terminal (the lock keeps the two lanes from interleaving).
        (
            flock 6
            printf "\n"; say "===== stage ${name} (lane ${lane}, exit ${rc}, $((SECONDS - began))s): ${command[*]} ====="
            cat "${logs}/${name}.log"
        ) 6>"${logs}/.print.lock"
    done
}

if [[ "${TRIAGE_TEST_LANES:-2}" == 1 ]]; then
    run_lane a "${lane_a[@]}" "${lane_b[@]}"
else
    run_lane a "${lane_a[@]}" &
    pid_a=$!
    run_lane b "${lane_b[@]}" &
    pid_b=$!
    wait "${pid_a}" "${pid_b}"
fi

passed=0 failed=0 skipped=0
report=("${venv_line}")
for entry in "${lane_a[@]}" "${lane_b[@]}"; do
    name="${entry%%:*}"
    read -r _ rc elapsed < <(grep -h "^${name} " "${logs}"/lane-*.results 2>/dev/null)
    if [[ -z "${rc:-}" ]]; then
        verdict="FAILED (not run)"; failed=$((failed + 1)); elapsed="-"
    elif [[ ${rc} -eq 0 ]]; then
        verdict=passed; passed=$((passed + 1))
    elif [[ ${rc} -eq 77 ]]; then
        verdict=skipped; skipped=$((skipped + 1))
    else
        verdict="FAILED (exit ${rc})"; failed=$((failed + 1))
    fi
    report+=("$(printf '%-16s %-18s %5ss' "${name}" "${verdict}" "${elapsed}")")
    unset rc elapsed
done
printf "\n"; say "===== summary (wall time $((SECONDS))s; the stages' own logs are in .tmp/test-logs/) ====="
printf '%s\n' "${report[@]}"
say "${passed} passed, ${failed} failed, ${skipped} skipped" | tee "${REPO_ROOT}/.tmp/test-summary.txt"
[[ ${failed} -eq 0 ]]
