# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files out of a container, never trusting the bytes it sends.

Two sinks, both writing only below one local destination directory:

- extract_tar_stream(): the stream of `tar cf - ...` (what an exec's stdout delivers), read one 512-byte block
  at a time. Regular files and directories are written; links, devices and FIFOs are recorded and never created;
  names that are absolute, contain `..` or fall outside an expected prefix are refused. One record per member.
- FileSink: one file at a time (per-file mode, `cat`/`dd` over exec), resumable from a verified offset.

How the destination is protected (kubectl cp needed five CVEs, diagnostics.md §3.2):
- Every path is walked one component at a time from a file descriptor of the destination, each directory opened
  with O_NOFOLLOW|O_DIRECTORY relative to its parent's descriptor. No symlink is ever followed, whoever put it
  there and whenever: a directory swapped for a link during the extraction makes that open fail (ELOOP or
  ENOTDIR) instead of redirecting the write.
- A file is written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW), hashed while written, and only when
  complete linked to its final name with link(2), which never replaces an existing entry. So a member cut short
  leaves nothing under its own name, and a second member with the same name cannot overwrite the first.
- Files are 0600 and directories 0700 whatever the umask (umask 077 while writing, then fchmod).

The tar headers are parsed here rather than by Python's tarfile: tarfile reads a pax header or a GNU long name
whole into memory whatever size the archive declares, so a hostile archive could make it allocate gigabytes.
Here that metadata is capped (MAX_METADATA_BYTES) and member data is streamed in CHUNK_BYTES pieces, so memory
stays flat whatever the archive's size. Formats: v7, POSIX ustar (prefix field), pax (x and g headers: path,
linkpath, size), GNU (long names L and K, base-256 sizes, old sparse headers, skipped).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import hashlib
import os
import stat
import unicodedata

BLOCK = 512
CHUNK_BYTES = 64 * 1024
# A pax header or a GNU long name is held in memory to be parsed. Real ones are a few hundred bytes; 1 MiB is far
# above any name a filesystem accepts (PATH_MAX is 4096) and still a bounded allocation.
MAX_METADATA_BYTES = 1024 * 1024
# PATH_MAX on Linux. A longer member name cannot be created there anyway; refusing it early keeps records short.
MAX_NAME_BYTES = 4096
# A bound on headers as well as on bytes: an archive of a million empty directories holds no data but would
# still create a million directories.
DEFAULT_MAX_MEMBERS = 100000
# Metadata headers before one member: real archives have at most four (g, x, L, K). A hostile stream could send
# them forever, none counting as a member.
MAX_METADATA_RUN = 16

PARTIAL_PREFIX = ".triage-partial-"

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_O_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

_TYPES = {
    b"0": "file", b"\0": "file", b"7": "file",
    b"1": "hardlink", b"2": "symlink", b"3": "chardev", b"4": "blockdev", b"5": "dir", b"6": "fifo",
    b"D": "dir", b"S": "sparse", b"V": "volume_label", b"M": "multivolume", b"N": "old_longname",
}
# Types whose size field says nothing about data following the header: POSIX wants it zero for links, and
# readers differ on a non-zero one, so it is ignored, as Python's tarfile does; such a stream then most likely
# fails its next header checksum rather than be read two ways.
_NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")
_SKIP_REASONS = {
    "hardlink": "hard link recorded, not created",
    "symlink": "symbolic link recorded, not created",
    "chardev": "character device skipped",
    "blockdev": "block device skipped",
    "fifo": "FIFO skipped",
    "sparse": "sparse file not supported (its data would be wrong without the map)",
    "volume_label": "volume label skipped",
    "multivolume": "multi-volume continuation not supported",
    "old_longname": "obsolete GNU long-name member skipped",
}


class UntarError(Exception):
    """The destination cannot be used (not a directory, not writable); nothing was extracted."""


class SinkError(Exception):
    """A per-file transfer that cannot be completed as asked (cap, size or hash mismatch, unsafe path)."""


