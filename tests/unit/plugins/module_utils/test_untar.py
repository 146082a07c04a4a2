# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""evidence/untar.py: hostile tar streams built byte by byte, and the per-file sink.

Every extraction runs in tmp_path/top/area/dest next to a sentinel directory (tmp_path/top/sentinel, holding a
host file); after each case, a scan of tmp_path outside dest must find exactly what was there before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence.untar import (
    PARTIAL_PREFIX,
    FileSink,
    SinkError,
    UntarError,
    extract_tar_stream,
    safe_text,
)

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


# --- hand-made tar bytes -----------------------------------------------------------------------------------------

def _octal(value, width):
    return ("%0*o" % (width - 1, value)).encode("ascii") + b"\0"


def header(name, size=0, typeflag=b"0", linkname=b"", mode=0o644, prefix=b"", gnu=False, base256_size=False):
    """One 512-byte header with a correct checksum (POSIX ustar, or GNU magic with gnu=True)."""
    name = name.encode("utf-8") if isinstance(name, str) else name
    linkname = linkname.encode("utf-8") if isinstance(linkname, str) else linkname
    block = bytearray(512)
    block[0:len(name[:100])] = name[:100]
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(1000, 8)
    block[116:124] = _octal(1000, 8)
    if base256_size:
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    else:
        block[124:136] = _octal(size, 12)
    block[136:148] = _octal(1700000000, 12)
    block[156:157] = typeflag
    block[157:157 + len(linkname[:100])] = linkname[:100]
    block[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    block[345:345 + len(prefix)] = prefix
    block[148:156] = b" " * 8
    block[148:156] = ("%06o" % sum(block)).encode("ascii") + b"\0 "
    return bytes(block)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def member(name, data=b"", typeflag=b"0", **kwargs):
    return header(name, len(data), typeflag, **kwargs) + pad(data)


def pax(records, typeflag=b"x"):
    payload = b""
    for key, value in records.items():
        value = value.encode("utf-8") if isinstance(value, str) else value
        body = b" " + key.encode("ascii") + b"=" + value + b"\n"
        length = len(body) + 1
        while len(str(length).encode()) + len(body) != length:
            length += 1
        payload += str(length).encode() + body
    return header("./PaxHeaders/x", len(payload), typeflag) + pad(payload)


def gnu_long(kind, value):
    value = value.encode("utf-8") if isinstance(value, str) else value
    return header("././@LongLink", len(value) + 1, kind, gnu=True) + pad(value + b"\0")


END = b"\0" * 1024


def archive(*members):
    return b"".join(members) + END


def chunks(data, size=1000):
    """The stream as an exec delivers it: uneven chunks."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


# --- the sandbox -------------------------------------------------------------------------------------------------

@pytest.fixture
def area(tmp_path):
    top = tmp_path / "top"
    dest = top / "area" / "dest"
    sentinel = top / "sentinel"
    dest.mkdir(parents=True)
    sentinel.mkdir()
    (sentinel / "host-file").write_bytes(b"host data\n")
    return {"root": tmp_path, "dest": dest, "sentinel": sentinel}


def snapshot_outside(root, dest):
    """Every entry under root except dest's contents: path -> (type, size, content hash for files)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        if os.path.abspath(dirpath) == os.path.abspath(str(dest)):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            digest = None
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            if stat.S_ISDIR(info.st_mode):
                seen[path] = (stat.S_IFMT(info.st_mode),)  # its size and link count follow its contents
            else:
                seen[path] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_nlink, digest)
    return seen


def entries_in(dest):
    found = set()
    for dirpath, dirnames, filenames in os.walk(str(dest)):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), str(dest)))
    return found


