# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The incident bundle on disk: atomic manifest updates, partial bundles, verification, deterministic archives,
modes whatever the umask, names that cannot leave the bundle."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import stat
import tarfile

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import archive
from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import files
from ansible_collections.triage.k8s.plugins.module_utils.evidence import incident
from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import EvidencePathError
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.evidence.evidence_objects import POD

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))))


def make_bundle(tmp_path, opened_at="2026-12-01T10:06:07.123Z"):
    incident_header = incident.build_incident(POD, "https://k8s.example:6443", "prod", "alice@laptop", "OOM",
                                              "INC-1", opened_at, "id-1")
    evidence_dir = bundle_mod.check_evidence_dir(str(tmp_path / "evidence"), check_mode=False)
    return bundle_mod.create_bundle(evidence_dir, incident_header)


def write(target, rel, data, **meta):
    with target.artifact(rel, "test", {"opt": 1}, **meta) as art:
        art.write(data)
    return art.entry


def test_name_sorts_and_says_what_it_is(tmp_path):
    path = make_bundle(tmp_path)
    assert os.path.basename(path) == "20261201T100607Z_shop_web-1"
    assert bundle_mod.bundle_name("2026-12-01T10:06:07Z", "a/b", "c d") == "20261201T100607Z_a-b_c-d"


def test_header_records_identity_and_state(tmp_path):
    manifest = manifest_file.load(make_bundle(tmp_path))
    header = manifest["incident"]
    assert header["pod"]["uid"] == "uid-1" and header["pod"]["node"] == "node-a"
    assert header["containers"][0]["imageID"] == "docker.io/shop/web@sha256:abc"
    assert header["containers"][0]["containerID"] == "containerd://c1"
    assert header["pod_state"]["containers"][0]["last_termination"]["reason"] == "OOMKilled"
    assert header["who"] == "alice@laptop" and header["ticket"] == "INC-1"


def test_collection_version_is_galaxy_version():
    with open(os.path.join(COLLECTION_ROOT, "galaxy.yml")) as handle:
        version = re.search(r"^version:\s*(\S+)", handle.read(), re.M).group(1)
    assert bundle_mod.COLLECTION_VERSION == version


def test_artifacts_are_listed_with_hash_and_size(tmp_path):
    path = make_bundle(tmp_path)
    target = bundle_mod.BundleTarget(path)
    entry = write(target, "logs/app.log", b"hello\n", container={"name": "app"})
    manifest = manifest_file.load(path)
    listed = [a for a in manifest["artifacts"] if a["path"] == "logs/app.log"][0]
    assert listed["size"] == 6
    assert listed["sha256"] == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert listed["module"] == "test" and listed["options"] == {"opt": 1}
    assert listed["container"] == {"name": "app"} and listed["complete"] is True
    assert listed["started"] <= listed["ended"]
    assert entry["sha256"] == listed["sha256"]


def test_a_collector_that_dies_leaves_a_valid_partial_bundle(tmp_path):
    path = make_bundle(tmp_path)
    target = bundle_mod.BundleTarget(path)
    write(target, "logs/first.log", b"complete\n")
    with pytest.raises(RuntimeError):
        with target.artifact("logs/second.log", "test") as art:
            art.write(b"half of it")
            raise RuntimeError("the stream died")
    # The half-written file is neither in place nor listed, and the bundle verifies.
    assert not os.path.exists(os.path.join(path, "logs", "second.log"))
    _manifest, problems = manifest_file.verify_dir(path)
    assert problems == []
    assert [a["path"] for a in manifest_file.load(path)["artifacts"]] == ["logs/first.log"]


def test_keep_partial_lists_an_incomplete_file(tmp_path):
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    with pytest.raises(RuntimeError):
        with target.artifact("exec/x.stdout", "test") as art:
            art.write(b"some")
            art.keep_partial()
            raise RuntimeError("cut after 4 bytes")
    listed = manifest_file.load(target.root)["artifacts"][0]
    assert listed["complete"] is False and listed["size"] == 4 and "cut after 4 bytes" in listed["error"]