class _FormatError(Exception):
    """The stream is not a tar archive from here on: extraction stops."""


class _Refused(Exception):
    """A member that must not be written, with the reason for its record."""


# --- names -------------------------------------------------------------------------------------------------------

def safe_text(raw):
    """A printable, JSON-safe str for bytes from the container.

    Undecodable bytes and control or format characters (newline, escape, bidi overrides, ...) become %XX of their
    bytes, so a name can neither break a line-oriented manifest nor hide itself on a terminal.
    """
    text = raw.decode("utf-8", "surrogateescape")
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append("%%%02X" % (code - 0xDC00))
            continue
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            out.extend("%%%02X" % byte for byte in char.encode("utf-8", "surrogatepass"))
        else:
            out.append(char)
    return "".join(out)


def safe_components(name, required_prefix=None):
    """The local path components (bytes) for an archive member name, or _Refused.

    Refused: empty names, NUL bytes, absolute names, any `..` component, names longer than PATH_MAX, components
    starting with PARTIAL_PREFIX (so an archive cannot plant a partial file that a resume would continue), and, with
    required_prefix (components), names not below that prefix (kubectl's "tar contents corrupted" rule). Empty and
    `.` components are dropped; each component is made printable with safe_text(), so local names are always valid
    UTF-8. Two names that map to the same local name are not merged: the second is refused as existing.
    """
    if not name:
        raise _Refused("empty member name")
    if b"\0" in name:
        raise _Refused("member name contains a NUL byte")
    if len(name) > MAX_NAME_BYTES:
        raise _Refused("member name longer than %d bytes" % MAX_NAME_BYTES)
    if name.startswith(b"/"):
        raise _Refused("absolute member name")
    parts = [part for part in name.split(b"/") if part not in (b"", b".")]
    if b".." in parts:
        raise _Refused("member name contains '..'")
    if any(part.startswith(PARTIAL_PREFIX.encode("ascii")) for part in parts):
        raise _Refused("member name uses the prefix reserved for partial files (%s)" % PARTIAL_PREFIX)
    if required_prefix is not None and parts[:len(required_prefix)] != list(required_prefix):
        raise _Refused("member name is not below the requested path %r" % safe_text(b"/".join(required_prefix)))
    return [safe_text(part).encode("utf-8") for part in parts]


def _prefix_components(prefix):
    if prefix is None:
        return None
    raw = prefix.encode("utf-8", "surrogateescape") if isinstance(prefix, str) else prefix
    return [part for part in raw.strip(b"/").split(b"/") if part not in (b"", b".")]


