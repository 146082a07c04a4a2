#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_isolate
short_description: Take a misbehaving pod out of traffic and out of its controller, and keep it running
version_added: 1.0.0
description:
  - Rewrites the labels of a running pod so that no Service selects it any more and its controller (ReplicaSet,
    DaemonSet) releases it. The controller starts a replacement; the pod keeps running, so you can investigate it
    with C(kubectl exec), C(kubectl port-forward) or C(kubectl logs) without it serving users.
  - B(How the labels are chosen.) The module reads the pod, every Service of the namespace in one list call (selectors
    are matched locally), the owner chain (ReplicaSet to Deployment, StatefulSet, DaemonSet, Job to CronJob),
    PodDisruptionBudgets, HorizontalPodAutoscalers and NetworkPolicies. It then picks the smallest set of label
    keys whose rewrite breaks every match, and rewrites each value to V(quarantined-<old value>) (kept a valid label
    value of at most 63 characters). O(keys) and O(values) let you choose instead.
  - B(Strategies.) V(replace-first) first changes only the label that releases the pod from its controller but that
    no Service selects (for a Deployment this is C(pod-template-hash)), waits until the replacement pod is Ready,
    and only then rewrites the Service labels. Capacity and traffic never dip, which matters most when the pod is
    the last ready endpoint of a Service. V(immediate) changes every key in one patch. V(auto) (the default) picks
    V(replace-first) when the pod is owned by a ReplicaSet or DaemonSet, such a label exists and the pod is a ready
    endpoint of at least one Service; otherwise V(immediate). The result says which was chosen and why.
  - B(Undo record.) The same single JSON patch that changes the labels adds the label C(triage.k8s/isolated=true)
    and C(triage.k8s/) annotations (original labels, when, who, reason, ticket, strategy, phase, owner, Services),
    so an interrupted run never leaves half a record. M(triage.k8s.pod_restore) reads it. A core/v1 Event with
    reason C(Isolated) is recorded on the pod.
  - B(Guards.) Unless O(force=true), the module fails and changes nothing when the pod belongs to a StatefulSet (no
    replacement can be created while it exists), is a bare pod (nothing replaces it), belongs to a Job, is
    terminating, would leave a Service with no ready endpoint when no replacement will come, would violate a
    PodDisruptionBudget (its C(status.disruptionsAllowed), or a count from the pods when the PDB has no current
    status; strategy V(immediate) only, because replace-first keeps the pod under the budget until its replacement
    is Ready), or when the workload already
    has O(max_isolated) isolated pods. It warns, without failing, when a HorizontalPodAutoscaler scales the workload
    and lists NetworkPolicies that still select the pod afterwards.
  - B(Concurrency.) Every patch starts with a JSON-patch C(test) of the resourceVersion that was read. When someone
    else changed the pod meanwhile the patch is refused; the module re-reads, re-plans and retries (5 times at most).
    Two people isolating the same pod at once get one C(changed) and one C(ok), with either strategy. During
    replace-first the run that wrote the C(triage.k8s/phase=releasing) record owns the Service cut, and a second run
    that finds such a record written less than O(wait_timeout) ago watches the pod until the cut is done and
    returns C(ok) with the record (with O(wait=false) or in check mode it returns C(ok) at once, with a warning).
  - B(Idempotence.) An already isolated pod gives C(changed=false) and its record. A replace-first isolation that
    was interrupted before the Service labels were cut (a C(releasing) record older than O(wait_timeout), by the
    clock of the machine running the module) is resumed.
  - B(Waiting.) With O(wait=true) the module watches (it never polls with sleeps) until the controller released the
    pod, the replacement is Ready and the pod IP left the Endpoints and EndpointSlices of every Service that selected
    it. O(wait_timeout) bounds the whole wait; per-phase durations come back in RV(timings).
  - B(Network quarantine.) Relabelling takes the pod out of Services, but it can still open connections. With
    O(network_quarantine=true), after the traffic cut, the module adds the label C(triage.k8s/quarantine=<pod uid>)
    and creates a NetworkPolicy C(triage-quarantine-<pod>) that selects exactly this pod by it, with policyTypes
    C(Ingress) and C(Egress) and only the rules O(quarantine_allow) names (none by default, so every connection to and
    from the pod is refused). The policy carries the labels C(app.kubernetes.io/managed-by=triage.k8s) and
    C(triage.k8s/quarantine-of=<pod uid>) and an ownerReference to the pod; the pod's record names it in the
    annotation C(triage.k8s/network-quarantine). M(triage.k8s.pod_restore) deletes it (never any other policy) and
    removes the label. A rerun changes nothing; a rerun with other O(quarantine_allow) updates our policy.
  - NetworkPolicies are additive, so a deny-all policy cannot take away what another policy that selects the pod
    allows. The quarantine therefore also rewrites the smallest set of label keys that stops every other allowing
    NetworkPolicy from selecting the pod (RV(network_quarantine.escape_labels)), and reports those it cannot escape
    (an empty podSelector selects every pod of the namespace; a selection only by a StatefulSet identity label or
    by an expression such as C(Exists)) with what they still admit, in RV(network_quarantine.unescaped_policies)
    and the warnings.
  - Cluster-scoped and CNI-specific policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy, Cilium, Calico) are
    not evaluated, and may still admit traffic. A NetworkPolicy is only enforced when the cluster's network plugin
    implements NetworkPolicy.
  - Check mode computes the plan and the diff and sends no mutating request at all (it does not use server-side
    dry run). With O(network_quarantine=true) the diff also shows the quarantine labels and the policy that would
    be created.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  name:
    description:
      - Name of the pod to isolate. Mutually exclusive with O(label_selector).
    type: str
  label_selector:
    description:
      - Isolate every pod matching this label selector (same syntax as C(kubectl -l), for example V(app=web,tier!=db)).
      - Pods already isolated are skipped. When more than O(max_pods) pods match, the module fails before touching any.
    type: str
  check_node:
    description:
      - Also read the pod's Node and warn when it is cordoned (a drain evicts the isolated pod like any other) or has
        a V(NoExecute) taint the pod does not tolerate, or tolerates only for C(tolerationSeconds) (the taint manager
        deletes the pod, and the evidence with it).
      - Needs C(get) on C(nodes), which is cluster-scoped and so not in the shipped namespaced Role; without it the
        check is skipped (the request is still made, and denied). Off by default, so that a Role-only user's runs
        make no denied request.
    type: bool
    default: false
  max_pods:
    description:
      - Blast-radius cap for O(label_selector). The module fails without changing anything when more pods match.
    type: int
    default: 1
  strategy:
    description:
      - V(auto) chooses V(replace-first) when possible and the pod is serving, else V(immediate). See the description.
    type: str
    choices: [auto, replace-first, immediate]
    default: auto
  keys:
    description:
      - Label keys to rewrite instead of the computed smallest set. Together they must break every Service match and
        the controller's selector, or the module fails.
    type: list
    elements: str
  values:
    description:
      - "New values for some label keys, for example C({\"release\": \"crashed-login-audit-trail\"}). Keys not named
        here get V(quarantined-<old value>). Values must be valid label values."
    type: dict
  force:
    description:
      - Isolate even when a guard fails (StatefulSet, bare or Job pod, terminating, last endpoint, PDB, max_isolated).
        The overridden guards are listed in the warnings and in RV(plan.forced).
  max_isolated:
    description:
      - Maximum number of isolated pods per workload (the Deployment, or the controller when it has no owner).
        Isolating one more fails unless O(force=true).
    type: int
    default: 1
  reason:
    description:
      - Why the pod is isolated; stored in the annotation C(triage.k8s/reason) and in the Event.
    type: str
  ticket:
    description:
      - Incident or ticket reference; stored in the annotation C(triage.k8s/ticket), which is left out when no ticket is given.
    type: str
  isolated_by:
    description:
      - Who isolates the pod, stored in C(triage.k8s/isolated-by). Defaults to O(impersonate_user) when set,
        otherwise to C(<local user>@<host>) of the machine running the module.
    type: str
  network_quarantine:
    description:
      - After the traffic cut, deny the pod every network connection except those O(quarantine_allow) names, with a
        NetworkPolicy of its own (see the description). Needs C(get), C(create), C(update) and C(delete) on
        C(networkpolicies), and a network plugin that enforces NetworkPolicy.
    type: bool
    default: false
  quarantine_allow:
    description:
      - The only connections a quarantined pod keeps. Nothing is allowed unless named here.
    type: dict
    suboptions:
      dns:
        description:
          - Allow egress to the cluster DNS (pods labelled C(k8s-app=kube-dns) in namespace C(kube-system), port 53
            UDP and TCP).
        type: bool
        default: false
      ingress_namespaces:
        description:
          - Allow ingress from every pod of these namespaces (by their C(kubernetes.io/metadata.name) label), for
            example a forensics namespace.
        type: list
        elements: str
      egress_namespaces:
        description:
          - Allow egress to every pod of these namespaces.
        type: list
        elements: str
      ingress:
        description:
          - Further ingress rules, each a NetworkPolicyIngressRule as the Kubernetes API spells it (C(from) with
            C(podSelector), C(namespaceSelector) or C(ipBlock) peers, C(ports) with C(protocol), C(port), C(endPort)).
        type: list
        elements: dict
      egress:
        description:
          - Further egress rules, each a NetworkPolicyEgressRule (C(to), C(ports)).
        type: list
        elements: dict
  wait:
    description:
      - Wait until the pod is released, the replacement is Ready and the pod left every Endpoints/EndpointSlice.
      - V(replace-first) always waits for the replacement before cutting the Service labels; V(false) only skips the
        final wait for the endpoints.
  wait_timeout:
    default: 300
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.common.namespace
  - triage.k8s.common.wait
  - triage.k8s.common.force
  - triage.k8s.common.attributes
