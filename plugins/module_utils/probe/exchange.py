# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_request does: pick the container port of one pod, send one HTTP request to it through
the API server (pods/portforward or pods/proxy, never a Service), read the capped answer, time it, and describe
the exchange for the result and the bundle. The wire is in kube/streams.py; this file only decides."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.kube import streams
from ansible_collections.triage.k8s.plugins.module_utils.probe import http

IDEMPOTENT = frozenset(["GET", "HEAD", "OPTIONS"])
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
# The API server's own refusals through pods/proxy (RBAC, no such pod): an error, not the container's answer.
_API_REFUSALS = (401, 403, 404, 429)


class Plan(object):
    """One request to one container port: what check mode shows and what is sent."""

    def __init__(self, pod, container, port, port_name, method, path, headers, body, via):
        self.pod = pod
        self.container = container
        self.port = port
        self.port_name = port_name
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.via = via

    @property
    def namespace(self):
        return self.pod["metadata"]["namespace"]

    @property
    def name(self):
        return self.pod["metadata"]["name"]

    def describe(self):
        return dict(method=self.method, path=self.path, via=self.via, port=self.port, port_name=self.port_name,
                    container=self.container, headers=http.masked_headers(self.headers),
                    body_bytes=len(self.body) if self.body is not None else 0)


def _where(pod):
    return "pod %s in namespace %s" % (pod["metadata"]["name"], pod["metadata"]["namespace"])


def _declared_ports(pod, container):
    found = []
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if container is None or spec.get("name") == container:
            for port in spec.get("ports") or []:
                if (port.get("protocol") or "TCP") == "TCP":
                    found.append((spec.get("name"), int(port["containerPort"]), port.get("name")))
    return found


def resolve_port(pod, container, port):
    """(container, number, name) for the port asked for: a number, a declared port name, or None for the
    first declared TCP port (of the container when one is named). http.ProbeError says what the pod has."""
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if container is not None and container not in names:
        raise http.ProbeError("%s has no container %s (it has: %s)" % (_where(pod), container, ", ".join(names)))
    declared = _declared_ports(pod, container)
    listing = ", ".join("%s/%s%s" % (c, n, " (%s)" % p if p else "") for c, n, p in declared) or "none declared"
    if port is None or str(port) == "":
        if not declared:
            raise http.ProbeError("%s declares no TCP container port%s: give port" % (
                _where(pod), " in container %s" % container if container else ""))
        return declared[0]
    text = str(port)
    if text.isdigit():
        number = int(text)
        if not 0 < number < 65536:
            raise http.ProbeError("port %d is out of range (1-65535)" % number)
        for c, n, p in declared:
            if n == number:
                return c, n, p
        # An undeclared port can still be listened on (declaring ports is informational), as kubectl allows.
        return container or (names[0] if names else None), number, None
    for c, n, p in declared:
        if p == text:
            return c, n, p
    raise http.ProbeError("%s has no container port named %s (ports: %s)" % (_where(pod), text, listing))


def check_pod_running(pod):
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise http.ProbeError("%s is %s, not Running: nothing can answer on its ports" % (_where(pod), phase))


def encode_body(body, headers):
    """(bytes or None, headers): a dict or list becomes JSON with its Content-Type, text is sent as UTF-8."""
    if body is None:
        return None, headers
    if isinstance(body, (dict, list)):
        headers = dict(headers)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(body).encode("utf-8"), headers
    if isinstance(body, bytes):
        return body, headers
    return str(body).encode("utf-8"), headers


def _via_portforward(api_client, plan, timeout, max_body_bytes):
    forward = streams.open_port_forward(api_client, plan.namespace, plan.name, plan.port, timeout=timeout)
    try:
        sent_at = time.monotonic()
        forward.send(http.request_bytes(plan.method, plan.path, "localhost:%d" % plan.port, plan.headers,
                                        plan.body))
        first = []

        def recv():
            data = forward.recv()
            if data and not first:
                first.append(time.monotonic())
            return data

        answer = http.read_response(recv, plan.method, max_body_bytes)
        answer["latency"] = round((first[0] if first else time.monotonic()) - sent_at, 6)
        return answer
    finally:
        forward.close()