# --- the destination ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def private_umask():
    """umask 077 while writing evidence, restored afterwards (modules are single-threaded)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _open_root(dest):
    try:
        return os.open(dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UntarError("cannot open destination directory %s: %s" % (dest, exc.strerror))


def _reason(exc, what, name=None, dir_fd=None):
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and name is not None:
        # Linux answers O_DIRECTORY|O_NOFOLLOW on a symlink with ENOTDIR or ELOOP: look at what is there.
        try:
            if stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode):
                return "%s is a symbolic link in the destination: not followed" % what
        except OSError:
            pass
    if exc.errno == errno.ELOOP:
        return "%s is a symbolic link in the destination: not followed" % what
    if exc.errno == errno.ENOTDIR:
        return "%s exists in the destination and is not a directory" % what
    if exc.errno == errno.ENAMETOOLONG:
        return "%s: name too long for the local filesystem" % what
    return "%s: %s" % (what, exc.strerror or exc)


def _open_dirs(root_fd, parts):
    """fd of the directory parts below root_fd, creating missing ones 0700; never follows a link.

    Returns (fd, created_last). The caller closes fd unless it is root_fd. Raises _Refused.
    """
    current = root_fd
    created = False
    for index, part in enumerate(parts):
        created = False
        try:
            os.mkdir(part, 0o700, dir_fd=current)
            created = True
        except FileExistsError:
            pass
        except OSError as exc:
            _close_unless(current, root_fd)
            raise _Refused(_reason(exc, _shown(parts[:index + 1])))
        try:
            child = os.open(part, _O_DIR, dir_fd=current)
        except OSError as exc:
            reason = _reason(exc, _shown(parts[:index + 1]), part, current)
            _close_unless(current, root_fd)
            raise _Refused(reason)
        _close_unless(current, root_fd)
        current = child
        if created:
            os.fchmod(current, 0o700)
    return current, created


def _close_unless(fd, keep):
    if fd != keep:
        os.close(fd)


def _shown(parts):
    return "/".join(part.decode("utf-8") for part in parts)


def _exists(name, dir_fd):
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def _new_temp(dir_fd):
    """A fresh 0600 file next to its final name: (fd, name)."""
    for _attempt in range(100):
        name = (PARTIAL_PREFIX + os.urandom(8).hex()).encode("ascii")
        try:
            fd = os.open(name, _O_NEW_FILE, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o600)
        return fd, name
    raise OSError(errno.EEXIST, "no free temporary name")


def _publish(temp, final, dir_fd):
    """Give the complete temp file its final name without ever replacing an entry: True, or "exists".

    link(2) fails rather than replace, so there is no window in which an entry that appeared meanwhile could be
    overwritten. Filesystems without hard links get rename(2) after a check, the best they allow.
    """
    try:
        os.link(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        return "exists"
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if _exists(final, dir_fd):
            return "exists"
        os.rename(temp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    _unlink_quietly(temp, dir_fd)
    return True


def _unlink_quietly(name, dir_fd):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- input -------------------------------------------------------------------------------------------------------

class _Source:
    """Bytes from a readable (read(n)) or an iterable of byte chunks, pulled only as far as needed."""

    def __init__(self, source, wrap_errors=False):
        self._wrap_errors = wrap_errors
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = [source]
        self._read = getattr(source, "read", None)
        self._chunks = None if self._read else iter(source)
        self._buffer = b""
        self._pos = 0
        self.consumed = 0

    def read(self, size):
        """Up to size bytes (fewer only at the end of the stream, b'' then).

        With wrap_errors, an exception from the stream (a dropped exec) becomes a _FormatError, so the extraction
        ends with its records and a clear error instead of losing them.
        """
        if not self._wrap_errors:
            return self._pull(size)
        try:
            return self._pull(size)
        except TypeError:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # whatever the exec channel raises
            raise _FormatError("the stream failed after %d bytes: %s: %s" % (self.consumed, type(exc).__name__, exc))

    def _pull(self, size):
        if self._read is not None:
            data = self._read(size)
        else:
            while self._pos >= len(self._buffer):
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    return b""
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError("the stream must yield bytes, got %s" % type(chunk).__name__)
                self._buffer, self._pos = bytes(chunk), 0
            data = self._buffer[self._pos:self._pos + size]
            self._pos += len(data)
        if data is None:
            data = b""
        if not isinstance(data, bytes):
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("the stream must yield bytes, got %s" % type(data).__name__)
        self.consumed += len(data)
        return data

    def read_exact(self, size):
        """size bytes, or fewer if the stream ends first."""
        parts = []
        missing = size
        while missing:
            data = self.read(min(missing, CHUNK_BYTES))
            if not data:
                break
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    def chunks(self):
        while True:
            data = self.read(CHUNK_BYTES)
            if not data:
                return
            yield data


# --- tar headers -------------------------------------------------------------------------------------------------

def _cstr(field):
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field, what):
    if field[:1] and field[0] & 0x80:
        # GNU base-256: the first byte 0x80 (positive) or 0xff (negative, e.g. an mtime before 1970), then a
        # big-endian two's-complement number.
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    text = _cstr(field).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _FormatError("invalid %s %r in tar header" % (what, safe_text(text)))


def _parse_header(block):
    """The fields of one 512-byte header, or None for a zero block (the end of the archive)."""
    if block.count(0) == BLOCK:
        return None
    checksum = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + sum(block[156:]) + 8 * 32
    signed = unsigned - 256 * sum(1 for byte in block[:148] + block[156:] if byte > 127)
    if checksum not in (unsigned, signed):
        raise _FormatError("tar header checksum mismatch (not a tar stream, or corrupted)")
    name = _cstr(block[0:100])
    if block[257:263] == b"ustar\0":
        prefix = _cstr(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    typeflag = block[156:157]
    if typeflag == b"\0" and name.endswith(b"/"):
        typeflag = b"5"  # pre-POSIX archives mark directories only by the trailing slash
    return {
        "name": name,
        "mode": _number(block[100:108], "mode"),
        "size": _size(_number(block[124:136], "size")),
        "mtime": _number(block[136:148], "mtime"),
        "type": typeflag,
        "linkname": _cstr(block[157:257]),
        "extended": bool(block[482]) if typeflag == b"S" else False,
    }


def _size(value):
    if value < 0:
        raise _FormatError("negative member size in tar header")
    return value


def _parse_pax(payload):
    """key -> value (bytes) of a pax extended header ("<len> <key>=<value>\\n" records)."""
    values = {}
    pos = 0
    while pos < len(payload):
        if payload[pos:].strip(b"\0") == b"":
            break
        space = payload.find(b" ", pos)
        try:
            length = int(payload[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        record = payload[pos:pos + length]
        if length <= 0 or len(record) != length or not record.endswith(b"\n") or b"=" not in record:
            raise _FormatError("malformed pax extended header")
        key, _sep, value = record[space - pos + 1:-1].partition(b"=")
        values[key] = value
        pos += length
    return values


def _pax_size(value):
    try:
        size = int(value)
    except ValueError:
        size = -1
    if size < 0:
        raise _FormatError("invalid pax size %r" % safe_text(value))
    return size


def _padding(size):
    return -size % BLOCK


class _Extraction:
    def __init__(self, source, root_fd, max_member_bytes, max_total_bytes, max_members, required_prefix):
        self.src = _Source(source, wrap_errors=True)
        self.root_fd = root_fd
        self.max_member = max_member_bytes
        self.max_total = max_total_bytes
        self.max_members = max_members
        self.prefix = required_prefix
        self.records = []
        self.data_bytes = 0  # member data pulled from the stream, written or skipped
        self.written_bytes = 0
        self.files = 0
        self.error = None
        self.end_of_archive = False
        self.metadata_run = 0  # metadata headers since the last member
        self.metadata_bytes = 0  # their payload, held in pending
        self.global_bytes = 0  # payload of every global pax header, held for the whole archive

    # The loop: a header, its metadata, the member's data, again.
    def run(self):
        pending = {}
        global_pax = {}
        try:
            while True:
                block = self.src.read_exact(BLOCK)
                if not block:
                    raise _FormatError("the archive ended without its end-of-archive marker: members may be missing")
                if len(block) < BLOCK:
                    raise _FormatError("the archive ended inside a header")
                header = _parse_header(block)
                if header is None:
                    self.end_of_archive = True
                    return
                if header["type"] in (b"x", b"g", b"L", b"K"):
                    self._metadata(header, pending, global_pax)
                    continue
                if len(self.records) >= self.max_members:
                    raise _FormatError("more than %d members: stopped" % self.max_members)
                member = self._member(header, pending, global_pax)
                pending = {}
                self.metadata_run = self.metadata_bytes = 0
                if not self._handle(member):
                    return
        except _FormatError as exc:
            self.error = str(exc)

    def _metadata(self, header, pending, global_pax):
        size = header["size"]
        kind = header["type"]
        self.metadata_run += 1
        held = self.global_bytes if kind == b"g" else self.metadata_bytes
        if self.metadata_run > MAX_METADATA_RUN:
            raise _FormatError("more than %d metadata headers in a row: not a tar stream" % MAX_METADATA_RUN)
        if held + size > MAX_METADATA_BYTES:
            raise _FormatError("a %d-byte tar metadata header (limit %d in all): refusing to read it"
                               % (size, MAX_METADATA_BYTES))
        if self.data_bytes + size > self.max_total:
            raise _FormatError("a %d-byte tar metadata header would exceed the total cap of %d bytes"
                               % (size, self.max_total))
        payload = self.src.read_exact(size + _padding(size))
        if len(payload) < size:
            raise _FormatError("the archive ended inside a metadata header")
        payload = payload[:size]
        self.data_bytes += size
        if kind == b"g":
            self.global_bytes += size
        else:
            self.metadata_bytes += size
        if kind == b"L":
            pending[b"path"] = _cstr(payload)
        elif kind == b"K":
            pending[b"linkpath"] = _cstr(payload)
        else:
            values = _parse_pax(payload)
            (global_pax if kind == b"g" else pending).update(values)

    def _member(self, header, pending, global_pax):
        values = dict(global_pax)
        values.update(pending)
        name = values.get(b"GNU.sparse.name", values.get(b"path", header["name"]))
        linkname = values.get(b"linkpath", header["linkname"])
        size = _pax_size(values[b"size"]) if b"size" in values else header["size"]
        kind = _TYPES.get(header["type"], "unknown")
        if any(key.startswith(b"GNU.sparse.") for key in values):
            kind = "sparse"
        if header["extended"]:
            self._skip_sparse_extensions()
        record = {
            "name": safe_text(name),
            "type": kind,
            "size": size,
            "mode": "%04o" % (header["mode"] & 0o7777),
            "mtime": header["mtime"],
            "path": None,
            "sha256": None,
            "status": None,
            "reason": None,
        }
        if kind in ("hardlink", "symlink"):
            record["target"] = safe_text(linkname)
        if kind == "unknown":
            record["reason"] = "unknown member type %r skipped" % safe_text(header["type"])
        elif kind in _SKIP_REASONS:
            record["reason"] = _SKIP_REASONS[kind]
        data_size = 0 if header["type"] in _NO_DATA_TYPES else size
        return {"raw_name": name, "record": record, "data_size": data_size}

    def _skip_sparse_extensions(self):
        while True:
            block = self.src.read_exact(BLOCK)
            if len(block) < BLOCK:
                raise _FormatError("the archive ended inside a sparse header")
            if not block[504]:
                return

    def _handle(self, member):
        """Process one member; False stops the extraction (self.error says why)."""
        record = member["record"]
        self.records.append(record)
        size = member["data_size"]
        if self.data_bytes + size > self.max_total:
            over = size > self.max_member
            record.update(status="refused", reason=(
                "size %d exceeds max_bytes %d" % (size, self.max_member) if over else
                "size %d would take the archive past the total cap %d" % (size, self.max_total)))
            self.error = ("stopped at member %r: reading its %d bytes would exceed the total cap of %d bytes"
                          % (record["name"], size, self.max_total))
            return False
        try:
            parts = safe_components(member["raw_name"], self.prefix)
        except _Refused as exc:
            record.update(status="refused", reason=str(exc))
            return self._skip(record, size)
        if record["type"] == "file" and size > self.max_member:
            record.update(status="refused", reason="size %d exceeds max_bytes %d" % (size, self.max_member))
            return self._skip(record, size)
        if record["type"] == "file":
            return self._write_file(record, parts, size)
        if record["type"] == "dir":
            self._make_dir(record, parts)
        elif record["status"] is None:
            record["status"] = "skipped"
        return self._skip(record, size)

    def _skip(self, record, size):
        """Read past a member's data (and padding) without writing it."""
        missing = size
        while missing:
            data = self.src.read(min(missing, CHUNK_BYTES))
            if not data:
                self.data_bytes += size - missing
                raise _FormatError("the archive ended inside the data of %r" % record["name"])
            missing -= len(data)
        self.data_bytes += size
        self._read_padding(size)
        return True

    def _read_padding(self, size):
        pad = _padding(size)
        if pad and len(self.src.read_exact(pad)) < pad:
            raise _FormatError("the archive ended inside the padding after a member")

    def _make_dir(self, record, parts):
        if not parts:
            record.update(status="exists", path=".", reason="the destination itself")
            return
        try:
            fd, created = _open_dirs(self.root_fd, parts)
        except _Refused as exc:
            record.update(status="refused", reason=str(exc))
            return
        _close_unless(fd, self.root_fd)
        record.update(status="written" if created else "exists", path=_shown(parts))

    def _write_file(self, record, parts, size):
        if not parts:
            record.update(status="refused", reason="a file member named like the destination itself")
            return self._skip(record, size)
        try:
            dir_fd, _created = _open_dirs(self.root_fd, parts[:-1])
        except _Refused as exc:
            record.update(status="refused", reason=str(exc))
            return self._skip(record, size)
        try:
            return self._write_into(record, parts, size, dir_fd)
        finally:
            _close_unless(dir_fd, self.root_fd)

    def _write_into(self, record, parts, size, dir_fd):
        leaf = parts[-1]
        shown = _shown(parts)
        try:
            present = _exists(leaf, dir_fd)
        except OSError as exc:
            record.update(status="refused", reason=_reason(exc, shown))
            return self._skip(record, size)
        if present:
            record.update(status="refused", reason="%s already exists in the destination: not replaced" % shown)
            return self._skip(record, size)
        try:
            fd, temp = _new_temp(dir_fd)
        except OSError as exc:
            record.update(status="error", reason=_reason(exc, shown))
            self.error = "cannot write into the destination: %s" % record["reason"]
            return False
        digest = hashlib.sha256()
        done = 0
        published = False
        try:
            while done < size:
                data = self.src.read(min(size - done, CHUNK_BYTES))
                if not data:
                    break
                _write_all(fd, data)
                digest.update(data)
                done += len(data)
            if done == size:
                os.fsync(fd)
            os.close(fd)
            fd = None
            if done < size:
                record.update(status="error", reason="the archive ended after %d of %d bytes" % (done, size))
                raise _FormatError("the archive ended inside the data of %r" % record["name"])
            published = _publish(temp, leaf, dir_fd)
        except _FormatError as exc:
            if record["status"] is None:
                record.update(status="error", reason="%s after %d of %d bytes" % (exc, done, size))
            raise
        except OSError as exc:
            record.update(status="error", reason=_reason(exc, shown))
            self.error = "writing %s failed after %d of %d bytes: %s" % (shown, done, size, record["reason"])
            return False
        finally:
            # Whatever stopped the copy (the stream, the disk, an interrupt), no partial file stays behind.
            self.data_bytes += done
            if fd is not None:
                os.close(fd)
            if published is not True:
                _unlink_quietly(temp, dir_fd)
        if published is not True:
            record.update(status="refused", reason="%s already exists in the destination: not replaced" % shown)
            self._read_padding(size)
            return True
        self.files += 1
        self.written_bytes += size
        record.update(status="written", path=shown, sha256=digest.hexdigest())
        self._read_padding(size)
        return True


