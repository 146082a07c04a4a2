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

import errno
import json
import os

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.evidence import archive
from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import cluster_reads
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
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
    pod = read_pod(api_client, namespace, name)
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
    except KubeError as exc:
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


class CloseFailed(BundleError):
    """Closing failed; the message names the bundle, the step and what the run left. `result` is the module's
    return for it: changed (true when anything was written or deleted), written, bundle_state, archive,
    temp_files_left, rerun_finishes."""

    def __init__(self, message, result):
        BundleError.__init__(self, message)
        self.result = result


class _Progress(object):
    """What a close has done so far, for the report of a close that fails halfway."""

    def __init__(self):
        self.step = "reading the manifest"
        self.written = []
        self.removed = []

    def wrote(self, path):
        self.written.append(path)


def close_bundle(bundle_dir, check_mode):
    """Result dict of state=closed: verify, write report.md and SHA256SUMS, pack, hash.

    The whole close holds the bundle's lock: no collector adds to the bundle meanwhile, no second close runs at
    once, and so a temp file of this bundle's archive found beside it is a killed pack's and is deleted first."""
    bundle_dir = os.path.abspath(bundle_dir)
    manifest = manifest_file.load(bundle_dir)
    archive_path, _sha_path = archive_paths(bundle_dir)
    if check_mode:
        return _close(bundle_dir, manifest, archive_path, True, _Progress())
    progress = _Progress()
    try:
        with manifest_file.locked(bundle_dir):
            manifest = manifest_file.load(bundle_dir)
            progress.step = "deleting the temp files of an earlier close"
            progress.removed = archive.remove_stale_temps(archive_path)
            result = _close(bundle_dir, manifest, archive_path, False, progress)
    except (OSError, BundleError, manifest_file.ManifestError, archive.ArchiveError) as exc:
        if not isinstance(exc, OSError) and not (progress.written or progress.removed):
            raise  # refused before anything was written: the message names the bundle already
        raise _close_failed(bundle_dir, archive_path, progress, exc)
    if progress.removed:
        result["changed"] = True
        result["removed_temp_files"] = progress.removed
    return result


def _close(bundle_dir, manifest, archive_path, check_mode, progress):
    if manifest.get("state") == manifest_file.STATE_CLOSED:
        return _closed_again(bundle_dir, manifest, archive_path, check_mode, progress)
    progress.step = "verifying the bundle"
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
    progress.step = "writing %s" % report_path
    atomic_write(report_path, text.encode("utf-8"))
    progress.wrote(report_path)
    digest, size = sha256_file(report_path)
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["path"] != manifest_file.REPORT] + [{
        "path": manifest_file.REPORT, "size": size, "sha256": digest, "module": MODULE, "options": {},
        "started": closed_at, "ended": closed_at, "complete": True}]
    manifest["state"] = manifest_file.STATE_CLOSED
    manifest["closed_at"] = closed_at
    progress.step = "marking the manifest closed"
    manifest_file.save(bundle_dir, manifest)  # under the lock close_bundle holds
    progress.wrote(manifest_file.manifest_path(bundle_dir))
    _write_sums(bundle_dir, manifest, progress)
    return _pack(bundle_dir, manifest, archive_path, progress)


def _write_sums(bundle_dir, manifest, progress):
    """SHA256SUMS from the closed manifest (its content follows from the manifest alone)."""
    path = os.path.join(bundle_dir, manifest_file.SHA256SUMS)
    sums = manifest_file.sha256sums(manifest["artifacts"] + [{
        "path": manifest_file.MANIFEST, "sha256": sha256_file(manifest_file.manifest_path(bundle_dir))[0]}])
    progress.step = "writing %s" % path
    atomic_write(path, sums.encode("utf-8"))
    progress.wrote(path)


def _pack(bundle_dir, manifest, archive_path, progress):
    progress.step = "writing the archive %s" % archive_path
    digest = archive.pack(bundle_dir, archive_path, _epoch(manifest["incident"].get("opened_at")))
    progress.wrote(archive_path)
    progress.step = "writing %s.sha256" % archive_path
    sha_path = archive.write_sha256_file(archive_path, digest)
    progress.wrote(sha_path)
    return {"changed": True, "path": bundle_dir, "archive": archive_path, "archive_sha256": digest,
            "sha256_file": sha_path, "report": os.path.join(bundle_dir, manifest_file.REPORT), "intact": True,
            "problems": []}


def _closed_again(bundle_dir, manifest, archive_path, check_mode, progress):
    """A second close: nothing to do when the bundle and its archive are intact; SHA256SUMS is written when it
    is missing, and the archive is packed again when it is missing or damaged (a run that died or ran out of
    room after closing the manifest)."""
    progress.step = "verifying the closed bundle"
    _manifest, problems = manifest_file.verify_dir(bundle_dir)
    if problems:
        raise BundleError("the bundle %s is closed but no longer matches its manifest: %s" % (
            bundle_dir, "; ".join("%s: %s" % (p["path"], p["problem"]) for p in problems)))
    report_path = os.path.join(bundle_dir, manifest_file.REPORT)
    sums_missing = not os.path.exists(os.path.join(bundle_dir, manifest_file.SHA256SUMS))
    if os.path.exists(archive_path) and not sums_missing:
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
    if sums_missing:
        _write_sums(bundle_dir, manifest, progress)
    return _pack(bundle_dir, manifest, archive_path, progress)


def _close_failed(bundle_dir, archive_path, progress, exc):
    """CloseFailed saying what the failed close left: the files it wrote, the manifest's state, the archive."""
    if isinstance(exc, OSError):
        reason = "%s%s" % (exc.strerror or exc, " (%s)" % exc.filename if exc.filename else "")
    else:
        reason = str(exc)
    try:
        state = manifest_file.load(bundle_dir).get("state")
    except manifest_file.ManifestError:
        state = None
    archive_left = archive_path if os.path.exists(archive_path) else None
    temps_left = archive.temp_files(archive_path)
    changed = bool(progress.written or progress.removed)
    parts = ["closing the bundle %s failed while %s: %s." % (bundle_dir, progress.step, reason)]
    if progress.written:
        parts.append("It wrote %s." % ", ".join(os.path.basename(p) for p in progress.written))
    else:
        parts.append("It wrote nothing.")
    parts.append("The manifest says %s; %s; %s." % (
        state or "nothing readable",
        "the archive %s is there" % archive_left if archive_left else "no archive was left",
        "temp files left: %s" % ", ".join(temps_left) if temps_left else "no temp file was left"))
    if state in (manifest_file.STATE_OPEN, manifest_file.STATE_CLOSED):
        parts.append("%s and run state=closed on it again: it finishes the close." % (
            "Free room in %s" % os.path.dirname(bundle_dir) if getattr(exc, "errno", None) == errno.ENOSPC
            else "Fix the cause"))
    return CloseFailed(" ".join(parts), {
        "changed": changed, "path": bundle_dir, "written": progress.written, "bundle_state": state,
        "archive": archive_left, "temp_files_left": temps_left, "removed_temp_files": progress.removed,
        "rerun_finishes": state in (manifest_file.STATE_OPEN, manifest_file.STATE_CLOSED)})


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