@pytest.fixture
def extract(area):
    """Run the extractor and check afterwards that nothing outside dest changed and no partial file is left."""
    before = snapshot_outside(area["root"], area["dest"])
    results = []

    def run(stream, max_member=MIB, max_total=64 * MIB, **kwargs):
        result = extract_tar_stream(stream, str(area["dest"]), max_member, max_total, **kwargs)
        results.append(result)
        return result

    yield run
    assert snapshot_outside(area["root"], area["dest"]) == before
    assert not [name for name in entries_in(area["dest"]) if PARTIAL_PREFIX in name]
    assert not os.path.exists("/etc/triage-untar-x")


def by_name(result):
    return {record["name"]: record for record in result["members"]}


# --- the traversal suite -----------------------------------------------------------------------------------------

def test_a_plain_archive_is_written_with_private_modes_and_hashes(area, extract):
    old_umask = os.umask(0)  # the most permissive umask must not matter
    try:
        result = extract(chunks(archive(member("logs/", typeflag=b"5"), member("logs/app.log", b"line\n" * 100))))
    finally:
        os.umask(old_umask)
    assert result["error"] is None and result["end_of_archive"]
    assert result["files_written"] == 1 and result["bytes_written"] == 500
    record = by_name(result)["logs/app.log"]
    assert record["status"] == "written" and record["path"] == "logs/app.log"
    assert record["sha256"] == hashlib.sha256(b"line\n" * 100).hexdigest()
    written = area["dest"] / "logs" / "app.log"
    assert written.read_bytes() == b"line\n" * 100
    assert stat.S_IMODE(os.stat(str(written)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(area["dest"] / "logs")).st_mode) == 0o700


@pytest.mark.parametrize("name", ["../../x", "../x", "a/../../x", "a/b/../../../x", "..", "./../x"])
def test_dotdot_names_are_refused_and_the_next_member_still_extracted(area, extract, name):
    result = extract(archive(member(name, b"pwned"), member("after", b"ok")))
    records = result["members"]
    assert records[0]["status"] == "refused" and "'..'" in records[0]["reason"]
    assert records[0]["path"] is None
    assert records[1]["status"] == "written"
    assert entries_in(area["dest"]) == {"after"}


def test_absolute_names_are_refused(area, extract):
    inside_sentinel = str(area["sentinel"] / "abs-x")
    result = extract(archive(member("/etc/triage-untar-x", b"pwned"), member(inside_sentinel, b"pwned")))
    assert [record["status"] for record in result["members"]] == ["refused", "refused"]
    assert all("absolute" in record["reason"] for record in result["members"])
    assert entries_in(area["dest"]) == set()


def test_a_symlink_to_root_is_recorded_and_a_file_through_it_stays_inside(area, extract):
    through = "link" + str(area["sentinel"]) + "/pwned"
    result = extract(archive(member("link", typeflag=b"2", linkname="/"), member(through, b"pwned")))
    link, file_record = result["members"]
    assert link["type"] == "symlink" and link["status"] == "skipped" and link["target"] == "/"
    assert not os.path.islink(str(area["dest"] / "link"))
    # The name is only a name: the file lands below dest, in real directories.
    assert file_record["status"] == "written"
    assert (area["dest"] / through).read_bytes() == b"pwned"
    assert not (area["sentinel"] / "pwned").exists()


def test_a_relative_symlink_escape_is_not_followed(area, extract):
    result = extract(archive(member("up", typeflag=b"2", linkname="../../sentinel"), member("up/pwned", b"x")))
    assert result["members"][0]["target"] == "../../sentinel"
    assert not os.path.islink(str(area["dest"] / "up"))


def test_a_hard_link_to_a_host_file_is_recorded_not_created(area, extract):
    host_file = str(area["sentinel"] / "host-file")
    result = extract(archive(member("hl", typeflag=b"1", linkname=host_file), member("hl", b"pwned")))
    link, overwrite = result["members"]
    assert link["type"] == "hardlink" and link["status"] == "skipped" and link["target"] == host_file
    # The second member writes a new file of its own: the host file keeps one link and its content.
    assert overwrite["status"] == "written"
    assert os.stat(host_file).st_nlink == 1
    assert os.stat(str(area["dest"] / "hl")).st_nlink == 1


