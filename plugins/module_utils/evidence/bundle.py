# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where collectors write: an incident bundle (a directory with a manifest) or a plain destination directory.

Both give the same writer: ``target.artifact(relpath, ...)`` returns an Artifact to write chunks into. It is
written under the work directory, hashed while written, renamed into place when complete, and only then listed
in the manifest, so a bundle is valid at every moment. Collectors never touch paths or the manifest directly.

Bundle directories are named ``<UTC time>_<namespace>_<pod>`` (20261201T230738Z_shop_web-1): they sort by time
and say what they hold.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import shutil
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import (
    EvidencePathError,
    HashingWriter,
    check_relative,
    create_private_file,
    make_private_dir,
    make_private_dirs,
)

# Kept equal to galaxy.yml's version by a unit test (a module cannot read galaxy.yml at run time).
COLLECTION_VERSION = "1.0.0"
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def now_rfc3339():
    """UTC with milliseconds: artifacts of one run are often less than a second apart."""
    moment = datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def bundle_name(opened_at, namespace, pod):
    """20261201T230738Z_shop_web-1 from an RFC 3339 time and the pod."""
    stamp = re.sub(r"[-:]", "", opened_at.split(".")[0]).rstrip("Z") + "Z"
    return "%s_%s_%s" % (stamp, _NAME_SAFE.sub("-", namespace), _NAME_SAFE.sub("-", pod))