attributes:
  check_mode:
    support: full
    details: Computes the plan and the diff; sends no mutating request.
  diff_mode:
    support: full
    details: Shows the labels and annotations of the pod before and after (and the quarantine NetworkPolicy).
notes:
  - Label keys containing C(/) are escaped as C(~1) in the JSON-patch paths.
  - An isolated pod has no owner any more, so garbage collection never deletes it. Use
    M(triage.k8s.pod_restore) with O(triage.k8s.pod_restore#module:state=absent) when you are done.
  - Required RBAC in the namespace - pods get, list, watch, patch; services, endpoints and
    endpointslices list and watch; replicasets, deployments, statefulsets, daemonsets, jobs, cronjobs get;
    poddisruptionbudgets, horizontalpodautoscalers, networkpolicies list (skipped with a warning when denied);
    events create. With O(network_quarantine) - networkpolicies get, create, update.
seealso:
  - module: triage.k8s.pod_restore
'''

EXAMPLES = r'''
- name: Take the crashing login-audit-trail pod out of traffic (seed "Kubernetes Isolate Crashed Pod")
  triage.k8s.pod_isolate:
    kubeconfig: /etc/triage/kubeconfig
    namespace: ah
    name: login-audit-trail-service-b6bdb4645-274np
    reason: OutOfMemoryError, heap dump needed
    ticket: INC-2041
  register: isolated

- name: Show where it went and how to reach it
  ansible.builtin.debug:
    msg: >-
      {{ isolated.pod.name }} left {{ isolated.plan.services | join(', ') }};
      replacement {{ isolated.replacement }}; try
      kubectl -n ah port-forward pod/{{ isolated.pod.name }} 8080:8080

- name: Preview the plan without changing anything
  triage.k8s.pod_isolate:
    namespace: shop
    name: web-5d4b8f7c9-x2xkq
  check_mode: true
  diff: true
  register: preview

- name: Rewrite the label the runbook uses, the seed's way (release=crashed-...)
  triage.k8s.pod_isolate:
    namespace: ah
    name: login-audit-trail-service-b6bdb4645-274np
    keys: [release]
    values:
      release: crashed-login-audit-trail-service

- name: Isolate a compromised pod and cut its network, except DNS and the forensics namespace
  triage.k8s.pod_isolate:
    namespace: shop
    name: web-5d4b8f7c9-x2xkq
    reason: outbound connections to an unknown host
    network_quarantine: true
    quarantine_allow:
      dns: true
      ingress_namespaces: [forensics]
  register: quarantined

- name: Say which policies could not be escaped
  ansible.builtin.debug:
    var: quarantined.network_quarantine.unescaped_policies

- name: Isolate at most two pods of the canary track in one go
  triage.k8s.pod_isolate:
    namespace: shop
    label_selector: app=web,track=canary
    max_pods: 2
    max_isolated: 2
    strategy: immediate
'''

RETURN = r'''
changed:
  description: Whether any pod was changed (in check mode, whether one would be).
  returned: always
  type: bool
pod:
  description: The (last) pod handled, after the change.
  returned: when one pod was handled
  type: dict
  contains:
    name: {description: Pod name., type: str}
    namespace: {description: Namespace., type: str}
    uid: {description: Pod UID., type: str}
    ip: {description: "Pod IP, still reachable directly (port-forward, pod proxy).", type: str}
    node: {description: Node the pod runs on., type: str}
    phase: {description: Pod phase., type: str}
    labels: {description: Labels after the change., type: dict}
    annotations: {description: Annotations after the change (with the undo record)., type: dict}
    ports: {description: Container ports of the pod (for port-forward)., type: list, elements: int}
    containers: {description: Container names., type: list, elements: str}
  sample:
    name: web-5d4b8f7c9-x2xkq
    ip: 10.244.1.7
    node: worker-2
plan:
  description: What was (or in check mode would be) done.
  returned: when one pod was handled
  type: dict
  contains:
    strategy: {description: V(replace-first) or V(immediate)., type: str}
    strategy_reason: {description: Why that strategy., type: str}
    services: {description: Services that selected the pod and no longer do., type: list, elements: str}
    controller: {description: "The controller that released the pod (apiVersion, kind, name, uid).", type: dict}
    top_owner: {description: "Its owner, e.g. the Deployment, with templateHash.", type: dict}
    label_changes: {description: "Changed label keys: {key: {from, to}}.", type: dict}
    release_labels: {description: Keys changed first by replace-first., type: dict}
    cut_labels: {description: Keys that cut the Service matches., type: dict}
    replacement_expected: {description: Whether the controller is expected to start a replacement., type: bool}
    guards: {description: "Guards that failed: list of {id, message}.", type: list, elements: dict}
    forced: {description: Guard ids overridden by O(force)., type: list, elements: str}
    warnings: {description: "Non-blocking findings (HPA, NetworkPolicies, endpoint dip).", type: list, elements: str}
    network_policies: {description: NetworkPolicies that still select the pod., type: list, elements: str}
    hpas: {description: HorizontalPodAutoscalers that scale the workload., type: list, elements: str}
    pdbs:
      description: "PodDisruptionBudgets checked (strategy immediate): name, disruptions_allowed, healthy, desired, and
        source (V(status.disruptionsAllowed) or computed from the pods)."
      type: list
      elements: dict
    already_isolated:
      description: True when the pod was isolated before this run (or by another run meanwhile).
      type: bool
    isolated_by_another_run:
      description: True when another run was isolating the pod (replace-first, phase releasing) and this run left the
        Service cut to it.
      type: bool
    resume: {description: True when this run resumed an interrupted replace-first isolation., type: bool}
  sample:
    strategy: replace-first
    services: [web]
    label_changes: {pod-template-hash: {from: 5d4b8f7c9, to: quarantined-5d4b8f7c9}, app: {from: web, to: quarantined-web}}
replacement:
  description: Name of the Ready replacement pod (null when none is expected or O(wait=false)).
  returned: when one pod was handled
  type: str
  sample: web-5d4b8f7c9-q7zlm
network_quarantine:
  description: The network quarantine (or, in check mode, what it would be).
  returned: with O(network_quarantine=true), when one pod was handled
  type: dict
  contains:
    policy: {description: Name of the quarantine NetworkPolicy., type: str}
    uid: {description: Its uid (null in check mode before it exists)., type: str}
    created: {description: "Whether this run created it (in check mode, whether it would).", type: bool}
    updated: {description: Whether this run changed its rules (a new O(quarantine_allow))., type: bool}
    label: {description: "The label that selects the pod, {triage.k8s/quarantine: <pod uid>}.", type: dict}
    spec: {description: "The policy's spec (podSelector, policyTypes, ingress, egress).", type: dict}
    escape_labels:
      description: "Label keys rewritten so that other allowing NetworkPolicies stop selecting the pod:
        {key: {from, to}} (restored by M(triage.k8s.pod_restore))."
      type: dict
    escaped_policies: {description: The allowing policies those rewrites take the pod out of., type: list, elements: str}
    unescaped_policies:
      description: "Allowing policies that still select the pod: each {name, reason, admits} (admits: one sentence
        per rule)."
      type: list
      elements: dict
    not_evaluated: {description: "What was not evaluated: cluster-scoped and CNI-specific policies.", type: str}
  sample:
    policy: triage-quarantine-web-5d4b8f7c9-x2xkq
    label: {triage.k8s/quarantine: 0b9f5c1e-2d7a-4f63-9a55-1c8e6f1d2b3a}
    escape_labels: {team: {from: shop, to: quarantined-shop}}
    unescaped_policies:
      - name: allow-monitoring
        reason: its podSelector is empty, so it selects every pod of the namespace
        admits: ["ingress from namespaces (kubernetes.io/metadata.name=monitoring) on TCP/9090"]
