# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private files and directories for evidence: 0600 files, 0700 directories whatever the umask, relative names
that cannot leave their root, atomic replacement, and a writer that hashes while it writes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import hashlib
import os
import stat

FILE_MODE = 0o600
DIR_MODE = 0o700
CHUNK = 1024 * 1024


class EvidencePathError(Exception):
    """A path that is not usable for evidence; the message names it and says why."""


def check_relative(relpath):
    """The normalised relative path, or EvidencePathError for an absolute name, '..', or an empty part."""
    if not relpath or relpath.startswith("/") or "\\" in relpath or "\x00" in relpath:
        raise EvidencePathError("artifact name %r must be a relative path" % (relpath,))
    parts = relpath.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise EvidencePathError("artifact name %r may not contain '..', '.' or empty parts" % (relpath,))
    return "/".join(parts)


def make_private_dir(path):
    """Create one directory 0700 (an existing real directory is fine and made 0700); never follows a symlink."""
    try:
        os.mkdir(path, DIR_MODE)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise EvidencePathError("%s exists and is not a directory (a symlink or file is never followed)" % path)
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)


def make_private_dirs(root, reldir):
    """Create root/reldir part by part, each 0700, refusing symlinks on the way."""
    current = root
    for part in [p for p in reldir.split("/") if p]:
        current = os.path.join(current, part)
        make_private_dir(current)
    return current


def create_private_file(path):
    """A new file opened for writing, 0600, never through a symlink, never over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "wb")


@contextlib.contextmanager
def replacing(path):
    """A new 0600 file <path>.<pid>.tmp to write into; when the block ends it is flushed, fsynced and renamed over
    path (a reader sees the old or the new file, never half of one). On any failure (a full disk, an interrupt)
    the temp file is deleted and path is left as it was: a failed write takes no room and leaves nothing."""
    temp = "%s.%d.tmp" % (path, os.getpid())
    if os.path.lexists(temp):
        os.unlink(temp)
    try:
        with create_private_file(temp) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise


def atomic_write(path, data):
    """Replace path with data in one rename (see replacing)."""
    with replacing(path) as handle:
        handle.write(data)


def sha256_file(path):
    """(sha256 hex, size) of a file, read in chunks; refuses to follow a symlink."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class HashingWriter(object):
    """Writes to a file object, counting bytes and hashing them as they pass."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data):
        if data:
            self.handle.write(data)
            self.digest.update(data)
            self.size += len(data)

    def hexdigest(self):
        return self.digest.hexdigest()