def test_a_directory_member_named_like_an_existing_symlink_is_refused(area, extract):
    os.symlink(str(area["sentinel"]), str(area["dest"] / "escape"))
    result = extract(archive(member("escape/", typeflag=b"5"), member("escape/pwned", b"pwned"),
                             member("escape/sub/deeper", b"pwned")))
    assert [record["status"] for record in result["members"]] == ["refused"] * 3
    assert all("symbolic link" in record["reason"] for record in result["members"])


def test_a_file_member_named_like_an_existing_symlink_does_not_write_through_it(area, extract):
    os.symlink(str(area["sentinel"] / "host-file"), str(area["dest"] / "victim"))
    result = extract(archive(member("victim", b"pwned")))
    assert result["members"][0]["status"] == "refused"
    assert "already exists" in result["members"][0]["reason"]


def test_a_directory_swapped_for_a_link_during_extraction_cannot_redirect_a_write(area, extract):
    dest = area["dest"]

    def stream():
        yield archive(member("sub/", typeflag=b"5"), member("sub/first", b"1"))[:-1024]
        # Between two members, someone replaces the directory just created with a link to the sentinel.
        os.rename(str(dest / "sub"), str(dest / "moved"))
        os.symlink(str(area["sentinel"]), str(dest / "sub"))
        yield member("sub/second", b"pwned") + END

    result = extract(stream())
    assert [record["status"] for record in result["members"]] == ["written", "written", "refused"]
    assert "symbolic link" in result["members"][2]["reason"]


