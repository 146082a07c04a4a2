# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The closed bundle as a deterministic .tar.gz, and the check of an archive someone received.

Deterministic: the same bundle always gives the same bytes, so its sha256 identifies the content. Members are
sorted by name under one top directory (the bundle's name); headers carry a fixed mtime (the bundle's opening
time), uid/gid 0 with empty owner names, mode 0700/0600; the gzip header has no file name and mtime 0.
Files are streamed in chunks into the archive and the archive is hashed while it is written.

Verification reads the archive as a stream and never extracts anything: member names are only compared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import os
import re
import tarfile
import zlib

from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import (
    CHUNK,
    HashingWriter,
    atomic_write,
    replacing,
)


class ArchiveError(Exception):
    """The archive is unreadable or not a bundle; the message names it."""


def _members(bundle_dir):
    """Sorted relative paths of the directories and files to pack (the work directory and lock left out)."""
    dirs, files = [], []
    for dirpath, dirnames, filenames in os.walk(bundle_dir):
        rel_dir = os.path.relpath(dirpath, bundle_dir)
        if rel_dir == ".":
            rel_dir = ""
            dirnames[:] = [d for d in dirnames if d != manifest_file.WORK_DIR]
        for name in dirnames:
            dirs.append(os.path.join(rel_dir, name) if rel_dir else name)
        for name in filenames:
            rel = os.path.join(rel_dir, name) if rel_dir else name
            if rel != manifest_file.LOCK:
                files.append(rel)
    return sorted(dirs), sorted(files)


def _header(name, mtime, size=0, directory=False):
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o700
    else:
        info.size = size
        info.mode = 0o600
    return info


def temp_files(archive_path):
    """The temp files of earlier packs beside archive_path: <archive>.<digits>.tmp, regular files, not links."""
    directory, base = os.path.split(archive_path)
    pattern = re.compile(r"^%s\.[0-9]+\.tmp$" % re.escape(base))
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if pattern.match(name) and os.path.isfile(path) and not os.path.islink(path):
            found.append(path)
    return found


def remove_stale_temps(archive_path):
    """Delete the temp files a killed pack left beside archive_path; returns their paths.

    The caller must hold the bundle's lock (manifest.locked): pack runs only under it, so no other close of this
    bundle is writing one now, and each of temp_files() is provably the remainder of an earlier pack of this very
    bundle (the archive's name is the bundle's), whatever process or host wrote it. Nothing else is touched."""
    removed = temp_files(archive_path)
    for path in removed:
        os.unlink(path)
    return removed


def pack(bundle_dir, archive_path, mtime):
    """Write archive_path (atomically, 0600) from bundle_dir; returns its sha256.

    On any failure (a full disk, an unreadable file, an interrupt) its temp file <archive>.<pid>.tmp is deleted
    before the error goes on (files.replacing): a failed pack leaves no archive and takes no room."""
    top = os.path.basename(os.path.normpath(bundle_dir))
    dirs, files = _members(bundle_dir)
    with replacing(archive_path) as raw:
        hashing = HashingWriter(raw)
        _write_tar(bundle_dir, top, dirs, files, mtime, hashing)
    return hashing.hexdigest()


def _write_tar(bundle_dir, top, dirs, files, mtime, out):
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_header(top, mtime, directory=True))
            entries = [(d, True) for d in dirs] + [(f, False) for f in files]
            for rel, is_dir in sorted(entries):
                full = os.path.join(bundle_dir, rel)
                if os.path.islink(full):
                    continue  # a bundle never holds links; nothing is followed
                if is_dir:
                    tar.addfile(_header("%s/%s" % (top, rel), mtime, directory=True))
                else:
                    with open(full, "rb") as handle:
                        size = os.fstat(handle.fileno()).st_size
                        tar.addfile(_header("%s/%s" % (top, rel), mtime, size=size), _Limited(handle, size))


class _Limited(object):
    """A file object that gives exactly `size` bytes (tarfile copies in chunks from it)."""

    def __init__(self, handle, size):
        self.handle = handle
        self.left = size

    def read(self, amount=CHUNK):
        if self.left <= 0:
            return b""
        data = self.handle.read(min(amount if amount and amount > 0 else CHUNK, self.left))
        self.left -= len(data)
        return data


def write_sha256_file(archive_path, digest):
    """<archive>.sha256 in `sha256sum -c` format, written atomically next to the archive."""
    path = archive_path + ".sha256"
    atomic_write(path, ("%s  %s\n" % (digest, os.path.basename(archive_path))).encode("utf-8"))
    return path


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_archive(archive_path):
    """(manifest, problems, archive_sha256): every member hashed as it streams past, compared with the
    manifest and SHA256SUMS inside, and the archive's hash with the .sha256 file beside it (when present)."""
    found = {}
    manifest_data = sums_data = None
    top = None
    problems = []
    try:
        with tarfile.open(archive_path, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                first, _sep, rel = name.partition("/")
                if top is None:
                    top = first
                if first != top or name.startswith("/") or ".." in name.split("/"):
                    problems.append({"path": name, "problem": "member outside the bundle's top directory"})
                    continue
                if member.isdir():
                    continue
                if not member.isfile():
                    problems.append({"path": rel, "problem": "not a regular file"})
                    continue
                handle = tar.extractfile(member)
                digest = hashlib.sha256()
                size = 0
                keep = rel in (manifest_file.MANIFEST, manifest_file.SHA256SUMS)
                kept = []
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(chunk)
                    size += len(chunk)
                    if keep:
                        kept.append(chunk)
                if rel == manifest_file.MANIFEST:
                    manifest_data = b"".join(kept)
                    manifest_sha = digest.hexdigest()
                elif rel == manifest_file.SHA256SUMS:
                    sums_data = b"".join(kept)
                else:
                    found[rel] = (digest.hexdigest(), size)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError("%s is not a readable bundle archive: %s" % (archive_path, exc))
    if manifest_data is None:
        raise ArchiveError("%s is not an incident bundle archive: it holds no %s"
                           % (archive_path, manifest_file.MANIFEST))
    manifest = manifest_file.decode(manifest_data, archive_path)
    expected = manifest_file.listed_files(manifest)
    problems.extend(manifest_file.compare(expected, found))
    if sums_data is None:
        problems.append({"path": manifest_file.SHA256SUMS, "problem": "missing"})
    else:
        sums = manifest_file.parse_sha256sums(sums_data.decode("utf-8", "replace"))
        problems.extend(manifest_file.check_sums(sums, expected, manifest_sha))
    archive_sha = sha256_of(archive_path)
    beside = archive_path + ".sha256"
    if os.path.exists(beside):
        with open(beside) as handle:
            recorded = handle.read().split()
        if not recorded or recorded[0] != archive_sha:
            problems.append({"path": os.path.basename(archive_path), "problem": "sha256 differs from %s"
                             % os.path.basename(beside), "expected": recorded[0] if recorded else None,
                             "found": archive_sha})
    return manifest, problems, archive_sha
