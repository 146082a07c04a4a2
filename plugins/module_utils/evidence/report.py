# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.md: what a human reads first. Pure: it renders a manifest plus the events and pod state found in the
bundle, and touches no file and no API."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _size(num):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024 or unit == "GiB":
            return ("%d %s" % (num, unit)) if unit == "B" else ("%.1f %s" % (num, unit))
        num /= 1024.0
    return str(num)


def _resources(resources):
    parts = []
    for key in ("requests", "limits"):
        values = resources.get(key) or {}
        if values:
            parts.append("%s %s" % (key, ", ".join("%s=%s" % kv for kv in sorted(values.items()))))
    return "; ".join(parts) or "none set"


def event_time(event):
    """The best time an Event carries (series, lastTimestamp, eventTime, firstTimestamp, creation)."""
    return ((event.get("series") or {}).get("lastObservedTime") or event.get("lastTimestamp")
            or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp") or "")


def timeline(incident, events, artifacts):
    """[(time, source, text)] sorted by time: isolation record, container starts and terminations, events,
    the collection's own steps."""
    rows = []
    record = incident.get("record") or {}
    if record.get("isolated_at"):
        rows.append((record["isolated_at"], "triage.k8s", "pod isolated by %s (%s; reason: %s)" % (
            record.get("isolated_by") or "unknown", record.get("strategy") or "?", record.get("reason") or "none")))
    state = incident.get("pod_state") or {}
    for container in state.get("containers") or []:
        last = container.get("last_termination")
        if last:
            if last.get("startedAt"):
                rows.append((last["startedAt"], "kubelet", "container %s (previous instance) started"
                             % container["name"]))
            if last.get("finishedAt"):
                rows.append((last["finishedAt"], "kubelet", "container %s terminated: %s, exit code %s" % (
                    container["name"], last.get("reason"), last.get("exitCode"))))
        if container.get("started_at"):
            rows.append((container["started_at"], "kubelet", "container %s started (restart %s)" % (
                container["name"], container.get("restarts", 0))))
        terminated = container.get("terminated")
        if terminated and terminated.get("finishedAt"):
            rows.append((terminated["finishedAt"], "kubelet", "container %s terminated: %s, exit code %s" % (
                container["name"], terminated.get("reason"), terminated.get("exitCode"))))
    for event in events:
        involved = event.get("involvedObject") or {}
        count = event.get("count") or (event.get("series") or {}).get("count")
        rows.append((event_time(event), "event", "%s %s %s/%s: %s%s" % (
            event.get("type") or "", event.get("reason") or "", involved.get("kind") or "", involved.get("name"),
            (event.get("message") or "").strip(), " (x%s)" % count if count and count > 1 else "")))
    if incident.get("opened_at"):
        rows.append((incident["opened_at"], "triage.k8s", "incident bundle opened by %s" % incident.get("who")))
    for artifact in artifacts:
        rows.append((artifact.get("started") or "", "triage.k8s", "%s collected %s" % (
            artifact.get("module"), artifact.get("path"))))
    return sorted(rows, key=lambda row: row[0])


def render(manifest, events=None, archive_name=None):
    """The report as text."""
    incident = manifest["incident"]
    pod = incident.get("pod") or {}
    state = incident.get("pod_state") or {}
    lines = ["# Incident %s: pod %s in namespace %s" % (incident.get("id"), pod.get("name"), pod.get("namespace")),
             ""]
    lines += [
        "| | |", "|---|---|",
        "| cluster | %s (context %s) |" % (_cell(incident.get("cluster")), _cell(incident.get("context"))),
        "| pod | %s, uid %s, node %s |" % (_cell(pod.get("name")), _cell(pod.get("uid")), _cell(pod.get("node"))),
        "| opened | %s by %s |" % (_cell(incident.get("opened_at")), _cell(incident.get("who"))),
        "| reason | %s |" % _cell(incident.get("reason") or "none given"),
        "| ticket | %s |" % _cell(incident.get("ticket") or "none"),
        "| closed | %s |" % _cell(manifest.get("closed_at") or "not yet"),
        "| collected with | triage.k8s %s |" % _cell(incident.get("collection_version")),
        "",
        "## Pod state at collection time",
        "",
        "Phase **%s**, ready: **%s**%s." % (state.get("phase"), "yes" if state.get("ready") else "no",
                                            ", reason %s" % state["reason"] if state.get("reason") else ""),
        "",
        "| container | kind | state | ready | restarts | last termination | resources | image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    images = dict((c.get("name"), c) for c in incident.get("containers") or [])
    for container in state.get("containers") or []:
        last = container.get("last_termination") or {}
        image = images.get(container["name"]) or {}
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            _cell(container["name"]), container.get("kind"), _cell(container.get("state")),
            "yes" if container.get("ready") else "no", container.get("restarts", 0),
            _cell("%s/%s at %s" % (last.get("reason"), last.get("exitCode"), last.get("finishedAt")) if last else "-"),
            _cell(_resources(container.get("resources") or {})),
            _cell("%s (%s)" % (image.get("image"), image.get("imageID") or "no digest reported"))))
    record = incident.get("record")
    if record:
        lines += ["", "Isolation record: isolated at %s by %s, strategy %s, Services cut: %s." % (
            record.get("isolated_at"), record.get("isolated_by"), record.get("strategy"),
            ", ".join(record.get("services") or []) or "none")]
    lines += ["", "## Timeline (UTC)", "", "| time | source | what |", "|---|---|---|"]
    for when, source, text in timeline(incident, events or [], manifest.get("artifacts") or []):
        lines.append("| %s | %s | %s |" % (_cell(when), source, _cell(text)))
    lines += ["", "## Artifacts", "", "| file | size | by | notes |", "|---|---|---|---|"]
    for artifact in sorted(manifest.get("artifacts") or [], key=lambda a: a["path"]):
        lines.append("| %s | %s | %s | %s |" % (
            _cell(artifact["path"]), _size(artifact.get("size") or 0), artifact.get("module"), _cell(_notes(artifact))))
    lines += ["", "## What failed", ""]
    failures = manifest.get("failures") or []
    if not failures:
        lines.append("Nothing failed.")
    for failure in failures:
        lines.append("- %s, %s: %s (%s)" % (
            failure.get("module"), failure.get("what"), failure.get("error"), failure.get("time")))
    lines += ["", "## How to verify this bundle", "",
              "Every file is listed in `manifest.json` with its size and sha256; `SHA256SUMS` holds the same hashes "
              "and the manifest's own:", "", "```", "cd %s && sha256sum -c SHA256SUMS" % (
                  archive_name[:-len(".tar.gz")] if archive_name else "BUNDLE_DIR"), "```", ""]
    if archive_name:
        lines += ["The archive: `sha256sum -c %s.sha256`, or `triage.k8s.incident_bundle` with `state: verified` and "
                  "`path: %s`." % (archive_name, archive_name), ""]
    return "\n".join(lines)


def _notes(artifact):
    notes = []
    if artifact.get("container"):
        notes.append("container %s" % artifact["container"].get("name"))
    if artifact.get("command"):
        notes.append("`%s` rc %s" % (" ".join(artifact["command"]), artifact.get("rc")))
    if artifact.get("truncated"):
        notes.append("truncated at %s bytes (%s kept)" % (artifact.get("cap"), artifact.get("kept") or "head"))
    if artifact.get("redacted"):
        notes.append("%s value(s) redacted" % artifact["redacted"].get("count"))
    if artifact.get("complete") is False:
        notes.append("INCOMPLETE: %s" % artifact.get("error"))
    return "; ".join(notes)