def test_a_10_gib_member_against_a_1_mib_cap_is_refused_without_reading_it(area, extract):
    pulled = [0]

    def stream():
        first = member("small", b"ok") + header("huge", 10 * GIB, base256_size=True)
        pulled[0] += len(first)
        yield first
        zeros = b"\0" * (64 * KIB)
        for _index in range(10 * GIB // len(zeros)):
            pulled[0] += len(zeros)
            yield zeros

    result = extract(stream(), max_member=MIB, max_total=100 * MIB)
    small, huge = result["members"]
    assert small["status"] == "written"
    assert huge["status"] == "refused" and huge["size"] == 10 * GIB and "exceeds max_bytes" in huge["reason"]
    assert "total cap" in result["error"]
    assert pulled[0] < MIB  # it stopped at the header
    assert entries_in(area["dest"]) == {"small"}


def test_a_10_gib_pax_size_is_refused_the_same_way(area, extract):
    data = archive(pax({"size": str(10 * GIB)}), header("huge", 0))
    result = extract(chunks(data), max_member=MIB, max_total=100 * MIB)
    assert result["members"][0]["size"] == 10 * GIB and result["members"][0]["status"] == "refused"


def test_an_oversized_member_within_the_total_cap_is_skipped_and_the_next_one_written(area, extract):
    result = extract(archive(member("big", b"b" * (2 * MIB)), member("next", b"ok")), max_member=MIB,
                     max_total=10 * MIB)
    big, following = result["members"]
    assert big["status"] == "refused" and "exceeds max_bytes" in big["reason"]
    assert following["status"] == "written"
    assert result["error"] is None
    assert entries_in(area["dest"]) == {"next"}


def test_the_total_cap_counts_every_member(area, extract):
    result = extract(archive(member("a", b"a" * 600), member("b", b"b" * 600)), max_member=1000, max_total=1000)
    assert result["members"][0]["status"] == "written"
    assert result["members"][1]["status"] == "refused" and "total cap" in result["members"][1]["reason"]
    assert result["error"] and result["bytes_written"] == 600


def test_a_truncated_archive_leaves_no_file_under_the_members_name(area, extract):
    whole = archive(member("done", b"complete"), member("cut", b"c" * 5000))
    result = extract(chunks(whole[:512 * 2 + 512 + 3000]))
    done, cut = result["members"]
    assert done["status"] == "written"
    assert cut["status"] == "error" and "3000 of 5000" in cut["reason"]
    assert "ended" in result["error"] and not result["end_of_archive"]
    assert entries_in(area["dest"]) == {"done"}


@pytest.mark.parametrize("cut, message", [(512 * 2 + 100, "inside a header"), (512 * 2, "end-of-archive marker")])
def test_an_archive_cut_between_or_inside_headers_is_an_error(area, extract, cut, message):
    result = extract(archive(member("done", b"complete"), member("next", b"n"))[:cut])
    assert message in result["error"]
    assert entries_in(area["dest"]) == {"done"}


def test_names_with_newlines_and_control_characters_are_made_printable(area, extract):
    result = extract(archive(member("evil\nname", b"1"), member("esc\x1b[31mred", b"2"), member(b"bad\xffutf8", b"3"),
                             member("bidi\u202etxt.exe", b"4")))
    paths = [record["path"] for record in result["members"]]
    assert paths == ["evil%0Aname", "esc%1B[31mred", "bad%FFutf8", "bidi%E2%80%AEtxt.exe"]
    assert entries_in(area["dest"]) == set(paths)
    assert all("\n" not in record["name"] and "\x1b" not in record["name"] for record in result["members"])


def test_a_name_that_maps_onto_an_existing_one_is_refused_not_merged(area, extract):
    result = extract(archive(member("a%0Ab", b"first"), member("a\nb", b"second")))
    assert [record["status"] for record in result["members"]] == ["written", "refused"]
    assert (area["dest"] / "a%0Ab").read_bytes() == b"first"


def test_a_duplicate_member_does_not_overwrite_the_first(area, extract):
    result = extract(archive(member("f", b"first"), member("f", b"second")))
    assert result["members"][1]["status"] == "refused"
    assert (area["dest"] / "f").read_bytes() == b"first"


def test_pax_path_and_linkpath_override_the_ustar_fields_and_are_checked(area, extract):
    long_name = "d/" + "n" * 250 + "/" + "f" * 200
    result = extract(archive(
        pax({"path": long_name}), member("short-ustar-name", b"long"),
        pax({"path": "../../pax-escape"}), member("harmless", b"pwned"),
        pax({"linkpath": "/" + "t" * 300}), member("sym", typeflag=b"2", linkname="short"),
    ))
    written, escape, link = result["members"]
    assert written["name"] == long_name and written["status"] == "written"
    assert (area["dest"] / long_name).read_bytes() == b"long"
    assert escape["status"] == "refused" and escape["name"] == "../../pax-escape"
    assert link["target"] == "/" + "t" * 300


def test_a_pax_global_header_applies_to_the_members_after_it(area, extract):
    result = extract(archive(pax({"comment": "made by x"}, typeflag=b"g"), member("f", b"1")))
    assert result["members"][0]["status"] == "written"


def test_gnu_long_names_and_long_link_targets(area, extract):
    long_name = "g/" + "x" * 200 + "/" + "y" * 150
    result = extract(archive(
        gnu_long(b"L", long_name), member("././@LongLink", b"gnu", gnu=True),
        gnu_long(b"L", "../../gnu-escape"), member("harmless", b"pwned", gnu=True),
        gnu_long(b"K", "/" + "y" * 200), member("sym", typeflag=b"2", linkname="short", gnu=True),
        gnu_long(b"L", "z" * 300), member("too-long", b"z", gnu=True),
        member("after", b"ok", gnu=True),
    ))
    written, escape, link, too_long, after = result["members"]
    assert written["name"] == long_name and (area["dest"] / long_name).read_bytes() == b"gnu"
    assert escape["status"] == "refused"
    assert link["target"] == "/" + "y" * 200
    assert too_long["status"] == "refused" and "name too long" in too_long["reason"]
    assert after["status"] == "written"


def test_the_ustar_prefix_field_is_joined_and_checked(area, extract):
    result = extract(archive(member("file", b"p", prefix=b"dir/sub"), member("x", b"p", prefix=b"../..")))
    assert result["members"][0]["path"] == "dir/sub/file"
    assert result["members"][1]["status"] == "refused"


def test_a_huge_metadata_header_stops_without_being_read(area, extract):
    pulled = [0]

    def stream():
        yield header("././@LongLink", 100 * MIB, b"L", gnu=True)
        while True:
            pulled[0] += 64 * KIB
            yield b"a" * (64 * KIB)

    result = extract(stream())
    assert "metadata header" in result["error"]
    assert pulled[0] < 2 * MIB


def test_an_endless_run_of_metadata_headers_stops(area, extract):
    pulled = [0]

    def stream():
        index = 0
        while True:
            index += 1
            chunk = pax({"comment%d" % index: "x" * 400})
            pulled[0] += len(chunk)
            yield chunk

    result = extract(stream())
    assert "metadata headers in a row" in result["error"] and pulled[0] < 64 * KIB


@pytest.mark.parametrize("typeflag, kind", [(b"6", "fifo"), (b"3", "chardev"), (b"4", "blockdev")])
def test_fifos_and_devices_are_skipped_and_recorded(area, extract, typeflag, kind):
    result = extract(archive(member("special", typeflag=typeflag), member("after", b"ok")))
    special = result["members"][0]
    assert special["type"] == kind and special["status"] == "skipped" and special["reason"]
    assert entries_in(area["dest"]) == {"after"}


def test_unknown_and_sparse_members_are_skipped_with_their_data(area, extract):
    result = extract(archive(member("weird", b"data" * 300, typeflag=b"Z"),
                             member("sparse", b"s" * 10, typeflag=b"S", gnu=True),
                             member("after", b"ok")))
    assert [record["status"] for record in result["members"]] == ["skipped", "skipped", "written"]
    assert "unknown member type" in result["members"][0]["reason"]
    assert result["members"][1]["type"] == "sparse"


def test_old_gnu_sparse_extension_headers_are_skipped(area, extract):
    sparse = bytearray(header("sparse", 10, b"S", gnu=True))
    sparse[482] = 1  # isextended: one more 512-byte block of sparse map follows the header
    sparse[148:156] = b" " * 8
    sparse[148:156] = ("%06o" % sum(sparse)).encode("ascii") + b"\0 "
    extension = bytearray(512)  # its own isextended byte (504) is 0: the last one
    result = extract(archive(bytes(sparse) + bytes(extension) + pad(b"s" * 10), member("after", b"ok")))
    assert [record["status"] for record in result["members"]] == ["skipped", "written"]
    assert result["members"][0]["type"] == "sparse" and result["error"] is None


def test_pax_sparse_members_are_skipped(area, extract):
    result = extract(archive(pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "disk.img",
                                  "GNU.sparse.realsize": "1048576"}),
                             member("GNUSparseFile.0/disk.img", b"map and data"), member("after", b"ok")))
    assert result["members"][0]["name"] == "disk.img" and result["members"][0]["type"] == "sparse"
    assert entries_in(area["dest"]) == {"after"}