def test_manifest_update_is_write_and_rename(tmp_path, monkeypatch):
    path = make_bundle(tmp_path)
    before = open(manifest_file.manifest_path(path), "rb").read()
    renames = []
    real_rename = os.rename

    def failing_rename(src, dst):
        renames.append((src, dst))
        if dst.endswith(manifest_file.MANIFEST):
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError):
        manifest_file.add_failure(path, {"what": "x"})
    # The old manifest is untouched: a reader never sees half of a manifest.
    assert open(manifest_file.manifest_path(path), "rb").read() == before
    assert any(dst.endswith(manifest_file.MANIFEST) and src != dst for src, dst in renames)


def test_failures_are_recorded(tmp_path):
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    target.record_failure("pod_logs", "previous log of container app", "cut after 10 bytes", container="app")
    failure = manifest_file.load(target.root)["failures"][0]
    assert failure["module"] == "pod_logs" and failure["error"] == "cut after 10 bytes"
    assert failure["container"] == "app" and failure["time"].endswith("Z")


def test_verify_finds_one_flipped_byte(tmp_path):
    path = make_bundle(tmp_path)
    target = bundle_mod.BundleTarget(path)
    write(target, "logs/app.log", b"0123456789" * 100)
    write(target, "snapshot/pod.json", b"{}")
    with open(os.path.join(path, "logs", "app.log"), "r+b") as handle:
        handle.seek(500)
        handle.write(b"X")
    _manifest, problems = manifest_file.verify_dir(path)
    assert problems == [{"path": "logs/app.log", "problem": "sha256 differs",
                         "expected": manifest_file.listed_files(manifest_file.load(path))["logs/app.log"][0],
                         "found": problems[0]["found"]}]


def test_verify_reports_missing_and_unlisted_files(tmp_path):
    path = make_bundle(tmp_path)
    target = bundle_mod.BundleTarget(path)
    write(target, "a.txt", b"a")
    os.unlink(os.path.join(path, "a.txt"))
    with open(os.path.join(path, "planted.txt"), "w") as handle:
        handle.write("x")
    _manifest, problems = manifest_file.verify_dir(path)
    assert sorted((p["path"], p["problem"]) for p in problems) == [
        ("a.txt", "missing"), ("planted.txt", "not listed in the manifest")]


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "a//b", "", "./a"])
def test_artifact_names_cannot_leave_the_bundle(tmp_path, name):
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    with pytest.raises(EvidencePathError):
        target.artifact(name, "test")


def test_a_symlinked_directory_in_the_bundle_is_not_followed(tmp_path):
    path = make_bundle(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(path, "logs"))
    target = bundle_mod.BundleTarget(path)
    with pytest.raises(EvidencePathError):
        write(target, "logs/app.log", b"x")
    assert os.listdir(str(outside)) == []


def test_modes_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = make_bundle(tmp_path)
        write(bundle_mod.BundleTarget(path), "deep/er/file.txt", b"x")
        result = incident.close_bundle(path, check_mode=False)
    finally:
        os.umask(old)
    modes = {}
    for root in (str(tmp_path / "evidence"),):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames:
                modes[os.path.join(dirpath, name)] = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
            for name in filenames:
                modes[os.path.join(dirpath, name)] = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
    assert stat.S_IMODE(os.stat(str(tmp_path / "evidence")).st_mode) == 0o700
    assert set(m for p, m in modes.items() if os.path.isdir(p)) == {0o700}
    assert set(m for p, m in modes.items() if not os.path.isdir(p)) == {0o600}
    assert result["archive"] in modes


