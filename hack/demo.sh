#!/usr/bin/env bash
# `make demo`: the runbook of the seeds, end to end, against the in-repo emulator (kubesim).
#
# 1. start kubesim (from .venv) with its own kubeconfig in a temporary directory;
# 2. deploy a 3-replica kubesim/web Deployment behind a Service;
# 3. send traffic through the Service proxy and show which pods answer;
# 4. isolate one pod with `ansible-playbook triage.k8s.isolate`;
# 5. show that Service traffic now reaches only the others while the isolated pod still answers directly;
# 6. restore it with `ansible-playbook triage.k8s.restore`, show traffic again, stop kubesim.
#
# Only the kubeconfig written by this run is used: never ~/.kube/config, never $KUBECONFIG.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_venv
cd "${REPO_ROOT}"
unset KUBECONFIG
for var in $(compgen -e | grep '^K8S_AUTH_' || true); do unset "${var}"; done

"${VENV_PY}" -c 'import kubesim' 2>/dev/null || die "the kubesim emulator is not installed in .venv; run 'make venv'"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/triage-demo.XXXXXX")"
kubeconfig="${run_dir}/kubeconfig"
# shellcheck disable=SC2329  # invoked by the EXIT trap below
clean_up() { stop_kubesim; rm -rf "${run_dir}"; }
trap clean_up EXIT

step() { printf '\n=== %s\n' "$*"; }

step "starting kubesim"
start_kubesim "${run_dir}" --audit-log "${run_dir}/audit.log"
head -n 1 "${run_dir}/kubesim.out"

prepare_collection_copy >/dev/null
export ANSIBLE_COLLECTIONS_PATH="${COLLECTION_ROOT}"
export ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false

# A tiny client for the demo itself (the collection does the real work): deploy, and count who answers.
demo_client() {
    "${VENV_PY}" - "${kubeconfig}" "$@" <<'PY'
import collections
import json
import sys
import time

from kubernetes import client, config

kubeconfig, action = sys.argv[1], sys.argv[2]
configuration = client.Configuration()
config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
api = client.ApiClient(configuration)
NS = "demo"


def call(method, path, body=None):
    request = api.param_serialize(method, path, header_params={"Accept": "application/json", "Content-Type": "application/json"},
                                  body=body, auth_settings=["BearerToken"]) if hasattr(api, "param_serialize") else None
    if request is None:  # kubernetes < 36
        response = api.call_api(path, method, header_params={"Accept": "application/json"}, body=body,
                                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        return json.loads(response.data)
    response = api.call_api(*request)
    response.read()
    if not 200 <= response.status <= 299:
        raise RuntimeError("%s %s: HTTP %s %s" % (method, path, response.status, response.data[:200]))
    return json.loads(response.data)


def pods():
    return call("GET", "/api/v1/namespaces/%s/pods?labelSelector=app%%3Dweb" % NS)["items"]


if action == "deploy":
    call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    call("POST", "/apis/apps/v1/namespaces/%s/deployments" % NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "kubesim/web:1",
                                                       "ports": [{"containerPort": 8080}]}]}}}})
    call("POST", "/api/v1/namespaces/%s/services" % NS, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    deadline = time.time() + 30
    while time.time() < deadline:  # demo setup only; the collection's own waits use watches
        ready = [p for p in pods() if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in p.get("status", {}).get("conditions", []))]
        if len(ready) == 3:
            break
        time.sleep(0.2)
    for p in sorted(pods(), key=lambda p: p["metadata"]["name"]):
        print("  %-28s %-12s %s" % (p["metadata"]["name"], p["status"].get("podIP"), p["spec"].get("nodeName")))
elif action == "first-pod":
    print(sorted(p["metadata"]["name"] for p in pods())[0])
elif action == "traffic":
    answers, failures = collections.Counter(), 0
    for _ in range(int(sys.argv[3])):
        try:
            answers[call("GET", "/api/v1/namespaces/%s/services/web/proxy/" % NS)["pod"]] += 1
        except Exception:  # noqa: BLE001 - counted and shown
            failures += 1
    for pod, count in sorted(answers.items()):
        print("  %-28s answered %3d requests" % (pod, count))
    print("  failed requests: %d" % failures)
elif action == "direct":
    answer = call("GET", "/api/v1/namespaces/%s/pods/%s/proxy/" % (NS, sys.argv[3]))
    print("  %s answers directly: %s" % (sys.argv[3], json.dumps(answer)))
PY
}

step "deploying a 3-replica kubesim/web Deployment and its Service in namespace demo"
demo_client deploy

step "traffic through the Service proxy: all three pods answer"
demo_client traffic 30

victim="$(demo_client first-pod)"
step "isolating ${victim}: ansible-playbook triage.k8s.isolate (check mode first)"
ansible-playbook triage.k8s.isolate -e pod="${victim}" -e namespace=demo -e kubeconfig="${kubeconfig}" \
    -e reason="make demo" -e ticket=DEMO-1 --check
ansible-playbook triage.k8s.isolate -e pod="${victim}" -e namespace=demo -e kubeconfig="${kubeconfig}" \
    -e reason="make demo" -e ticket=DEMO-1

step "traffic through the Service proxy: only the others (and the replacement) answer"
demo_client traffic 30

step "the isolated pod still answers directly (pod proxy)"
demo_client direct "${victim}"

step "restoring ${victim}: ansible-playbook triage.k8s.restore"
ansible-playbook triage.k8s.restore -e pod="${victim}" -e namespace=demo -e kubeconfig="${kubeconfig}"

step "traffic through the Service proxy after the restore: the restored pod is back, one replica was removed"
demo_client traffic 30

step "done; stopping kubesim"
