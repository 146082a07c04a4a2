#!/usr/bin/env bash
# The seeds' kubectl runbook (seed 004, "Kubernetes: Isolate Crashed Pod"), as a careful user types it:
# read the pod, read the Service's selector, relabel one selected key to crashed-<old value>, then poll the
# Endpoints once a second until the pod's IP has left them (bounded: 120 polls; a failed poll is polled again).
#   isolate.sh KUBECONFIG NAMESPACE POD SERVICE KEY
set -euo pipefail
kubeconfig=$1 namespace=$2 pod=$3 service=$4 key=$5
k() { kubectl --kubeconfig "${kubeconfig}" -n "${namespace}" "$@"; }

fields=$(k get pod "${pod}" -o jsonpath="{.status.podIP} {.metadata.labels.${key}}")
read -r ip old <<<"${fields}"
k get svc "${service}" -o jsonpath='{.spec.selector}'
echo
k label --overwrite pods "${pod}" "${key}=crashed-${old}"
for _ in $(seq 120); do
    # A failed poll (the server's error, a reset) proves nothing: poll again.
    if ips=$(k get endpoints "${service}" -o jsonpath='{.subsets[*].addresses[*].ip}') \
        && ! tr ' ' '\n' <<<"${ips}" | grep -qxF "${ip}"; then
        echo "pod ${pod} (${ip}) left the endpoints of ${service}"
        exit 0
    fi
    sleep 1
done
echo "pod ${pod} (${ip}) is still in the endpoints of ${service} after 120 polls" >&2
exit 1
