# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""manifest.json: the header of an incident bundle and the list of what was collected into it.

Layout (a contract with every collector, pod_fetch and pod_dump included):

    {"format": "triage.k8s/incident-bundle/v1",
     "state": "open" | "closed",
     "incident": {id, opened_at, cluster, who, reason, ticket, pod, containers, record, collection_version, ...},
     "artifacts": [{path, size, sha256, module, options, container, command, rc, started, ended,
                    truncated, cap, complete, redacted, ...}],
     "failures": [{module, what, error, time, container}],
     "closed_at": null | RFC 3339}

Every change is a read-modify-write under an exclusive lock (.manifest.lock), written to a temporary file and
renamed over manifest.json: a run killed at any point leaves the previous complete manifest, whose listed files
are all complete (artifacts are renamed into place before they are listed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import json
import os

from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import (
    FILE_MODE,
    atomic_write,
    check_relative,
    EvidencePathError,
    sha256_file,
)

FORMAT = "triage.k8s/incident-bundle/v1"
MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
REPORT = "report.md"
LOCK = ".manifest.lock"
# Where artifacts are written before they are complete; never listed, never archived.
WORK_DIR = ".work"
STATE_OPEN = "open"
STATE_CLOSED = "closed"


class ManifestError(Exception):
    """The directory is not a usable bundle; the message names it and says why."""


def manifest_path(bundle_dir):
    return os.path.join(bundle_dir, MANIFEST)


def new_manifest(incident):
    return {"format": FORMAT, "state": STATE_OPEN, "incident": incident, "artifacts": [], "failures": [],
            "closed_at": None}


def encode(manifest):
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def decode(data, where):
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError("%s is not an incident bundle: its %s is not valid JSON (%s)" % (where, MANIFEST, exc))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError("%s is not an incident bundle: its %s does not say format %s"
                            % (where, MANIFEST, FORMAT))
    for key, kind in (("artifacts", list), ("failures", list), ("incident", dict)):
        if not isinstance(manifest.get(key), kind):
            raise ManifestError("%s is not an incident bundle: %s has no %s" % (where, MANIFEST, key))
    return manifest


def load(bundle_dir):
    """The manifest of a bundle directory, or ManifestError saying why the directory is not one."""
    path = manifest_path(bundle_dir)
    if not os.path.isdir(bundle_dir):
        raise ManifestError("%s is not an incident bundle: no such directory" % bundle_dir)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ManifestError("%s is not an incident bundle: cannot read %s (%s)"
                            % (bundle_dir, MANIFEST, exc.strerror or exc))
    return decode(data, bundle_dir)


def save(bundle_dir, manifest):
    atomic_write(manifest_path(bundle_dir), encode(manifest))


@contextlib.contextmanager
def locked(bundle_dir):
    """Exclusive lock of the bundle's manifest for one read-modify-write."""
    fd = os.open(os.path.join(bundle_dir, LOCK), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def update(bundle_dir, change):
    """Apply change(manifest) under the lock and save atomically; returns the new manifest."""
    with locked(bundle_dir):
        manifest = load(bundle_dir)
        if manifest.get("state") != STATE_OPEN:
            raise ManifestError("the bundle %s is closed (at %s); open a new one to collect more"
                                % (bundle_dir, manifest.get("closed_at")))
        change(manifest)
        save(bundle_dir, manifest)
    return manifest


def add_artifact(bundle_dir, entry):
    """List one complete artifact (replacing an older entry for the same path)."""
    def change(manifest):
        manifest["artifacts"] = [a for a in manifest["artifacts"] if a.get("path") != entry["path"]] + [entry]
    return update(bundle_dir, change)


def add_failure(bundle_dir, failure):
    return update(bundle_dir, lambda manifest: manifest["failures"].append(failure))


def sha256sums(entries):
    """SHA256SUMS text (`sha256sum -c` format: hash, two spaces, path), sorted by path."""
    return "".join("%s  %s\n" % (e["sha256"], e["path"]) for e in sorted(entries, key=lambda e: e["path"]))


def parse_sha256sums(text):
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, _sep, path = line.partition("  ")
            sums[path] = digest
    return sums


def compare(expected, actual):
    """Differences between {path: (sha256, size)} listed and found: a list of {path, problem} (sorted)."""
    problems = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            problems.append({"path": path, "problem": "missing"})
        elif path not in expected:
            problems.append({"path": path, "problem": "not listed in the manifest"})
        elif expected[path][0] != actual[path][0]:
            problems.append({"path": path, "problem": "sha256 differs",
                             "expected": expected[path][0], "found": actual[path][0]})
        elif expected[path][1] is not None and expected[path][1] != actual[path][1]:
            problems.append({"path": path, "problem": "size differs",
                             "expected": expected[path][1], "found": actual[path][1]})
    return problems


def listed_files(manifest):
    """{path: (sha256, size)} of the artifacts a manifest lists."""
    return dict((a["path"], (a["sha256"], a.get("size"))) for a in manifest["artifacts"])


def bundle_files(bundle_dir):
    """{relative path: (sha256, size)} of every regular file of a bundle directory, except the manifest itself,
    SHA256SUMS, the lock and the work directory. A symlink or other non-regular entry is reported as such."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(bundle_dir):
        rel_dir = os.path.relpath(dirpath, bundle_dir)
        if rel_dir == ".":
            rel_dir = ""
            dirnames[:] = [d for d in dirnames if d != WORK_DIR]
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                found[_join(rel_dir, name)] = ("symlink", None)
                dirnames.remove(name)
        for name in filenames:
            rel = _join(rel_dir, name)
            if rel in (MANIFEST, SHA256SUMS, LOCK) or rel.startswith(MANIFEST + "."):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                found[rel] = ("not a regular file", None)
                continue
            found[rel] = sha256_file(full)
    return found


def _join(rel_dir, name):
    return "%s/%s" % (rel_dir, name) if rel_dir else name


def verify_dir(bundle_dir):
    """(manifest, problems): every listed file re-hashed, unlisted files reported, SHA256SUMS checked."""
    manifest = load(bundle_dir)
    expected = listed_files(manifest)
    for path in expected:
        try:
            check_relative(path)
        except EvidencePathError as exc:
            raise ManifestError("%s: the manifest lists an unsafe path: %s" % (bundle_dir, exc))
    problems = compare(expected, bundle_files(bundle_dir))
    sums_path = os.path.join(bundle_dir, SHA256SUMS)
    if os.path.exists(sums_path):
        with open(sums_path) as handle:
            sums = parse_sha256sums(handle.read())
        problems.extend(check_sums(sums, expected, sha256_file(manifest_path(bundle_dir))[0]))
    return manifest, problems


def check_sums(sums, expected, manifest_sha):
    """SHA256SUMS (written at close) must agree with the manifest, and list the manifest's own hash."""
    problems = []
    if sums.get(MANIFEST) != manifest_sha:
        problems.append({"path": MANIFEST, "problem": "sha256 differs from SHA256SUMS",
                         "expected": sums.get(MANIFEST), "found": manifest_sha})
    for path, (digest, _size) in sorted(expected.items()):
        if sums.get(path) != digest:
            problems.append({"path": path, "problem": "manifest and SHA256SUMS disagree",
                             "expected": sums.get(path), "found": digest})
    return problems