record:
  description: The existing undo record, when the pod was already isolated.
  returned: when the pod was already isolated
  type: dict
timings:
  description: Seconds spent per phase (plan, release, replacement_ready, service_cut, endpoints_drained).
  returned: when one pod was handled
  type: dict
  sample: {plan: 0.04, release: 0.01, replacement_ready: 1.2, service_cut: 0.01, endpoints_drained: 0.3}
results:
  description: One entry per pod handled, each with the keys above (pod, plan, replacement, timings, changed).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run, warn_once
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import (
    input_problems,
    default_actor,
    module_spec,
    verb_options,
)
from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import STRATEGY_CHOICES
from ansible_collections.triage.k8s.plugins.module_utils.isolate.run import isolate_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import list_pods
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.netpol import allow_problems
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused


def argument_spec():
    return module_spec(
        wait_timeout=300,
        force=True,
        label_selector=dict(type="str"),
        max_pods=dict(type="int", default=1),
        strategy=dict(type="str", default="auto", choices=list(STRATEGY_CHOICES)),
        keys=dict(type="list", elements="str", no_log=False),
        values=dict(type="dict"),
        max_isolated=dict(type="int", default=1),
        reason=dict(type="str"),
        ticket=dict(type="str"),
        isolated_by=dict(type="str"),
        check_node=dict(type="bool", default=False),
        network_quarantine=dict(type="bool", default=False),
        quarantine_allow=dict(type="dict", options=dict(
            dns=dict(type="bool", default=False),
            ingress_namespaces=dict(type="list", elements="str"),
            egress_namespaces=dict(type="list", elements="str"),
            ingress=dict(type="list", elements="dict"),
            egress=dict(type="list", elements="dict"),
        )),
    )