def check_evidence_dir(evidence_dir, check_mode):
    """The absolute evidence directory; it is created (0700, its parent must exist) unless in check mode."""
    path = os.path.abspath(os.path.expanduser(evidence_dir))
    if os.path.islink(path):
        raise EvidencePathError("evidence_dir %s is a symlink; give the real directory" % path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise EvidencePathError("evidence_dir %s exists and is not a directory" % path)
        if not os.access(path, os.W_OK | os.X_OK):
            raise EvidencePathError("evidence_dir %s is not writable by this user" % path)
        return path
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise EvidencePathError("evidence_dir %s cannot be created: its parent %s does not exist" % (path, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EvidencePathError("evidence_dir %s cannot be created: %s is not writable by this user"
                                % (path, parent))
    if not check_mode:
        make_private_dir(path)
    return path


def find_open_bundle(evidence_dir, namespace, pod, pod_uid):
    """The newest open bundle of this pod instance (same UID) in evidence_dir, or None."""
    if not os.path.isdir(evidence_dir):
        return None
    suffix = "_%s_%s" % (_NAME_SAFE.sub("-", namespace), _NAME_SAFE.sub("-", pod))
    for name in sorted(os.listdir(evidence_dir), reverse=True):
        path = os.path.join(evidence_dir, name)
        if not name.endswith(suffix) or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            manifest = manifest_file.load(path)
        except manifest_file.ManifestError:
            continue
        if manifest.get("state") == manifest_file.STATE_OPEN and \
                (manifest["incident"].get("pod") or {}).get("uid") == pod_uid:
            return path
    return None


def create_bundle(evidence_dir, incident):
    """Create the bundle directory and its first manifest; returns its path. Never reuses a directory."""
    name = bundle_name(incident["opened_at"], incident["pod"]["namespace"], incident["pod"]["name"])
    path = os.path.join(evidence_dir, name)
    if os.path.lexists(path):
        raise EvidencePathError("%s already exists; not overwriting it" % path)
    make_private_dir(path)
    make_private_dir(os.path.join(path, manifest_file.WORK_DIR))
    manifest_file.save(path, manifest_file.new_manifest(incident))
    return path


def new_incident_id():
    return str(uuid.uuid4())


def check_open(path):
    """The manifest of an open bundle, or ManifestError (not a bundle, or closed)."""
    manifest = manifest_file.load(path)
    if manifest.get("state") != manifest_file.STATE_OPEN:
        raise manifest_file.ManifestError("the bundle %s is closed (at %s); open a new one to collect more"
                                          % (path, manifest.get("closed_at")))
    return manifest


class Artifact(object):
    """One file being written. write(chunk); meta holds what the manifest entry will say; keep_partial() lists
    an incomplete file (marked complete: false) instead of discarding it when the writer fails."""

    def __init__(self, target, relpath, entry):
        self.target = target
        self.relpath = relpath
        self.entry = entry
        self.meta = entry
        self._keep_partial = False
        self._work = os.path.join(target.work_dir, "%s.%s.partial" % (uuid.uuid4().hex, os.path.basename(relpath)))
        self._handle = create_private_file(self._work)
        self._writer = HashingWriter(self._handle)
        self.final_path = os.path.join(target.root, relpath)

    @property
    def size(self):
        return self._writer.size

    def write(self, data):
        self._writer.write(data)

    def keep_partial(self):
        self._keep_partial = True

    def finish(self, complete=True):
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        reldir = os.path.dirname(self.relpath)
        if reldir:
            make_private_dirs(self.target.root, reldir)
        if os.path.lexists(self.final_path):
            os.unlink(self.final_path)
        os.rename(self._work, self.final_path)
        self.entry.update(path=self.relpath, size=self._writer.size, sha256=self._writer.hexdigest(),
                          ended=now_rfc3339(), complete=complete)
        self.target.list_artifact(self.entry)
        return self.entry

    def discard(self):
        if not self._handle.closed:
            self._handle.close()
        if os.path.lexists(self._work):
            os.unlink(self._work)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        elif self._keep_partial:
            self.entry["error"] = str(exc)
            self.finish(complete=False)
        else:
            self.discard()
        return False


class _Target(object):
    root = None
    work_dir = None

    def artifact(self, relpath, module, options=None, **meta):
        relpath = check_relative(relpath)
        entry = dict(meta)
        entry.update(module=module, options=options or {}, started=now_rfc3339())
        return Artifact(self, relpath, entry)

    def exists(self, relpath):
        return os.path.lexists(os.path.join(self.root, check_relative(relpath)))


class BundleTarget(_Target):
    """An open incident bundle: artifacts and failures are listed in its manifest."""

    is_bundle = True

    def __init__(self, path):
        self.root = os.path.abspath(path)
        self.manifest = check_open(self.root)
        self.work_dir = os.path.join(self.root, manifest_file.WORK_DIR)
        make_private_dir(self.work_dir)

    @property
    def incident(self):
        return self.manifest["incident"]

    def list_artifact(self, entry):
        self.manifest = manifest_file.add_artifact(self.root, entry)

    def record_failure(self, module, what, error, **details):
        failure = dict(details)
        failure.update(module=module, what=what, error=error, time=now_rfc3339())
        self.manifest = manifest_file.add_failure(self.root, failure)
        return failure


class DirectoryTarget(_Target):
    """A plain destination directory: the same files, no manifest (failures are only returned)."""

    is_bundle = False

    def __init__(self, path):
        self.root = os.path.abspath(os.path.expanduser(path))
        if os.path.islink(self.root):
            raise EvidencePathError("dest %s is a symlink; give the real directory" % self.root)
        parent = os.path.dirname(self.root)
        if not os.path.isdir(self.root) and not os.path.isdir(parent):
            raise EvidencePathError("dest %s cannot be created: its parent %s does not exist" % (self.root, parent))
        make_private_dir(self.root)
        self.work_dir = os.path.join(self.root, manifest_file.WORK_DIR)
        make_private_dir(self.work_dir)

    def list_artifact(self, entry):
        pass

    def record_failure(self, module, what, error, **details):
        failure = dict(details)
        failure.update(module=module, what=what, error=error, time=now_rfc3339())
        return failure

    def close(self):
        shutil.rmtree(self.work_dir, ignore_errors=True)


def open_target(bundle=None, dest=None, check_mode=False):
    """The target a collector writes into, or None in check mode (nothing is written; a bundle that does not
    exist yet is accepted there, because incident_bundle in check mode only says which path it would create)."""
    if bundle and dest:
        raise EvidencePathError("bundle and dest are mutually exclusive")
    if not bundle and not dest:
        raise EvidencePathError("give bundle (an incident bundle from triage.k8s.incident_bundle) or dest "
                                "(a plain directory)")
    if check_mode:
        if bundle and os.path.exists(bundle):
            check_open(bundle)  # a directory that is not an open bundle is an error in check mode too
        return None
    if bundle:
        return BundleTarget(bundle)
    return DirectoryTarget(dest)
