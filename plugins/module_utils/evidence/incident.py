# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.incident_bundle does: open (or reuse) a bundle, close it (verify, report, pack), verify one.

The events of the pod at opening time are written as the first artifact (events-at-open.json), so a report
has a timeline even when no pod_snapshot ran.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.triage.k8s.plugins.module_utils import undo_record
from ansible_collections.triage.k8s.plugins.module_utils.api_errors import K8sError
from ansible_collections.triage.k8s.plugins.module_utils.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.evidence import archive
from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import cluster_reads
from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.evidence import pod_facts
from ansible_collections.triage.k8s.plugins.module_utils.evidence import report
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import atomic_write, sha256_file
from ansible_collections.triage.k8s.plugins.module_utils.evidence.redaction import redact_document

MODULE = "incident_bundle"
EVENTS_AT_OPEN = "events-at-open.json"
SNAPSHOT_EVENTS = "snapshot/events.json"


class BundleError(Exception):
    """A bundle operation that cannot go on; the message names the bundle."""


def build_incident(pod, server, context, who, reason, ticket, opened_at, incident_id):
    metadata = pod["metadata"]
    try:
        record = undo_record.parse_record(pod)
    except undo_record.UndoRecordError as exc:
        record = {"unreadable": str(exc)}
    return {
        "id": incident_id,
        "opened_at": opened_at,
        "cluster": server,
        "context": context,
        "who": who,
        "reason": reason,
        "ticket": ticket,
        "pod": {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata.get("uid"),
                "node": (pod.get("spec") or {}).get("nodeName"), "resourceVersion": metadata.get("resourceVersion"),
                "labels": metadata.get("labels") or {}},
        "containers": [pod_facts.identity(c) for c in pod_facts.containers(pod)],
        "pod_state": pod_facts.pod_state(pod),
        "record": record,
        "collection_version": bundle_mod.COLLECTION_VERSION,
    }