def extract_tar_stream(source, dest, max_member_bytes, max_total_bytes, max_members=DEFAULT_MAX_MEMBERS,
                       required_prefix=None):
    """Extract a tar stream below dest, safely; returns a summary dict (see below). Never raises for the archive.

    source: a readable (read(n)) or an iterable of bytes chunks; it is pulled only as far as the extraction goes
    (after a fatal error nothing more is read). dest: an existing directory. max_member_bytes: the largest member.
    max_total_bytes: member data read from the stream, written or skipped (skipping a refused member still means
    reading it, so it counts). max_members: headers processed. required_prefix: a path (e.g. "app" for
    `tar cf - -C /var/log app`) every member must be below.

    Returns {"members": [record, ...], "files_written", "bytes_written", "bytes_read", "end_of_archive", "error"}.
    A record: name (the archive's name, printable), path (local, relative to dest, or None), type (file, dir,
    symlink, hardlink, chardev, blockdev, fifo, sparse, ...), size (declared), mode, mtime, sha256 (written
    files), target (links), status (written, exists, skipped, refused, error) and reason. error is None only
    when the whole archive was read to its end-of-archive marker; the members before the error stand.
    Raises UntarError only when dest itself cannot be used.
    """
    if max_member_bytes < 0 or max_total_bytes < 0:
        raise ValueError("caps must not be negative")
    root_fd = _open_root(dest)
    try:
        with private_umask():
            job = _Extraction(source, root_fd, max_member_bytes, max_total_bytes, max_members,
                              _prefix_components(required_prefix))
            job.run()
    finally:
        os.close(root_fd)
    return {
        "members": job.records,
        "files_written": job.files,
        "bytes_written": job.written_bytes,
        "bytes_read": job.src.consumed,
        "end_of_archive": job.end_of_archive,
        "error": job.error,
    }