def test_close_writes_report_sums_and_a_deterministic_archive(tmp_path):
    path = make_bundle(tmp_path)
    target = bundle_mod.BundleTarget(path)
    write(target, "logs/app.previous.log", b"java.lang.OutOfMemoryError\n")
    result = incident.close_bundle(path, check_mode=False)
    assert result["changed"] and result["intact"]
    assert os.path.exists(os.path.join(path, "report.md"))
    with open(result["archive"] + ".sha256") as handle:
        assert handle.read() == "%s  %s\n" % (result["archive_sha256"], os.path.basename(result["archive"]))
    first = archive.sha256_of(result["archive"])
    os.unlink(result["archive"])
    again = incident.close_bundle(path, check_mode=False)
    assert again["archive_sha256"] == first == result["archive_sha256"]
    with tarfile.open(result["archive"]) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
    assert set(m.mtime for m in members) == {archive_mtime(path)}
    assert not any(n.endswith((manifest_file.LOCK,)) or "/.work" in n for n in names)
    with open(result["archive"], "rb") as handle:
        header = handle.read(10)
    assert header[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0


def archive_mtime(path):
    from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
    return int(parse_rfc3339(manifest_file.load(path)["incident"]["opened_at"]).timestamp())


def test_two_packs_of_the_same_bundle_have_the_same_sha256(tmp_path):
    path = make_bundle(tmp_path)
    write(bundle_mod.BundleTarget(path), "a/b.txt", b"b" * 100000)
    incident.close_bundle(path, check_mode=False)
    one = archive.pack(path, str(tmp_path / "one.tar.gz"), 1000)
    os.utime(os.path.join(path, "a", "b.txt"), (5, 5))
    two = archive.pack(path, str(tmp_path / "two.tar.gz"), 1000)
    assert one == two


def test_closing_again_changes_nothing_and_collecting_into_it_is_refused(tmp_path):
    path = make_bundle(tmp_path)
    first = incident.close_bundle(path, check_mode=False)
    second = incident.close_bundle(path, check_mode=False)
    assert not second["changed"] and second["archive_sha256"] == first["archive_sha256"]
    with pytest.raises(manifest_file.ManifestError, match="is closed"):
        bundle_mod.BundleTarget(path)


def test_close_refuses_a_bundle_that_does_not_match(tmp_path):
    path = make_bundle(tmp_path)
    write(bundle_mod.BundleTarget(path), "x.txt", b"original")
    with open(os.path.join(path, "x.txt"), "wb") as handle:
        handle.write(b"changed!")
    with pytest.raises(incident.BundleError, match="x.txt: sha256 differs"):
        incident.close_bundle(path, check_mode=False)
    assert manifest_file.load(path)["state"] == "open"
    assert not os.path.exists(path + ".tar.gz")


def test_close_in_check_mode_writes_nothing(tmp_path):
    path = make_bundle(tmp_path)
    before = sorted(os.listdir(path))
    result = incident.close_bundle(path, check_mode=True)
    assert result["changed"] and sorted(os.listdir(path)) == before
    assert not os.path.exists(result["archive"])


def test_verify_an_archive_finds_a_flipped_byte_inside(tmp_path):
    path = make_bundle(tmp_path)
    write(bundle_mod.BundleTarget(path), "logs/app.log", b"line\n" * 1000)
    result = incident.close_bundle(path, check_mode=False)
    assert incident.verify(result["archive"])["intact"]
    # Rebuild the archive with one byte of the log changed: its own hash file no longer matches, and the
    # member no longer matches the manifest inside.
    with open(os.path.join(path, "logs", "app.log"), "r+b") as handle:
        handle.write(b"X")
    archive.pack(path, result["archive"], 0)
    verdict = incident.verify(result["archive"])
    assert not verdict["intact"]
    assert sorted(p["path"] for p in verdict["problems"]) == [os.path.basename(result["archive"]), "logs/app.log"]


def test_verify_of_something_that_is_not_a_bundle(tmp_path):
    other = tmp_path / "not-a-bundle"
    other.mkdir()
    with pytest.raises(manifest_file.ManifestError, match="is not an incident bundle"):
        incident.verify(str(other))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(incident.BundleError, match="is not a readable bundle archive"):
        incident.verify(str(junk))


def test_reuse_finds_the_open_bundle_of_the_same_pod_only(tmp_path):
    path = make_bundle(tmp_path)
    evidence_dir = os.path.dirname(path)
    assert bundle_mod.find_open_bundle(evidence_dir, "shop", "web-1", "uid-1") == path
    assert bundle_mod.find_open_bundle(evidence_dir, "shop", "web-1", "another-uid") is None
    incident.close_bundle(path, check_mode=False)
    assert bundle_mod.find_open_bundle(evidence_dir, "shop", "web-1", "uid-1") is None


def test_evidence_dir_checks(tmp_path):
    with pytest.raises(EvidencePathError, match="parent .* does not exist"):
        bundle_mod.check_evidence_dir(str(tmp_path / "no" / "such"), check_mode=False)
    plain = tmp_path / "file"
    plain.write_text("x")
    with pytest.raises(EvidencePathError, match="is not a directory"):
        bundle_mod.check_evidence_dir(str(plain), check_mode=False)
    link = tmp_path / "link"
    os.symlink(str(tmp_path), str(link))
    with pytest.raises(EvidencePathError, match="symlink"):
        bundle_mod.check_evidence_dir(str(link), check_mode=False)
    # check mode creates nothing
    bundle_mod.check_evidence_dir(str(tmp_path / "new"), check_mode=True)
    assert not (tmp_path / "new").exists()


def test_manifest_json_is_plain_and_sorted(tmp_path):
    path = make_bundle(tmp_path)
    data = json.load(open(manifest_file.manifest_path(path)))
    assert data["format"] == manifest_file.FORMAT and data["state"] == "open"


class _FullDisk(object):
    """Replaces archive.HashingWriter: the archive's file takes `room` bytes, then ENOSPC (a full volume)."""

    def __init__(self, room):
        self.room = room

    def __call__(self, raw):
        room = self.room

        class Writer(files.HashingWriter):
            def write(self, data):
                if self.size + len(data) > room:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return files.HashingWriter.write(self, data)
        return Writer(raw)


def temp_names(directory):
    return [n for n in os.listdir(str(directory)) if n.endswith(".tmp")]


def test_a_pack_that_runs_out_of_room_deletes_its_temp_file(tmp_path, monkeypatch):
    path = make_bundle(tmp_path)
    write(bundle_mod.BundleTarget(path), "big.bin", os.urandom(300000))
    monkeypatch.setattr(archive, "HashingWriter", _FullDisk(100000))
    with pytest.raises(OSError) as caught:
        archive.pack(path, str(tmp_path / "a.tar.gz"), 1000)
    assert caught.value.errno == errno.ENOSPC
    assert os.listdir(str(tmp_path)) == ["evidence"]


def test_atomic_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = str(tmp_path / "report.md")
    files.atomic_write(target, b"old\n")

    def no_room(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(files.os, "fsync", no_room)
    with pytest.raises(OSError):
        files.atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert os.listdir(str(tmp_path)) == ["report.md"]
    with open(target, "rb") as handle:
        assert handle.read() == b"old\n"


def test_a_close_that_runs_out_of_room_says_changed_and_what_it_left_and_a_re_close_finishes(tmp_path, monkeypatch):
    path = make_bundle(tmp_path)
    write(bundle_mod.BundleTarget(path), "files/big.bin", os.urandom(300000))
    monkeypatch.setattr(archive, "HashingWriter", _FullDisk(100000))
    with pytest.raises(incident.CloseFailed) as caught:
        incident.close_bundle(path, check_mode=False)
    failed = caught.value.result
    message = str(caught.value)
    assert failed["changed"] is True
    assert failed["written"] == [os.path.join(path, n) for n in ("report.md", "manifest.json", "SHA256SUMS")]
    assert failed["bundle_state"] == "closed" and failed["rerun_finishes"] is True
    assert failed["archive"] is None and failed["temp_files_left"] == []
    assert path in message and "writing the archive" in message and "No space left on device" in message
    assert "report.md, manifest.json, SHA256SUMS" in message and "run state=closed on it again" in message
    assert temp_names(tmp_path / "evidence") == [] and not os.path.exists(path + ".tar.gz")
    monkeypatch.undo()  # room again
    again = incident.close_bundle(path, check_mode=False)
    assert again["changed"] and again["intact"]
    _manifest, problems, digest = archive.verify_archive(again["archive"])
    assert problems == [] and digest == again["archive_sha256"]
    assert "files/big.bin" in manifest_file.listed_files(_manifest)
    third = incident.close_bundle(path, check_mode=False)
    assert third["changed"] is False and third["archive_sha256"] == digest


def test_a_close_that_fails_before_any_write_is_not_changed_and_names_the_bundle(tmp_path, monkeypatch):
    path = make_bundle(tmp_path)

    def no_room(_path, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), _path + ".1.tmp")
    monkeypatch.setattr(incident, "atomic_write", no_room)
    with pytest.raises(incident.CloseFailed) as caught:
        incident.close_bundle(path, check_mode=False)
    assert caught.value.result["changed"] is False and caught.value.result["written"] == []
    assert caught.value.result["bundle_state"] == "open" and caught.value.result["rerun_finishes"]
    assert path in str(caught.value) and "It wrote nothing" in str(caught.value)
    monkeypatch.undo()
    assert incident.close_bundle(path, check_mode=False)["intact"]


def test_sha256sums_lost_after_the_manifest_closed_is_written_by_the_re_close(tmp_path):
    path = make_bundle(tmp_path)
    first = incident.close_bundle(path, check_mode=False)
    os.unlink(os.path.join(path, "SHA256SUMS"))
    os.unlink(first["archive"])
    again = incident.close_bundle(path, check_mode=False)
    assert again["changed"] and again["archive_sha256"] == first["archive_sha256"]
    assert archive.verify_archive(again["archive"])[1] == []


def test_a_killed_close_leaves_temp_files_only_that_bundles_next_close_deletes(tmp_path):
    path = make_bundle(tmp_path)
    evidence = os.path.dirname(path)
    ours = [path + ".tar.gz.4242.tmp", path + ".tar.gz.1.tmp"]
    others = [path + ".tar.gz.x.tmp", path + "-other.tar.gz.4242.tmp", os.path.join(evidence, "notes.tmp")]
    for name in ours + others:
        with open(name, "wb") as handle:
            handle.write(b"half an archive")
    os.symlink(others[0], path + ".tar.gz.7.tmp")  # a link is never deleted
    result = incident.close_bundle(path, check_mode=False)
    assert result["changed"] and sorted(result["removed_temp_files"]) == sorted(ours)
    assert sorted(temp_names(evidence)) == sorted(os.path.basename(n) for n in others + [path + ".tar.gz.7.tmp"])
    os.unlink(path + ".tar.gz.7.tmp")
    with open(ours[0], "wb") as handle:
        handle.write(b"half an archive")
    again = incident.close_bundle(path, check_mode=False)  # nothing else to do, but it deleted a file
    assert again["changed"] and again["removed_temp_files"] == [ours[0]]
    assert incident.close_bundle(path, check_mode=False)["changed"] is False


def test_close_holds_the_bundle_lock_while_it_packs(tmp_path, monkeypatch):
    path = make_bundle(tmp_path)
    real_pack = archive.pack
    seen = []

    def pack(*args):
        fd = os.open(os.path.join(path, manifest_file.LOCK), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(True)
        finally:
            os.close(fd)
        return real_pack(*args)
    monkeypatch.setattr(archive, "pack", pack)
    incident.close_bundle(path, check_mode=False)
    assert seen == [True]
