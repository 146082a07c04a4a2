#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_request
short_description: Send an HTTP request to a container port of one pod, through the API server, never a Service
version_added: 1.0.0
description:
  - The probe of the seeds (C(kubectl port-forward) then C(curl)), as one task. Sends one HTTP request to a
    container port of one pod and returns the status, the headers, the body (up to O(max_body_bytes)) and the
    latency.
  - O(via=portforward) opens a port-forward of the API server (the websocket C(pods/portforward) the kubernetes
    Python client speaks, C(v4.channel.k8s.io)) and speaks HTTP/1.1 over it, as C(kubectl port-forward) plus
    C(curl) would. O(via=proxy) goes through the API server's pod proxy (C(pods/proxy)) instead, which needs the
    C(get) (or C(create) for methods other than GET) verb on C(pods/proxy) rather than C(create) on
    C(pods/portforward).
  - The request goes to that pod only, so it also reaches a pod that was isolated (no Service selects it any
    more) or hijacked.
  - O(expected_status) says which answers count as healthy; any other status fails the task (after the
    exchange was recorded). A port nothing listens on, a pod that is not running, or an API server that refuses
    the request is a clear error naming the pod, the namespace and the port.
  - With O(bundle), the exchange (request and answer, credential headers masked) is written to
    C(requests/<name>.json) and listed in the bundle's manifest.
  - Transient failures before the request reached the container (429 and 5xx from the API server on the
    upgrade or the proxy, a connection that could not be opened) are retried with back-off, O(retries) times.
    The port-forward upgrade is first retried by the collection's transport, as every read is (docs/retries.md),
    within O(timeout) and at most 30 s.
    A request that may have reached the container is sent again only when its method is GET, HEAD or OPTIONS.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  name:
    description: The pod.
    type: str
    required: true
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  container:
    description:
      - The container whose declared port is used when O(port) is a name or not given. Default all containers.
    type: str
  port:
    description:
      - The container port, as a number or as the name of a declared container port.
      - Default the first declared TCP port (of O(container) when given).
    type: raw
  via:
    description: How the request reaches the pod (see the description).
    type: str
    choices: [portforward, proxy]
    default: portforward
  method:
    description: HTTP method.
    type: str
    default: GET
  path:
    description: Path and query string, for example C(/healthz) or C(/api/orders?limit=1).
    type: str
    default: /
  headers:
    description:
      - "Request headers. C(Host), C(Connection: close), C(User-Agent) and C(Content-Length) are added unless given."
      - The values of credential headers (C(Authorization), C(Cookie), ...) are sent but never returned or written.
    type: dict
    default: {}
  body:
    description: Request body. A dict or list is sent as JSON (with C(Content-Type) C(application/json)).
    type: raw
  expected_status:
    description: Statuses that count as success; any other fails the task (RV(ok) is false).
    type: list
    elements: int
    default: [200]
  timeout:
    description: Seconds to wait for the connection and for each read of the answer.
    type: int
    default: 30
  max_body_bytes:
    description:
      - At most this many bytes of the body are read, returned and recorded (RV(body_truncated) says when there was
        more; the rest is never downloaded).
    type: int
    default: 65536
  retries:
    description: Retries of transient failures (see the description).
    type: int
    default: 2
  bundle:
    description:
      - An open incident bundle (RV(triage.k8s.incident_bundle#module:path)) to record the exchange in.
      - In check mode it may not exist yet; nothing is written.
    type: path
  output_name:
    description: Name of the record, C(requests/<output_name>.json). Default C(<n>-<method>-<path>).
    type: str
extends_documentation_fragment:
  - triage.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: The pod is read (to resolve the port); no request is sent, nothing is written; RV(request) says what
      would be sent.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action_group:
    support: full
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection once.
    membership: [triage.k8s.pods]
notes:
  - Like C(curl) without C(--compressed), the body is returned as it was sent (a gzip body stays gzip, in
    RV(body_encoding=base64)).
  - The probe has no side effects of its own, but the request does whatever the container does with it.
'''

EXAMPLES = r'''
- name: Does the isolated pod still answer?
  triage.k8s.pod_request:
    name: web-7d9c-abcde
    namespace: shop
    path: /healthz
  register: probe

- name: Same, through the API server's proxy, into the incident bundle, any status accepted
  triage.k8s.pod_request:
    name: web-7d9c-abcde
    namespace: shop
    via: proxy
    port: http
    path: /api/orders?limit=1
    headers:
      Accept: application/json
    expected_status: [200, 500, 503]
    bundle: "{{ incident.path }}"

- name: POST a JSON body to a hijacked pod
  triage.k8s.pod_request:
    name: web-7d9c-abcde
    namespace: shop
    port: 8080
    method: POST
    path: /debug/reload
    body: {level: debug}
    expected_status: [200, 204]
'''

RETURN = r'''
status:
  description: HTTP status of the answer.
  returned: when a request was sent
  type: int
  sample: 200
reason:
  description: The status line's reason phrase.
  returned: when a request was sent
  type: str
headers:
  description: Response headers, credential values masked.
  returned: when a request was sent
  type: dict
body:
  description: The body (at most O(max_body_bytes)), as text, or base64 when it is not UTF-8.
  returned: when a request was sent
  type: str
body_encoding:
  description: V(utf-8) or V(base64).
  returned: when a request was sent
  type: str
body_bytes:
  description: Bytes of the body read (at most O(max_body_bytes)).
  returned: when a request was sent
  type: int
body_truncated:
  description: The body was longer than O(max_body_bytes).
  returned: when a request was sent
  type: bool
json:
  description: The body decoded, when it is complete JSON.
  returned: when the answer is JSON
  type: raw
latency:
  description: Seconds from sending the request to the first byte of the answer (port-forward) or its headers (proxy).
  returned: when a request was sent
  type: float
elapsed:
  description: Seconds in total, body and retries included.
  returned: when a request was sent
  type: float
attempts:
  description: Connections opened (more than 1 after a retried transient failure; the transport's own retries
    of a port-forward upgrade are not counted).
  returned: when a request was sent
  type: int
ok:
  description: RV(status) is in O(expected_status).
  returned: when a request was sent
  type: bool
request:
  description: What was (in check mode, would be) sent, credential header values masked.
  returned: always
  type: dict
  contains:
    method: {description: HTTP method., type: str}
    path: {description: Path and query., type: str}
    via: {description: V(portforward) or V(proxy)., type: str}
    port: {description: Container port number., type: int}
    port_name: {description: "Its declared name, if any.", type: str}
    container: {description: The container that declares it., type: str}
    headers: {description: Headers given., type: dict}
    body_bytes: {description: Size of the body., type: int}
artifact:
  description: The manifest entry of C(requests/<name>.json) in O(bundle).
  returned: when O(bundle) was given and not in check mode
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import auth_argument_spec
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support
from ansible_collections.triage.k8s.plugins.module_utils.probe import exchange
from ansible_collections.triage.k8s.plugins.module_utils.probe.http import ProbeError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _check_params(module):
    params = module.params
    for option, low in (("timeout", 1), ("max_body_bytes", 0), ("retries", 0)):
        if params[option] < low:
            module.fail_json(msg="%s must be at least %d, got %d" % (option, low, params[option]))
    method = params["method"].upper()
    if method not in METHODS:
        module.fail_json(msg="method %s is not one of %s" % (params["method"], ", ".join(METHODS)))
    if not params["path"].startswith("/"):
        module.fail_json(msg="path must start with /, got %r" % params["path"])
    if any(ch in params["path"] for ch in " \r\n"):
        module.fail_json(msg="path must not contain spaces or line breaks (URL-encode them): %r" % params["path"])
    if isinstance(params["port"], bool) or params["port"] is not None and not isinstance(
            params["port"], (int, str)):
        module.fail_json(msg="port must be a number or a port name, got %r" % (params["port"],))
    return method


# The errors this module reports as one sentence (a tuple named here: older pylint misreads a sum in except).
PROBE_ERRORS = (ProbeError,) + module_support.KNOWN_ERRORS


def main():
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        container=dict(type="str"),
        port=dict(type="raw"),
        via=dict(type="str", default="portforward", choices=["portforward", "proxy"]),
        method=dict(type="str", default="GET"),
        path=dict(type="str", default="/"),
        headers=dict(type="dict", default={}),
        body=dict(type="raw"),
        expected_status=dict(type="list", elements="int", default=[200]),
        timeout=dict(type="int", default=30),
        max_body_bytes=dict(type="int", default=65536),
        retries=dict(type="int", default=2),
        bundle=dict(type="path"),
        output_name=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    method = _check_params(module)
    headers = dict((str(k), str(v)) for k, v in params["headers"].items())
    body, headers = exchange.encode_body(params["body"], headers)
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
        container, port, port_name = exchange.resolve_port(pod, params["container"], params["port"])
        exchange.check_pod_running(pod)
    except PROBE_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc), changed=False)
    plan = exchange.Plan(pod, container, port, port_name, method, params["path"], headers, body, params["via"])
    if module.check_mode:
        module.exit_json(changed=False, request=plan.describe())
    target = None
    if params["bundle"]:
        target = module_support.open_target(module)
    try:
        answer = exchange.send(api_client, plan, params["timeout"], params["max_body_bytes"], params["retries"])
    except PROBE_ERRORS as exc:
        message = "%s %s to port %d of pod %s in namespace %s via %s: %s" % (
            method, params["path"], port, params["name"], params["namespace"], params["via"],
            module_support.describe(exc))
        failed = dict(changed=False, request=plan.describe())
        if target is not None:
            try:
                name = exchange.output_name(target, params["output_name"], plan)
                failed["artifact"] = exchange.record(target, plan, None, name, error=message)
                failed["changed"] = True
            except module_support.KNOWN_ERRORS as record_exc:
                module.warn("the failed request could not be recorded in the bundle: %s" % record_exc)
        module.fail_json(msg=message, **failed)
    result = exchange.result_of(plan, answer, params["expected_status"])
    result["changed"] = False
    if target is not None:
        try:
            name = exchange.output_name(target, params["output_name"], plan)
            result["artifact"] = exchange.record(target, plan, result, name)
            result["changed"] = True
        except module_support.KNOWN_ERRORS as exc:
            module.fail_json(msg="the answer (HTTP %d) could not be recorded in the bundle: %s" % (
                result["status"], module_support.describe(exc)), **result)
    if not result["ok"]:
        module.fail_json(msg="%s %s to port %d of pod %s in namespace %s answered HTTP %d %s, expected %s" % (
            method, params["path"], port, params["name"], params["namespace"], result["status"], result["reason"],
            ", ".join(str(s) for s in params["expected_status"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