# --- per-file mode -----------------------------------------------------------------------------------------------

class FileSink:
    """One file streamed into dest/relpath with the extractor's guarantees, resumable.

    The bytes go to a hidden partial file next to the final name (PARTIAL_PREFIX + a hash of the name, so a later
    run finds it), hashed as they are written. commit() checks the size and sha256 and links the partial file to
    its final name (never replacing anything); abort() removes it. Nothing ever appears under the final name
    unless it was complete and verified.

    Resume after a dropped stream: resume_offset() re-hashes what is on disk (and checks it against the running
    hash), and the caller asks the container for the rest from that offset (`tail -c +N`, `dd skip=`) and calls
    write() again. With resume=True, a partial file left by an earlier run is re-hashed and continued; verify the
    prefix against the container (verify_prefix) before trusting it. As a context manager, leaving without
    commit() removes the partial file; close() instead keeps it for a later run.
    """

    def __init__(self, dest, relpath, max_bytes, resume=False):
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        raw = relpath.encode("utf-8", "surrogateescape") if isinstance(relpath, str) else relpath
        try:
            parts = safe_components(raw)
        except _Refused as exc:
            raise SinkError("unsafe local path %r: %s" % (safe_text(raw), exc))
        if not parts:
            raise SinkError("empty local path")
        self.path = _shown(parts)
        self.max_bytes = max_bytes
        self._leaf = parts[-1]
        self._partial = (PARTIAL_PREFIX + hashlib.sha256(self._leaf).hexdigest()[:32]).encode("ascii")
        self._fd = None
        self._dir_fd = None
        self._digest = hashlib.sha256()
        self.offset = 0
        root_fd = _open_root(dest)
        try:
            with private_umask():
                self._dir_fd, _created = _open_dirs(root_fd, parts[:-1])
                if self._dir_fd == root_fd:
                    root_fd = None  # kept as the parent: closed by close()
                if _exists(self._leaf, self._dir_fd):
                    raise SinkError("%s already exists in the destination: not replaced" % self.path)
                self._fd = os.open(self._partial, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                                   | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=self._dir_fd)
            info = os.fstat(self._fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.geteuid():
                raise SinkError("the partial file for %s is not a private regular file: refusing it" % self.path)
            os.fchmod(self._fd, 0o600)
            if resume:
                self._rehash()
            else:
                os.ftruncate(self._fd, 0)
        except _Refused as exc:
            self.close()
            raise SinkError("cannot create %s: %s" % (self.path, exc))
        except OSError as exc:
            self.close()
            raise SinkError("cannot create %s: %s" % (self.path, _reason(exc, self.path)))
        except SinkError:
            self.close()
            raise
        finally:
            if root_fd is not None:
                os.close(root_fd)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self._fd is not None:
            self.abort()

    def _rehash(self):
        digest = hashlib.sha256()
        offset = 0
        os.lseek(self._fd, 0, os.SEEK_SET)
        while True:
            data = os.read(self._fd, CHUNK_BYTES)
            if not data:
                break
            digest.update(data)
            offset += len(data)
        if offset > self.max_bytes:
            raise SinkError("the partial file for %s already holds %d bytes, over max_bytes %d"
                            % (self.path, offset, self.max_bytes))
        self._digest, self.offset = digest, offset

    @property
    def sha256(self):
        """sha256 (hex) of the bytes written so far."""
        return self._digest.hexdigest()

    def resume_offset(self):
        """Re-hash the partial file from disk; the offset to continue from. SinkError if it changed on disk."""
        expected = (self.offset, self.sha256)
        self._rehash()
        if (self.offset, self.sha256) != expected:
            raise SinkError("the partial file for %s changed on disk (%d bytes, expected %d): start again"
                            % (self.path, self.offset, expected[0]))
        return self.offset

    def verify_prefix(self, sha256_hex):
        """True when the bytes so far hash to sha256_hex (the container's hash of its first `offset` bytes)."""
        return self.sha256 == str(sha256_hex).strip().lower()

    def restart(self):
        """Drop what was written (a prefix that failed verify_prefix) and start from offset 0."""
        os.ftruncate(self._fd, 0)
        self._digest, self.offset = hashlib.sha256(), 0

    def write(self, source):
        """Append a stream (readable or iterable of bytes chunks); returns the bytes appended.

        Over max_bytes the partial file is removed and SinkError raised. An exception from the stream itself (a
        dropped exec) propagates with everything received so far written and hashed: resume from self.offset.
        """
        if self._fd is None:
            raise SinkError("%s is closed" % self.path)
        os.lseek(self._fd, self.offset, os.SEEK_SET)
        appended = 0
        for data in _Source(source).chunks():
            if self.offset + len(data) > self.max_bytes:
                self.abort()
                raise SinkError("%s is larger than max_bytes %d: refused, nothing kept" % (self.path, self.max_bytes))
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                os.ftruncate(self._fd, self.offset)
                raise SinkError("writing %s failed at offset %d: %s" % (self.path, self.offset, exc.strerror))
            self._digest.update(data)
            self.offset += len(data)
            appended += len(data)
        return appended

    def commit(self, expected_size=None, expected_sha256=None):
        """Verify and publish under the final name; returns the record. SinkError (partial kept) on a mismatch."""
        if self._fd is None:
            raise SinkError("%s is closed" % self.path)
        if expected_size is not None and self.offset != expected_size:
            raise SinkError("%s: received %d bytes, the container reported %d" % (self.path, self.offset,
                                                                                  expected_size))
        if expected_sha256 is not None and not self.verify_prefix(expected_sha256):
            raise SinkError("%s: sha256 %s differs from the container's %s" % (self.path, self.sha256,
                                                                               str(expected_sha256).strip()))
        os.fsync(self._fd)
        try:
            published = _publish(self._partial, self._leaf, self._dir_fd)
        except OSError as exc:
            raise SinkError("cannot publish %s: %s" % (self.path, _reason(exc, self.path)))
        if published is not True:
            raise SinkError("cannot publish %s: it appeared in the destination meanwhile, not replaced" % self.path)
        record = {"name": self.path, "path": self.path, "type": "file", "size": self.offset, "sha256": self.sha256,
                  "status": "written", "reason": None}
        self.close()
        return record

    def abort(self):
        """Remove the partial file and close."""
        if self._dir_fd is not None:
            _unlink_quietly(self._partial, self._dir_fd)
        self.close()

    def close(self):
        """Close without removing the partial file (a later FileSink(..., resume=True) continues it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