def open_bundle(api_client, params, context, who, check_mode):
    """Result dict of state=present."""
    evidence_dir = bundle_mod.check_evidence_dir(params["evidence_dir"], check_mode)
    namespace, name = params["namespace"], params["name"]
    pod = cluster_reads.read_pod(api_client, namespace, name)
    existing = bundle_mod.find_open_bundle(evidence_dir, namespace, name, pod["metadata"].get("uid"))
    if existing:
        manifest = manifest_file.load(existing)
        return {"changed": False, "path": existing, "incident": manifest["incident"], "reused": True}
    opened_at = bundle_mod.now_rfc3339()
    incident = build_incident(pod, cluster_reads.server_url(api_client), context, who, params.get("reason"),
                              params.get("ticket"), opened_at, bundle_mod.new_incident_id())
    path = os.path.join(evidence_dir, bundle_mod.bundle_name(opened_at, namespace, name))
    if check_mode:
        return {"changed": True, "path": path, "incident": incident, "reused": False}
    try:
        events, events_error = cluster_reads.events_of(api_client, namespace, pod), None
    except K8sError as exc:
        # Without `list events` the bundle is still opened; the failure is its first entry.
        events, events_error = None, str(exc)
    path = bundle_mod.create_bundle(evidence_dir, incident)
    target = bundle_mod.BundleTarget(path)
    if events_error:
        target.record_failure(MODULE, "events of the pod at opening", events_error)
        return {"changed": True, "path": path, "incident": incident, "reused": False, "warnings": [events_error]}
    document, counts = redact_document({"events": sorted(events, key=report.event_time)})
    with target.artifact(EVENTS_AT_OPEN, MODULE, {"namespace": namespace, "name": name},
                         redacted={"count": sum(counts.values()), "rules": counts} if counts else None) as art:
        art.write((json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return {"changed": True, "path": path, "incident": incident, "reused": False}


def _events_for_report(bundle_dir, manifest):
    listed = set(a["path"] for a in manifest["artifacts"])
    for rel in (SNAPSHOT_EVENTS, EVENTS_AT_OPEN):
        if rel in listed:
            try:
                with open(os.path.join(bundle_dir, rel)) as handle:
                    data = json.load(handle)
                return data.get("events") or data.get("items") or []
            except (IOError, OSError, ValueError):
                return []
    return []


def archive_paths(bundle_dir):
    path = os.path.normpath(bundle_dir) + ".tar.gz"
    return path, path + ".sha256"


def close_bundle(bundle_dir, check_mode):
    """Result dict of state=closed: verify, write report.md and SHA256SUMS, pack, hash."""
    bundle_dir = os.path.abspath(bundle_dir)
    manifest = manifest_file.load(bundle_dir)
    archive_path, sha_path = archive_paths(bundle_dir)
    if manifest.get("state") == manifest_file.STATE_CLOSED:
        return _closed_again(bundle_dir, manifest, archive_path, check_mode)
    _manifest, problems = manifest_file.verify_dir(bundle_dir)
    # report.md, SHA256SUMS and a previous archive are re-made; anything else that differs is a real problem.
    problems = [p for p in problems if p["path"] not in (manifest_file.REPORT,)]
    if problems:
        raise BundleError("the bundle %s does not match its manifest, so it is not closed: %s" % (
            bundle_dir, "; ".join("%s: %s" % (p["path"], p["problem"]) for p in problems)))
    if check_mode:
        return {"changed": True, "path": bundle_dir, "archive": archive_path, "archive_sha256": None,
                "report": os.path.join(bundle_dir, manifest_file.REPORT), "intact": True, "problems": []}
    closed_at = bundle_mod.now_rfc3339()
    events = _events_for_report(bundle_dir, manifest)
    manifest["closed_at"] = closed_at
    text = report.render(manifest, events, archive_name=os.path.basename(archive_path))
    report_path = os.path.join(bundle_dir, manifest_file.REPORT)
    atomic_write(report_path, text.encode("utf-8"))
    digest, size = sha256_file(report_path)

    def close(current):
        current["artifacts"] = [a for a in current["artifacts"] if a["path"] != manifest_file.REPORT] + [{
            "path": manifest_file.REPORT, "size": size, "sha256": digest, "module": MODULE, "options": {},
            "started": closed_at, "ended": closed_at, "complete": True}]
        current["state"] = manifest_file.STATE_CLOSED
        current["closed_at"] = closed_at
    manifest = manifest_file.update(bundle_dir, close)
    sums = manifest_file.sha256sums(manifest["artifacts"] + [{
        "path": manifest_file.MANIFEST, "sha256": sha256_file(manifest_file.manifest_path(bundle_dir))[0]}])
    atomic_write(os.path.join(bundle_dir, manifest_file.SHA256SUMS), sums.encode("utf-8"))
    mtime = _epoch(manifest["incident"].get("opened_at"))
    archive_sha = archive.pack(bundle_dir, archive_path, mtime)
    archive.write_sha256_file(archive_path, archive_sha)
    return {"changed": True, "path": bundle_dir, "archive": archive_path, "archive_sha256": archive_sha,
            "sha256_file": sha_path, "report": report_path, "intact": True, "problems": []}


def _closed_again(bundle_dir, manifest, archive_path, check_mode):
    """A second close: nothing to do when the bundle and its archive are intact; the archive is packed again
    when it is missing or damaged (a run that died after closing the manifest)."""
    _manifest, problems = manifest_file.verify_dir(bundle_dir)
    if problems:
        raise BundleError("the bundle %s is closed but no longer matches its manifest: %s" % (
            bundle_dir, "; ".join("%s: %s" % (p["path"], p["problem"]) for p in problems)))
    report_path = os.path.join(bundle_dir, manifest_file.REPORT)
    if os.path.exists(archive_path):
        try:
            _m, archive_problems, digest = archive.verify_archive(archive_path)
        except archive.ArchiveError:
            archive_problems, digest = [{"problem": "unreadable"}], None
        if not archive_problems:
            return {"changed": False, "path": bundle_dir, "archive": archive_path, "archive_sha256": digest,
                    "sha256_file": archive_path + ".sha256", "report": report_path, "intact": True,
                    "problems": []}
    if check_mode:
        return {"changed": True, "path": bundle_dir, "archive": archive_path, "archive_sha256": None,
                "report": report_path, "intact": True, "problems": []}
    digest = archive.pack(bundle_dir, archive_path, _epoch(manifest["incident"].get("opened_at")))
    archive.write_sha256_file(archive_path, digest)
    return {"changed": True, "path": bundle_dir, "archive": archive_path, "archive_sha256": digest,
            "sha256_file": archive_path + ".sha256", "report": report_path, "intact": True, "problems": []}


def _epoch(stamp):
    try:
        return int(parse_rfc3339(stamp).timestamp())
    except (ValueError, TypeError):
        return 0


def verify(path):
    """Result dict of state=verified, for a bundle directory or a .tar.gz."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        manifest, problems = manifest_file.verify_dir(path)
        result = {"path": path, "kind": "directory"}
    elif os.path.isfile(path):
        try:
            manifest, problems, digest = archive.verify_archive(path)
        except archive.ArchiveError as exc:
            raise BundleError(str(exc))
        result = {"path": path, "kind": "archive", "archive_sha256": digest}
    else:
        raise BundleError("%s does not exist (give a bundle directory or its .tar.gz)" % path)
    result.update(changed=False, intact=not problems, problems=problems, bundle_state=manifest.get("state"),
                  incident=manifest["incident"], artifacts=len(manifest["artifacts"]),
                  failures=manifest["failures"])
    return result