def _api_status(answer):
    """The API server's Status message when the answer is one (the proxy itself refused), else None."""
    if "json" not in (_header(answer["headers"], "content-type") or ""):
        return None
    try:
        document = json.loads(answer["body"].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(document, dict) and document.get("kind") == "Status" and document.get("apiVersion") == "v1":
        return document.get("message") or document.get("reason") or "no message"
    return None


def _header(headers, name):
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _via_proxy(api_client, plan, timeout, max_body_bytes):
    sent_at = time.monotonic()
    response = streams.proxy_open(api_client, plan.namespace, plan.name, plan.port, plan.method, plan.path,
                                  plan.headers, plan.body, timeout)
    latency = round(time.monotonic() - sent_at, 6)
    try:
        answer = dict(status=response.status, reason=response.reason, headers=dict(response.headers.items()))
        answer.update(http.read_capped(lambda amt: response.read(amt, decode_content=False), max_body_bytes))
    finally:
        response.release_conn()
    answer["latency"] = latency
    message = _api_status(answer)
    if message is not None and answer["status"] in _API_REFUSALS:
        error = streams.StreamRefused("the API server refused the proxy request to port %d of %s (HTTP %d): %s"
                                      % (plan.port, _where(plan.pod), answer["status"], message), answer["status"])
        error.transient = answer["status"] == 429
        raise error
    if message is not None and answer["status"] >= 500:
        # The API server could not reach the container: that is no answer from the pod.
        raise http.ProbeError("port %d of %s did not answer through the API server's proxy (HTTP %d): %s" % (
            plan.port, _where(plan.pod), answer["status"], message))
    return answer


def send(api_client, plan, timeout, max_body_bytes, retries, sleep=time.sleep):
    """Send the plan's request; return the answer dict (status, reason, headers, body, body_truncated,
    body_bytes, latency, elapsed, attempts).

    Retried with back-off (0.5 s, 1 s, 2 s, ...) only when nothing reached the container: the API server
    refused the upgrade or the proxy with 429/5xx, or could not be reached. A request the container may have
    received is never sent twice unless its method is idempotent.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            if plan.via == "portforward":
                answer = _via_portforward(api_client, plan, timeout, max_body_bytes)
            else:
                answer = _via_proxy(api_client, plan, timeout, max_body_bytes)
            break
        except streams.StreamRefused as exc:
            if not exc.transient or attempt > retries:
                raise
        except streams.StreamError:
            if plan.method not in IDEMPOTENT or attempt > retries:
                raise
        sleep(min(0.5 * (2 ** (attempt - 1)), 8))
    answer["elapsed"] = round(time.monotonic() - started, 6)
    answer["attempts"] = attempt
    return answer


def result_of(plan, answer, expected_status):
    """The module's result fields for an answer (body as text or base64, credential headers masked)."""
    text, encoding = http.body_text(answer["body"])
    result = dict(status=answer["status"], reason=answer["reason"], headers=http.masked_headers(answer["headers"]),
                  body=text, body_encoding=encoding, body_truncated=answer["body_truncated"],
                  body_bytes=answer["body_bytes"], latency=answer["latency"], elapsed=answer["elapsed"],
                  attempts=answer["attempts"], ok=answer["status"] in expected_status,
                  request=plan.describe())
    if encoding == "utf-8" and "json" in (_header(answer["headers"], "content-type") or "") \
            and not answer["body_truncated"]:
        try:
            result["json"] = json.loads(text)
        except ValueError:
            pass
    return result


def output_name(target, wanted, plan):
    """requests/<n>-<method>-<path>.json (numbered after the requests already there), or the name asked for."""
    if wanted:
        return _SLUG.sub("-", wanted).strip("-") or "request"
    count = 0
    if target is not None and getattr(target, "is_bundle", False):
        count = len([a for a in target.manifest["artifacts"] if a.get("module") == "pod_request"])
    slug = _SLUG.sub("-", plan.path.split("?", 1)[0]).strip("-") or "root"
    return "%d-%s-%s" % (count + 1, plan.method.lower(), slug[:60])


def record(target, plan, result, name, error=None):
    """Write the exchange (request and answer, credentials masked) as requests/<name>.json; its manifest entry."""
    relpath = "requests/%s.json" % name
    if target.exists(relpath):
        raise KubeError("the bundle already has %s; give another output_name" % relpath)
    document = dict(pod=plan.name, namespace=plan.namespace, request=plan.describe(),
                    time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if result is not None:
        document["response"] = dict((k, result[k]) for k in (
            "status", "reason", "headers", "body", "body_encoding", "body_truncated", "body_bytes", "latency",
            "elapsed", "attempts", "ok"))
    if error is not None:
        document["error"] = error
    with target.artifact(relpath, "pod_request", dict(via=plan.via, method=plan.method, path=plan.path),
                         container={"name": plan.container}, port=plan.port,
                         status=result["status"] if result else None) as artifact:
        artifact.write((json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return artifact.entry
