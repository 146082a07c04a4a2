# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The debug container of the evidence modules (pod_dump and pod_fetch ``via``/``debug_image``): an ephemeral
container that targets the container to read (``targetContainerName``, so it shares that container's PID
namespace), through which the target's processes and files are reached at /proc/<pid>/root.

- It runs ``sleep LIFETIME``: it ends by itself, since an ephemeral container can never be removed from the pod
  spec. LIFETIME is at least DEFAULT_LIFETIME and twice what the run may need plus a margin.
- It is reused by a later run when it is running with the same image and target and has at least that run's
  ``needed`` seconds left; else, with the default name, the next free name is taken (``triage-debug-<hash>``,
  ``-2``, ``-3``, ... : the hash of the target container and the image, so that runs for the same pair meet);
  an explicit ``debug_name`` that cannot be reused is an error.
- When the pod spec sets runAsUser/runAsGroup on the target container, the debug container runs as the same
  user (the pod's own settings apply to ephemeral containers anyway): HotSpot accepts an attach only from its
  own euid/egid or root, and /proc/<pid>/root and /proc/<pid>/maps of another user's process need ptrace
  rights that a baseline container lacks.

choose() is pure (check mode uses it alone); ensure() sends the patch (kube/ephemeral.py) and waits until the
container runs. find_target_pid() finds the target's process from inside: the processes of the shared PID
namespace whose mount namespace is not the debug container's own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import re

from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_run, fetch
from ansible_collections.triage.k8s.plugins.module_utils.kube.ephemeral import (
    EphemeralRefused,
    add_ephemeral_container,
    wait_ephemeral,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import KeptChanging
from ansible_collections.triage.k8s.plugins.module_utils.model import ephemeral
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.model.images import image_reference_problem
from ansible_collections.triage.k8s.plugins.module_utils.model.names import is_dns_label
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    DONE,
    FAILURE_REASONS,
    TIMEOUT,
    container_status,
    describe_container,
)

DEFAULT_LIFETIME = 3600
LIFETIME_MARGIN = 600
NAME_PREFIX = "triage-debug-"
# Default names tried before giving up: each one is an ephemeral container left in the pod spec for good.
MAX_DEFAULT_NAMES = 20
REMAINS = ("ephemeral containers can never be removed: %s stays in the spec of pod %s in namespace %s (its "
           "sleep ends it by itself)")
_SLEEP = re.compile(r"^\d+$")


class DebugError(Exception):
    """The debug container cannot be used as asked; the message names the pod and the namespace. ensure() has set
    result["changed"] when the container was added before it failed."""


def lifetime_for(needed):
    """The sleep of a new debug container: room for this run twice over, and at least DEFAULT_LIFETIME."""
    return max(DEFAULT_LIFETIME, 2 * int(needed) + LIFETIME_MARGIN)


def default_name(target_container, image, index=1, profile="baseline"):
    """triage-debug-<10 hex of sha256(target NUL image [NUL profile])>, with -<index> from the second on."""
    key = "%s\0%s" % (target_container, image) + ("" if profile == "baseline" else "\0" + profile)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return NAME_PREFIX + digest + ("" if index == 1 else "-%d" % index)


def security_context_for(container_spec, profile="baseline"):
    """The profile's settings (kubectl debug's; "general" adds SYS_PTRACE, for a JVM whose user the pod spec does
    not name), plus the target's own runAsUser/runAsGroup (the pod-level ones apply to ephemeral containers by
    themselves)."""
    if profile not in ephemeral.DEBUG_PROFILES:
        raise DebugError("unknown debug_profile %r; choose one of: %s"
                         % (profile, ", ".join(sorted(ephemeral.DEBUG_PROFILES))))
    context = copy.deepcopy(ephemeral.DEBUG_PROFILES[profile])
    own = container_spec.get("securityContext") or {}
    context.update((key, own[key]) for key in ("runAsUser", "runAsGroup") if own.get(key) is not None)
    return context


def wanted_container(name, image, target_container, target_spec, lifetime, profile="baseline"):
    return ephemeral.build_ephemeral_container(
        name, image, command=["sleep", str(int(lifetime))], target_container=target_container,
        security_context=security_context_for(target_spec, profile))


def _where(pod):
    return "pod %s in namespace %s" % (pod["metadata"]["name"], pod["metadata"]["namespace"])


def _sleep_seconds(existing):
    command = list(existing.get("command") or []) + list(existing.get("args") or [])
    if len(command) == 2 and command[0] == "sleep" and _SLEEP.match(command[1]):
        return int(command[1])
    return None


def assess(pod, existing, wanted, needed, now):
    """('reuse', None) when the existing ephemeral container can serve this run (the wanted body's image, target
    and security context, time left), ('wait', None) when it is still starting, ('broken', why) when it cannot
    start (another one of the same image would not either), else ('unusable', why)."""
    have = dict(existing, securityContext=existing.get("securityContext") or {})
    want = dict(wanted, securityContext=wanted.get("securityContext") or {})
    differences = ephemeral.ephemeral_differences(have, want, ("image", "targetContainerName", "securityContext"))
    if differences:
        return "unusable", "it has a different %s" % ", ".join(differences)
    lifetime = _sleep_seconds(existing)
    if lifetime is None:
        command = " ".join(list(existing.get("command") or []) + list(existing.get("args") or []))
        return "unusable", "it does not run a bounded sleep (%s)" % (command or "the image's entrypoint")
    status = container_status(pod, existing["name"], ephemeral=True)
    detail = describe_container(status)
    if detail["state"] == "running":
        started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
        try:
            left = lifetime - (now - parse_rfc3339(started)).total_seconds()
        except (TypeError, ValueError):
            return "unusable", "its start time is unknown"
        if left < needed:
            return "unusable", "its sleep ends in %ds, and this run may need %ds" % (max(0, left), needed)
        return "reuse", None
    if detail["state"] == "terminated":
        return "unusable", "it has ended (%s)" % (detail["reason"] or "terminated")
    if detail["reason"] in FAILURE_REASONS:
        message = ": " + detail["message"] if detail["message"] else ""
        return "broken", "it cannot start: %s%s" % (detail["reason"], message)
    return "wait", None


def choose(pod, target_container, image, debug_name, needed, now, profile="baseline"):
    """Which debug container this run uses: {"name", "action": "add" | "reuse" | "wait", "container": the body
    that would be added (add only), "skipped": [names passed over, with why]}. Pure; DebugError when none can be
    used (an explicit debug_name that cannot serve, a bad image or name)."""
    problem = image_reference_problem(image or "")
    if problem:
        raise DebugError("debug_image %r for %s: %s" % (image, _where(pod), problem))
    target_spec = next((c for c in (pod.get("spec") or {}).get("containers") or []
                        if c.get("name") == target_container), None)
    if target_spec is None:
        raise DebugError("container %s is not a regular container of %s: a debug container can only target one"
                         % (target_container, _where(pod)))
    names = [debug_name] if debug_name else [default_name(target_container, image, i, profile)
                                             for i in range(1, MAX_DEFAULT_NAMES + 1)]
    if debug_name and not is_dns_label(debug_name):
        raise DebugError("debug_name %r is not a valid container name: use at most 63 lower-case letters, digits "
                         "and '-', starting and ending with a letter or digit" % (debug_name,))
    skipped = []
    for name in names:
        existing = ephemeral.find_ephemeral_container(pod, name)
        body = wanted_container(name, image, target_container, target_spec, lifetime_for(needed), profile)
        if existing is None:
            try:
                ephemeral.check_ephemeral_container(pod, body, target_option="container")
            except ephemeral.EphemeralContainerError as exc:
                if debug_name:
                    raise DebugError(str(exc))
                skipped.append({"name": name, "why": str(exc)})
                continue
            return {"name": name, "action": "add", "container": body, "skipped": skipped}
        action, why = assess(pod, existing, body, needed, now)
        if action in ("reuse", "wait"):
            return {"name": name, "action": action, "container": None, "skipped": skipped}
        if action == "broken":
            raise DebugError("the ephemeral container %s of %s cannot be used: %s. Another container of image %s "
                             "would not start either: make the image pullable, or choose another debug_image"
                             % (name, _where(pod), why, image))
        if debug_name:
            raise DebugError("the ephemeral container %s of %s cannot be used: %s. Ephemeral containers can never "
                             "be changed or removed: choose another debug_name, or leave it out"
                             % (name, _where(pod), why))
        skipped.append({"name": name, "why": why})
    raise DebugError("%s already has %d ephemeral debug containers for container %s and image %s that cannot be "
                     "used (%s); set debug_name" % (_where(pod), len(skipped), target_container, image,
                                                    skipped[-1]["why"]))


def describe_choice(choice, pod, target_container, image):
    """The result's debug_container entry."""
    return {"name": choice["name"], "image": image, "target_container": target_container,
            "action": choice["action"], "added": False, "skipped": choice["skipped"],
            "remains": REMAINS % (choice["name"], pod["metadata"]["name"], pod["metadata"]["namespace"])}


def ensure(api_client, pod, target_container, image, debug_name, needed, timeout, now, result, profile="baseline"):
    """Add (or reuse) the debug container and wait until it runs. Returns (pod, name). result["debug_container"]
    describes it; result["changed"] is True as soon as the patch was accepted. DebugError otherwise."""
    choice = choose(pod, target_container, image, debug_name, needed, now, profile)
    info = describe_choice(choice, pod, target_container, image)
    result["debug_container"] = info
    name = choice["name"]
    if choice["action"] == "add":
        def still_needed(fresh):
            again = choose(fresh, target_container, image, name, needed, now, profile)
            return again["action"] == "add"
        try:
            updated, _planned = add_ephemeral_container(api_client, pod, choice["container"], still_needed,
                                                        "adding the debug container %s to %s" % (name, _where(pod)))
        except (EphemeralRefused, KeptChanging) as exc:
            raise DebugError("cannot add the debug container %s to %s: %s" % (name, _where(pod), exc))
        if updated is not None:
            pod = updated
            info["added"] = True
            result["changed"] = True
            result.setdefault("warnings", []).append(info["remains"])
    outcome, detail, latest, seconds = wait_ephemeral(api_client, pod, name, timeout, running_only=True)
    info.update(state=detail.get("state"), reason=detail.get("reason"), wait_seconds=round(seconds, 3))
    if outcome == DONE:
        return latest, name
    reason = ", " + detail["reason"] if detail.get("reason") else ""
    message = ": " + detail["message"] if detail.get("message") else ""
    if outcome == TIMEOUT:
        why = "did not start within %ds (last state %s%s)" % (timeout, detail.get("state"), reason)
    else:
        why = "cannot run: %s%s" % (detail.get("reason") or detail.get("state"), message)
    remains = info["remains"] if info["added"] else ""
    raise DebugError(("the debug container %s (image %s) in %s %s. %s" % (name, image, _where(pod), why,
                                                                          remains)).strip())


# ---------------------------------------------------------------- from inside the debug container

# One exec lists the processes of the shared PID namespace that are not the debug container's own (another mount
# namespace): pid, the /proc/PID/exe link, the first line of /proc/PID/maps naming libjvm.so, the uid line, and
# argv. A process whose mount namespace cannot be read is left out: it is not ours to look at.
PROC_SCAN = (
    'self=$(readlink /proc/self/ns/mnt); '
    'for p in /proc/[0-9]*; do n=${p#/proc/}; m=$(readlink "$p/ns/mnt" 2>/dev/null) || continue; '
    '[ -n "$m" ] && [ "$m" != "$self" ] || continue; '
    'e=$(readlink "$p/exe" 2>/dev/null); '
    'j=$(grep -m 1 "/libjvm\\.so" "$p/maps" 2>/dev/null); '
    'u=$(grep -m 1 "^Uid:" "$p/status" 2>/dev/null); '
    'printf "%s\\0%s\\0%s\\0%s\\0" "$n" "$e" "$j" "$u"; cat "$p/cmdline" 2>/dev/null; printf "\\0\\0\\n"; done')


def parse_proc_scan(text):
    """[{"pid", "exe", "libjvm", "uid", "argv"}] from PROC_SCAN's output (untrusted: malformed records dropped)."""
    processes = []
    for record in text.split("\0\0\n"):
        fields = record.split("\0")
        if len(fields) < 4 or not fields[0].isdigit():
            continue
        uid = fields[3].split()
        processes.append({"pid": int(fields[0]), "exe": fields[1] or None, "libjvm": fields[2] or None,
                          "uid": int(uid[2]) if len(uid) > 2 and uid[2].isdigit() else None,
                          "argv": [f for f in fields[4:] if f]})
    return processes


def scan_processes(run, where):
    """The target's processes seen from the debug container (``run(argv)`` -> (rc, out, err))."""
    try:
        rc, out, err = run([exec_run.SHELL, "-c", PROC_SCAN])
    except exec_run.ExecError as exc:
        raise DebugError("cannot list the processes from %s: %s" % (where, exc))
    if rc != 0:
        raise DebugError("cannot list the processes from %s: rc %s %s" % (where, rc, err.strip()[-200:]))
    return parse_proc_scan(out)


def find_target_pid(api_client, namespace, pod, debug_container, timeout=30):
    """The lowest pid of the target container's processes, seen from the debug container (for pod_fetch)."""
    where = "the debug container %s of pod %s in namespace %s" % (debug_container, pod, namespace)

    def run(argv):
        out, err = fetch.Capped(1024 * 1024), fetch.Capped(16 * 1024)
        ran = exec_run.run(api_client, namespace, pod, debug_container, argv, out, err, timeout=timeout)
        return ran["rc"], out.text(), err.text()
    processes = scan_processes(run, where)
    if not processes:
        raise DebugError("%s sees no process of its target container: the pod may not share that container's "
                         "PID namespace, or the processes are not readable as the debug container's user" % where)
    return min(p["pid"] for p in processes)


# For each path: its first directory that is a symbolic link ("-" when none), seen through $1 (/proc/PID/root).
_LINKED_DIRECTORY = ('r=$1; shift; for p in "$@"; do d=; rest=${p#/}; hit=-; '
                     'while [ "${rest#*/}" != "$rest" ]; do d="$d/${rest%%/*}"; rest=${rest#*/}; '
                     'if [ -L "$r$d" ]; then hit=$d; break; fi; done; printf "prefix %s\\n" "$hit"; done')


def linked_directories(run, root, paths):
    """For each absolute path of the target, its first directory that is a symbolic link there, else None.

    Through /proc/PID/root the kernel resolves an absolute link (and a relative one climbing with ..) from the
    debug container's own root, not the target's: such a path would read the debug container's files.
    ``run(argv)`` -> (rc, out, err) runs in the debug container; DebugError when it gives no usable answer."""
    rc, out, err = run([exec_run.SHELL, "-c", _LINKED_DIRECTORY, "triage-prefix", root] + list(paths))
    lines = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("prefix ")]
    if rc != 0 or len(lines) != len(paths):
        detail = err.strip()[-300:] or "no answer"
        raise DebugError("the check for linked directories failed (rc %s): %s" % (rc, detail))
    return [None if line == "-" else line for line in lines]


def proc_root(pid, path):
    """The path of the target's file ``path`` as the debug container reaches it."""
    return "/proc/%d/root%s" % (int(pid), path if path.startswith("/") else "/" + path)