def target_pods(module, api_client):
    """The pod names to isolate, enforcing max_pods before anything is touched."""
    params = module.params
    if params["name"]:
        return [params["name"]]
    pods, _rv = list_pods(api_client, params["namespace"], params["label_selector"])
    names = sorted(p["metadata"]["name"] for p in pods if not record.is_marked(p))
    if not names:
        # ok either way (a re-run must stay idempotent), but a mistyped selector must not pass silently.
        module.warn("label_selector %r matches %s in namespace %s; nothing to isolate" % (
            params["label_selector"], "only already isolated pods (%s)" % ", ".join(
                sorted(p["metadata"]["name"] for p in pods)) if pods else "no pod", params["namespace"]))
    if len(names) > params["max_pods"]:
        raise Refused(
            "label_selector %r matches %d pods in namespace %s (%s), more than max_pods=%d; nothing was changed"
            % (params["label_selector"], len(names), params["namespace"], ", ".join(names), params["max_pods"]),
            {"matched": names})
    return names


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("name", "label_selector")],
        required_one_of=[("name", "label_selector")],
        supports_check_mode=True,
    )
    params = module.params
    problems = input_problems(params, {"max_pods": 1, "max_isolated": 1}) + allow_problems(params["quarantine_allow"])
    if any((params["quarantine_allow"] or {}).values()) and not params["network_quarantine"]:
        problems.append("quarantine_allow needs network_quarantine: true")
    if problems:
        module.fail_json(msg="; ".join(problems))
    options = verb_options(params)
    options["isolated_by"] = params["isolated_by"] or default_actor(params)
    api_client = connect(module)
    results = []

    def work():
        names = target_pods(module, api_client)
        for name in names:
            try:
                results.append(isolate_pod(api_client, params["namespace"], name, options,
                                           check_mode=module.check_mode,
                                           leaving=[r["pod"]["name"] for r in results]))
            except PartialFailure as exc:
                partial = dict(exc.result)
                partial.pop("diff", None)
                results.append(partial)
                raise PartialFailure(str(exc), dict(_single(partial), warnings=partial.pop("warnings", []),
                                                    changed=any(r.get("changed") for r in results)))
        return results

    run(module, work, context=lambda: {"results": results, "changed": any(r.get("changed") for r in results)},
        client=api_client)
    warn_once(module, [warning for result in results for warning in result.pop("warnings", [])])
    output = dict(changed=any(r["changed"] for r in results), results=results)
    if len(results) == 1:
        output.update(_single(results[0]))
    diffs = [d for r in results if r.get("diff") for d in (r["diff"] if isinstance(r["diff"], list) else [r["diff"]])]
    if diffs:
        output["diff"] = diffs[0] if len(diffs) == 1 else diffs
    for result in results:
        result.pop("diff", None)
    finish(module, output)


def _single(result):
    keys = ("pod", "plan", "replacement", "timings", "record", "network_quarantine")
    return dict((k, result[k]) for k in keys if k in result)


if __name__ == "__main__":
    main()
