#!/usr/bin/env bash
# ansible-test integration against a cluster this run starts itself (kubesim), or against a
# cluster named explicitly with TRIAGE_TEST_KUBECONFIG. Never ~/.kube/config, never $KUBECONFIG.
#
#   TRIAGE_TEST_KUBECONFIG=path          use that cluster instead of starting kubesim
#   TRIAGE_TEST_ALLOW_REAL_CLUSTER=yes   let destructive targets run on a server that is not kubesim
#                                        (the setup_kubesim_guard target refuses otherwise)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
unset KUBECONFIG
for var in $(compgen -e | grep '^K8S_AUTH_' || true); do unset "${var}"; done

# The namespace where the least-privilege identities hold the shipped Role (target rbac_least_privilege).
rbac_namespace="rbac-least-privilege"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/triage-integration.XXXXXX")"
# shellcheck disable=SC2329  # invoked by the EXIT trap below
clean_up() { stop_kubesim; rm -rf "${run_dir}"; }
trap clean_up EXIT

if [[ -n "${TRIAGE_TEST_KUBECONFIG:-}" ]]; then
    [[ -f "${TRIAGE_TEST_KUBECONFIG}" ]] || die "TRIAGE_TEST_KUBECONFIG=${TRIAGE_TEST_KUBECONFIG} is not a file"
    kubeconfig="$(realpath "${TRIAGE_TEST_KUBECONFIG}")"
    audit_log=""
    started_kubesim=false
    say "integration: using the cluster of TRIAGE_TEST_KUBECONFIG=${kubeconfig} (not starting kubesim)"
else
    if ! "${VENV_PY}" -c 'import kubesim' 2>/dev/null; then
        skip "integration: the kubesim emulator is not importable from .venv; run 'make venv'"
    fi
    kubeconfig="${run_dir}/kubeconfig"
    audit_log="${run_dir}/audit.log"
    started_kubesim=true
    # kubesim-rbac.yml adds restricted identities (e.g. triage_readonly_token) next to the admin;
    # integration_rbac.py adds users bound to the Role the collection ships, read from
    # docs/rbac/triage-k8s-role.yaml, in the namespace of the rbac_least_privilege target.
    "${VENV_PY}" "${REPO_ROOT}/hack/integration_rbac.py" \
        "${REPO_ROOT}/tests/integration/kubesim-rbac.yml" "${REPO_ROOT}/docs/rbac/triage-k8s-role.yaml" \
        "${run_dir}/rbac.yml" "${rbac_namespace}" || die "could not build the kubesim RBAC file"
    start_kubesim "${run_dir}" --audit-log "${audit_log}" --rbac "${run_dir}/rbac.yml"
    say "integration: kubesim is serving (pid ${KUBESIM_PID}, kubeconfig ${kubeconfig})"
fi

ensure_get_pip_shim
prepare_collection_copy
allow_real="$([[ "${TRIAGE_TEST_ALLOW_REAL_CLUSTER:-no}" == yes ]] && echo true || echo false)"
cat > "${COLLECTION_DIR}/tests/integration/integration_config.yml" <<YAML
---
triage_kubeconfig: "${kubeconfig}"
triage_audit_log: "${audit_log}"
triage_kubesim: ${started_kubesim}
triage_allow_real_cluster: ${allow_real}
# A token that may only get/list/watch pods in namespace default (tests/integration/kubesim-rbac.yml).
triage_readonly_token: "$([[ "${started_kubesim}" == true ]] && echo triage-readonly-token)"
# Users bound to docs/rbac/triage-k8s-role.yaml, and to it minus pods/ephemeralcontainers, in
# triage_rbac_namespace only (hack/integration_rbac.py). Empty on a cluster this run did not start.
triage_rbac_namespace: "${rbac_namespace}"
triage_least_privilege_token: "$([[ "${started_kubesim}" == true ]] && echo triage-least-privilege-token)"
triage_no_ephemeral_token: "$([[ "${started_kubesim}" == true ]] && echo triage-no-ephemeral-token)"
YAML
status=0
# --allow-destructive: the guard target (setup_kubesim_guard) decides whether this cluster may be changed.
run_ansible_test integration --allow-destructive "$@" 2>&1 | tee "${run_dir}/ansible-test.out" || status=$?
if [[ "${status}" -eq 0 ]] && grep -q 'All targets skipped' "${run_dir}/ansible-test.out"; then
    say "integration: ansible-test ran no target at all; failing so that an empty run is not reported green"
    status=1
fi
# A traceback in kubesim is an emulator bug: the targets may have passed against behaviour no real cluster
# has, so the run is not green. Print each one in full for whoever fixes kubesim.
if [[ -n "${KUBESIM_PID}" ]] && grep -q 'Traceback' "${run_dir}/kubesim.out"; then
    say "integration: kubesim logged a traceback (an emulator bug); failing. Its output:"
    grep -n -B3 -A30 'Traceback' "${run_dir}/kubesim.out" | head -n 200 || true
    [[ "${status}" -ne 0 ]] || status=1
elif [[ "${status}" -ne 0 && -n "${KUBESIM_PID}" ]]; then
    say "--- last lines of the kubesim output ---"
    tail -n 30 "${run_dir}/kubesim.out" || true
fi
exit "${status}"