def test_a_link_header_with_a_size_carries_no_data(area, extract):
    # The bytes after a symlink header are the next header, whatever its size field says (as tarfile reads it).
    result = extract(archive(header("sym", 5000, b"2", linkname="x"), member("after", b"ok")))
    assert [record["status"] for record in result["members"]] == ["skipped", "written"]


def test_names_with_the_reserved_partial_prefix_are_refused(area, extract):
    result = extract(archive(member(PARTIAL_PREFIX + "0123", b"planted"), member("d/" + PARTIAL_PREFIX, b"x")))
    assert [record["status"] for record in result["members"]] == ["refused", "refused"]


def test_a_bad_checksum_stops_the_extraction(area, extract):
    broken = bytearray(member("f", b"1"))
    broken[0:1] = b"g"
    result = extract(bytes(broken) + END)
    assert "checksum" in result["error"] and result["members"] == []


def test_required_prefix_refuses_members_outside_the_requested_path(area, extract):
    result = extract(archive(member("app/ok.log", b"1"), member("other/x", b"2")), required_prefix="app")
    assert [record["status"] for record in result["members"]] == ["written", "refused"]
    assert "requested path" in result["members"][1]["reason"]


def test_the_member_count_is_bounded(area, extract):
    result = extract(archive(*[member("d%d/" % index, typeflag=b"5") for index in range(5)]), max_members=3)
    assert len(result["members"]) == 3 and "more than 3 members" in result["error"]


