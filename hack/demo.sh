#!/usr/bin/env bash
# `make demo`: the story of seed 004 ("Kubernetes: Isolate Crashed Pod"), end to end, against the in-repo
# emulator (kubesim), with one command of the collection doing the work: `ansible-playbook triage.k8s.runbook`.
#
# 1. start kubesim (from .venv) with its own kubeconfig in a temporary directory;
# 2. deploy a 3-replica Java service (kubesim/java) behind a Service, as in the seed;
# 3. start traffic through the Service proxy in the background, counting every answer and every failure;
# 4. make one pod run out of memory as in the seed (kubesim/java's /kubesim/oom: the JVM logs
#    java.lang.OutOfMemoryError: unable to create native thread, exits with code 3, and is restarted), and show
#    the trace in its previous log;
# 5. run the runbook: preflight, isolate (replace-first), thread dump and heap dump into a bundle, probe the
#    isolated pod directly, close and verify the bundle, print the summary; then restore (DEMO_AFTER=delete to
#    delete the pod instead, DEMO_AFTER=keep to keep it isolated);
# 6. stop the traffic and show that no request failed while all of this happened; stop kubesim.
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

# A tiny client for the demo itself (the collection does the real work): deploy, pick the pod, and the traffic.
demo_client() {
    "${VENV_PY}" - "${kubeconfig}" "$@" <<'PY'
import collections
import json
import os
import sys
import time

from kubernetes import client, config

kubeconfig, action = sys.argv[1], sys.argv[2]
configuration = client.Configuration()
config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
api = client.ApiClient(configuration)
NS = "shop"


def call(method, path, body=None, timeout=None):
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if not hasattr(api, "param_serialize"):  # kubernetes < 36
        response = api.call_api(path, method, header_params=headers, body=body, auth_settings=["BearerToken"],
                                _preload_content=False, _return_http_data_only=True, _request_timeout=timeout)
        return json.loads(response.data)
    response = api.call_api(*api.param_serialize(method, path, header_params=headers, body=body,
                                                 auth_settings=["BearerToken"]), _request_timeout=timeout)
    response.read()
    if not 200 <= response.status <= 299:
        raise RuntimeError("%s %s: HTTP %s %s" % (method, path, response.status, response.data[:200]))
    return json.loads(response.data)


def pods():
    return call("GET", "/api/v1/namespaces/%s/pods" % NS)["items"]


if action == "deploy":
    call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    labels = {"component": "api-springboot", "release": "login-audit-trail-service"}
    call("POST", "/apis/apps/v1/namespaces/%s/deployments" % NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "login-audit-trail-service"},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "kubesim/java:21",
                                                       "ports": [{"containerPort": 8080, "name": "http"}]}]}}}})
    call("POST", "/api/v1/namespaces/%s/services" % NS, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "login-audit-trail-service"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    deadline = time.time() + 30
    while time.time() < deadline:  # demo setup only; the collection's own waits use watches
        ready = [p for p in pods() if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in p.get("status", {}).get("conditions", []))]
        if len(ready) == 3:
            break
        time.sleep(0.2)
    for p in sorted(pods(), key=lambda p: p["metadata"]["name"]):
        print("  %-48s %-12s %s" % (p["metadata"]["name"], p["status"].get("podIP"), p["spec"].get("nodeName")))
elif action == "victim":
    print(sorted(p["metadata"]["name"] for p in pods())[0])
elif action == "oom":
    # The leak of the seed, on demand: kubesim/java's /kubesim/oom makes this one JVM run out of threads; it
    # exits with code 3 (-XX:+ExitOnOutOfMemoryError) and the kubelet restarts the container.
    name = sys.argv[3]
    try:
        client.CoreV1Api(api).connect_get_namespaced_pod_proxy_with_path(name + ":8080", NS, "kubesim/oom")
        sys.exit("the pod answered its OOM request without an error")
    except client.exceptions.ApiException as exc:
        print("  GET /kubesim/oom -> HTTP %s: %s" % (exc.status, (exc.body or "").strip()))
    deadline = time.time() + 30
    while time.time() < deadline:  # demo setup only
        pod = call("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, name))
        status = (pod.get("status", {}).get("containerStatuses") or [{}])[0]
        if status.get("restartCount", 0) >= 1 and status.get("ready"):
            last = status.get("lastState", {}).get("terminated", {})
            print("  restartCount %d, last exit code %s (%s): the kubelet restarted the JVM" % (
                status["restartCount"], last.get("exitCode"), last.get("reason")))
            break
        time.sleep(0.2)
    else:
        sys.exit("the pod did not restart within 30 s")
elif action == "load":
    # Until the stop file exists: GET through the Service proxy (what the seed's clients do), count who answered.
    stop, out = sys.argv[3], sys.argv[4]
    answers, failures, errors = collections.Counter(), 0, []
    while not os.path.exists(stop):
        try:
            answers[call("GET", "/api/v1/namespaces/%s/services/login-audit-trail-service/proxy/" % NS,
                         timeout=5)["pod"]] += 1
        except Exception as exc:  # noqa: BLE001 - counted and shown
            failures += 1
            errors.append(str(exc)[:200])
        time.sleep(0.02)
    with open(out, "w") as handle:
        json.dump({"answers": answers, "failures": failures, "errors": errors[:5]}, handle)
elif action == "report":
    result = json.load(open(sys.argv[3]))
    for pod, count in sorted(result["answers"].items()):
        print("  %-48s answered %4d requests" % (pod, count))
    print("  requests sent: %d, failed: %d" % (sum(result["answers"].values()) + result["failures"],
                                               result["failures"]))
    for error in result["errors"]:
        print("  failure: %s" % error)
    sys.exit(1 if result["failures"] else 0)
PY
}

after="${DEMO_AFTER:-restore}"
case "${after}" in keep | restore | delete) ;; *) die "DEMO_AFTER must be keep, restore or delete, not ${after}" ;; esac
started=${SECONDS}

step "deploying login-audit-trail-service: 3 replicas of kubesim/java behind a Service, in namespace shop"
demo_client deploy

victim="$(demo_client victim)"
step "the broken pod: ${victim} runs out of memory, as in the seed"
demo_client oom "${victim}"
echo "  the log of the container that died (pod_logs previous=true):"
ansible localhost -m triage.k8s.pod_logs -a "name=${victim} namespace=shop kubeconfig=${kubeconfig} dest=${run_dir}/peek previous=true" >/dev/null
grep -h -A2 'OutOfMemoryError' "${run_dir}"/peek/logs/*.log | head -n 4 | sed 's/^/    /'

step "traffic through the Service runs in the background from now on (counted until the end)"
demo_client load "${run_dir}/stop" "${run_dir}/load.json" &
load_pid=$!

step "the runbook: ansible-playbook triage.k8s.runbook -e pod=${victim} -e ns=shop -e heap_dump=true -e probe_path=/healthz -e after=${after}"
echo "  (the change review first would be the same command with --check --diff)"
ansible-playbook triage.k8s.runbook -e pod="${victim}" -e ns=shop -e kubeconfig="${kubeconfig}" \
    -e heap_dump=true -e heap_dump_timeout=120 -e probe_path=/healthz -e after="${after}" \
    -e evidence_dir="${run_dir}/evidence" \
    -e reason="OutOfMemoryError: unable to create native thread" -e ticket=DEMO-004

step "stopping the traffic: every request sent through the Service while the runbook ran"
touch "${run_dir}/stop"
wait "${load_pid}"
demo_client report "${run_dir}/load.json"

step "done in $((SECONDS - started)) s; the bundle was under ${run_dir}/evidence (removed with kubesim now)"