def test_an_unusable_destination_raises(tmp_path):
    with pytest.raises(UntarError):
        extract_tar_stream(iter([END]), str(tmp_path / "missing"), MIB, MIB)


def test_a_readable_is_accepted_and_read_only_to_the_end_marker(area, extract):
    stream = io.BytesIO(archive(member("f", b"1")) + b"trailing garbage after the marker")
    result = extract(stream)
    assert result["error"] is None and result["end_of_archive"]
    assert stream.read() == b"\0" * 512 + b"trailing garbage after the marker"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_archives_written_by_pythons_tarfile_round_trip(area, extract, fmt, tmp_path_factory):
    source = tmp_path_factory.mktemp("source")
    (source / "deep" / ("n" * 120)).mkdir(parents=True)
    contents = {"top.txt": b"top", "deep/%s/inner.bin" % ("n" * 120): os.urandom(200 * KIB), "empty": b""}
    for rel, data in contents.items():
        (source / rel).write_bytes(data)
    os.symlink("top.txt", str(source / "alias"))
    buffer = io.BytesIO()
    if fmt == tarfile.USTAR_FORMAT:
        contents.pop("deep/%s/inner.bin" % ("n" * 120))
        (source / "deep" / ("n" * 120) / "inner.bin").unlink()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        tar.add(str(source), arcname="source")
    result = extract(chunks(buffer.getvalue(), 4096), required_prefix="source")
    assert result["error"] is None
    records = by_name(result)
    for rel, data in contents.items():
        record = records["source/" + rel]
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert (area["dest"] / "source" / rel).read_bytes() == data
    assert records["source/alias"]["target"] == "top.txt"


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar binary")
@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar"])
def test_the_stream_of_a_real_tar_process(area, extract, fmt, tmp_path_factory):
    """What a container's `tar cf -` sends: read straight from the process's stdout."""
    source = tmp_path_factory.mktemp("real")
    deep = "d" * 60 + "/" + "e" * 60
    (source / deep).mkdir(parents=True)
    contents = {deep + "/file.bin": os.urandom(70 * KIB), "empty": b""}
    for rel, data in contents.items():
        (source / rel).write_bytes(data)
    (source / "plain.txt").write_bytes(b"plain\n")
    os.symlink("/etc/passwd", str(source / "to-passwd"))
    os.link(str(source / "plain.txt"), str(source / "hard.txt"))
    os.mkfifo(str(source / "pipe"))
    with open(str(source / "holes.img"), "wb") as handle:
        handle.seek(4 * MIB)
        handle.write(b"end")
    command = ["tar", "-C", str(source), "-cf", "-", "--format=" + fmt, "."]
    if fmt != "ustar":
        command.insert(1, "--sparse")
    with subprocess.Popen(command, stdout=subprocess.PIPE) as proc:
        result = extract(proc.stdout, max_member=8 * MIB)
        proc.stdout.read()
    assert proc.returncode == 0
    assert result["error"] is None
    records = {record["name"].lstrip("./"): record for record in result["members"]}
    for rel, data in contents.items():
        assert records[rel]["sha256"] == hashlib.sha256(data).hexdigest()
        assert (area["dest"] / rel).read_bytes() == data
    assert records["to-passwd"]["type"] == "symlink" and records["to-passwd"]["target"] == "/etc/passwd"
    # Whichever of the two names tar meets first is the file, the second a hard link to it.
    first, second = sorted((records["plain.txt"], records["hard.txt"]), key=lambda record: record["type"])
    assert first["type"] == "file" and first["sha256"] == hashlib.sha256(b"plain\n").hexdigest()
    assert second["type"] == "hardlink" and second["target"].lstrip("./") == first["name"].lstrip("./")
    assert os.stat(str(area["dest"] / first["path"])).st_nlink == 1
    assert records["pipe"]["type"] == "fifo" and not (area["dest"] / "pipe").exists()
    if fmt == "ustar":
        assert records["holes.img"]["status"] == "written"  # without --sparse, a plain file of zeros
    else:
        assert records["holes.img"]["type"] == "sparse" and not (area["dest"] / "holes.img").exists()


def test_safe_text_keeps_ordinary_unicode():
    assert safe_text("journal-été.log".encode("utf-8")) == "journal-été.log"
    assert safe_text(b"tab\there") == "tab%09here"


# --- per-file mode -----------------------------------------------------------------------------------------------

class Dropped(Exception):
    pass


def dropping(data, after):
    """A stream that breaks after `after` bytes, as an exec cut by a proxy does."""
    yield data[:after // 2]
    yield data[after // 2:after]
    raise Dropped("connection reset")


def test_sink_writes_verifies_and_publishes(area):
    data = os.urandom(300 * KIB)
    with FileSink(str(area["dest"]), "dumps/heap.hprof", MIB) as sink:
        assert sink.write(chunks(data, 7000)) == len(data)
        record = sink.commit(expected_size=len(data), expected_sha256=hashlib.sha256(data).hexdigest().upper())
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["path"] == "dumps/heap.hprof"
    final = area["dest"] / "dumps" / "heap.hprof"
    assert final.read_bytes() == data
    assert stat.S_IMODE(os.stat(str(final)).st_mode) == 0o600
    assert entries_in(area["dest"]) == {"dumps", "dumps/heap.hprof"}


def test_sink_resumes_after_a_dropped_stream_from_the_rehashed_offset(area):
    data = os.urandom(200 * KIB)
    sink = FileSink(str(area["dest"]), "f.bin", MIB)
    with pytest.raises(Dropped):
        sink.write(dropping(data, 70001))
    assert not (area["dest"] / "f.bin").exists()
    offset = sink.resume_offset()
    assert offset == 70001
    sink.write(iter([data[offset:]]))
    sink.commit(expected_size=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    assert (area["dest"] / "f.bin").read_bytes() == data


def test_sink_resume_across_runs_verifies_the_prefix(area):
    data = os.urandom(100 * KIB)
    first = FileSink(str(area["dest"]), "f.bin", MIB)
    with pytest.raises(Dropped):
        first.write(dropping(data, 40000))
    first.close()  # the process ends; the partial file stays for the next run
    second = FileSink(str(area["dest"]), "f.bin", MIB, resume=True)
    assert second.offset == 40000
    assert second.verify_prefix(hashlib.sha256(data[:40000]).hexdigest())
    assert not second.verify_prefix(hashlib.sha256(b"other").hexdigest())
    second.write(io.BytesIO(data[40000:]))
    second.commit(expected_sha256=hashlib.sha256(data).hexdigest())
    assert (area["dest"] / "f.bin").read_bytes() == data


def test_sink_detects_a_partial_file_changed_on_disk(area):
    sink = FileSink(str(area["dest"]), "f.bin", MIB)
    with pytest.raises(Dropped):
        sink.write(dropping(b"a" * 5000, 3000))
    partial = [name for name in os.listdir(str(area["dest"])) if name.startswith(PARTIAL_PREFIX)]
    with open(str(area["dest"] / partial[0]), "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(SinkError, match="changed on disk"):
        sink.resume_offset()
    sink.restart()
    assert sink.offset == 0
    sink.write([b"fresh"])
    assert sink.commit(expected_size=5)["size"] == 5


def test_sink_over_the_cap_keeps_nothing(area):
    pulled = [0]

    def endless():
        while True:
            pulled[0] += 64 * KIB
            yield b"z" * (64 * KIB)

    sink = FileSink(str(area["dest"]), "big", MIB)
    with pytest.raises(SinkError, match="max_bytes"):
        sink.write(endless())
    assert pulled[0] <= MIB + 64 * KIB
    assert entries_in(area["dest"]) == set()


def test_sink_refuses_a_wrong_size_or_hash_and_keeps_the_partial_for_a_resume(area):
    sink = FileSink(str(area["dest"]), "f", MIB)
    sink.write([b"abc"])
    with pytest.raises(SinkError, match="received 3 bytes, the container reported 4"):
        sink.commit(expected_size=4)
    with pytest.raises(SinkError, match="differs"):
        sink.commit(expected_size=3, expected_sha256=hashlib.sha256(b"abd").hexdigest())
    assert not (area["dest"] / "f").exists()
    sink.abort()
    assert entries_in(area["dest"]) == set()


@pytest.mark.parametrize("relpath", ["../x", "/etc/x", "a/../../x", "", "."])
def test_sink_refuses_unsafe_local_paths(area, relpath):
    with pytest.raises(SinkError):
        FileSink(str(area["dest"]), relpath, MIB)
    assert entries_in(area["dest"]) == set()


def test_sink_never_writes_through_links(area):
    os.symlink(str(area["sentinel"]), str(area["dest"] / "linked-dir"))
    os.symlink(str(area["sentinel"] / "host-file"), str(area["dest"] / "linked-file"))
    with pytest.raises(SinkError, match="symbolic link"):
        FileSink(str(area["dest"]), "linked-dir/x", MIB)
    with pytest.raises(SinkError, match="already exists"):
        FileSink(str(area["dest"]), "linked-file", MIB)
    # A planted partial file that is a link is refused too.
    probe = FileSink(str(area["dest"]), "planted", MIB)
    partial = [name for name in os.listdir(str(area["dest"])) if name.startswith(PARTIAL_PREFIX)][0]
    probe.abort()
    os.symlink(str(area["sentinel"] / "host-file"), str(area["dest"] / partial))
    with pytest.raises(SinkError):
        FileSink(str(area["dest"]), "planted", MIB, resume=True)
    assert (area["sentinel"] / "host-file").read_bytes() == b"host data\n"
    assert sorted(os.listdir(str(area["sentinel"]))) == ["host-file"]


def test_sink_does_not_replace_a_file_that_appeared_meanwhile(area):
    sink = FileSink(str(area["dest"]), "f", MIB)
    sink.write([b"mine"])
    (area["dest"] / "f").write_bytes(b"theirs")
    with pytest.raises(SinkError, match="cannot publish"):
        sink.commit()
    assert (area["dest"] / "f").read_bytes() == b"theirs"
    sink.abort()


def test_a_stream_that_drops_mid_member_ends_with_the_records_and_no_partial_file(area, extract):
    whole = archive(member("done", b"complete"), member("cut", b"c" * 50000))

    def stream():
        yield whole[:512 * 3 + 20000]
        raise ConnectionResetError("exec stream reset by peer")

    result = extract(stream())
    done, cut = result["members"]
    assert done["status"] == "written"
    assert cut["status"] == "error" and "ConnectionResetError" in cut["reason"]
    assert "the stream failed" in result["error"]
    assert entries_in(area["dest"]) == {"done"}


def test_sink_lets_a_dropped_stream_propagate_for_the_caller_to_resume(area):
    sink = FileSink(str(area["dest"]), "f", MIB)
    with pytest.raises(ConnectionResetError):
        sink.write(dropping_with(ConnectionResetError("reset"), b"abc"))
    assert sink.offset == 3
    sink.abort()


def dropping_with(exc, data):
    yield data
    raise exc
