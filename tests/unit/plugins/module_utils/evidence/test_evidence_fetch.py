# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_fetch's flow (evidence/fetch.py) against a local "container": real tar, cat, tail and sha256sum, or hostile
ones of the test's own, and streams cut mid-way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import sys

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_run, fetch, manifest as manifest_file

from .local_container import LocalContainer
from .test_evidence_bundle import POD, make_bundle

CONTAINER = {"name": "app", "kind": "regular", "image": "shop/web:1", "spec": {},
             "status": POD["status"]["containerStatuses"][0]}
PARAMS = {"max_bytes": 1024 ** 3, "max_total_bytes": 2 * 1024 ** 3, "timeout": 60, "retries": 3, "method": "auto"}


@pytest.fixture
def box(tmp_path, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    local = LocalContainer(str(tools))
    monkeypatch.setattr(exec_run, "run", local.run)
    return local


def tree(tmp_path):
    root = tmp_path / "remote" / "app"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300000))
    os.symlink("/etc/passwd", str(root / "passwd-link"))
    os.mkfifo(str(root / "pipe"))
    return root


def params(**changes):
    result = dict(PARAMS)
    result.update(changes)
    return result


def test_a_directory_is_copied_verified_and_listed_links_and_fifos_recorded(tmp_path, box):
    root = tree(tmp_path)
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(root)], params())
    base = "files/app" + str(root)
    assert sorted(f["path"] for f in result["files"]) == [base + "/a.txt", base + "/sub/b.bin"]
    assert all(f["verified"] and f["sha256"] == f["remote_sha256"] for f in result["files"])
    assert result["failures"] == [] and result["changed"]
    links = [(s["type"], s["target"]) for s in result["skipped_members"] if s["type"] == "symlink"]
    assert links == [("symlink", "/etc/passwd")]
    assert [s["type"] for s in result["skipped_members"] if s["type"] == "fifo"] == ["fifo"]
    assert not os.path.lexists(os.path.join(target.root, base, "passwd-link"))
    copied = os.path.join(target.root, base, "sub", "b.bin")
    assert open(copied, "rb").read() == (root / "sub" / "b.bin").read_bytes()
    assert oct(os.stat(copied).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(copied)).st_mode & 0o777) == "0o700"
    listed = manifest_file.load(target.root)["artifacts"]
    entry = [a for a in listed if a["path"] == base + "/sub/b.bin"][0]
    assert entry["module"] == "pod_fetch" and entry["remote_path"] == str(root / "sub" / "b.bin") and entry["verified"]
    listing = [a for a in listed if a["path"] == result["listing"]][0]
    assert [link["target"] for link in listing["links"]] == ["/etc/passwd"]
    assert os.listdir(target.work_dir) == []  # staging removed

    again = fetch.fetch(None, target, POD, CONTAINER, [str(root)], params())
    assert not again["changed"] and [f["changed"] for f in again["files"]] == [False, False]


def test_other_content_under_a_fetched_name_is_an_error_and_the_first_copy_stays(tmp_path, box):
    root = tree(tmp_path)
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    fetch.fetch(None, target, POD, CONTAINER, [str(root / "a.txt")], params())
    (root / "a.txt").write_bytes(b"changed\n")
    result = fetch.fetch(None, target, POD, CONTAINER, [str(root / "a.txt")], params())
    assert "the earlier copy is kept" in result["failures"][0]["error"]
    assert open(os.path.join(target.root, str(root / "a.txt").lstrip("/")), "rb").read() == b"hello\n"


def test_a_cut_cat_stream_resumes_from_the_verified_offset(tmp_path, box):
    big = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024)
    big.write_bytes(data)
    box.cuts.append((lambda argv: argv[0] == "cat", 1000000))
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(big)], params(method="file"))
    assert result["resumes"] == 1 and result["failures"] == []
    assert result["files"][0]["sha256"] == hashlib.sha256(data).hexdigest() == result["files"][0]["remote_sha256"]
    assert ["tail", "-c", "+1000001", str(big)] in box.calls


def test_a_stream_cut_more_often_than_retries_is_a_clear_error_and_leaves_nothing(tmp_path, box):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(500000))
    for _cut in range(3):
        box.cuts.append((lambda argv: argv[0] in ("cat", "tail"), 1000))
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(big)], params(method="file", retries=2))
    assert result["files"] == []
    assert "cut 3 times" in result["failures"][0]["error"] and "gave up" in result["failures"][0]["error"]
    leftovers = [n for _d, _s, names in os.walk(target.root) for n in names]
    assert leftovers == []


def test_a_lying_sha256sum_means_the_copy_is_not_kept(tmp_path, box):
    (tmp_path / "x.txt").write_bytes(b"data\n")
    box.tool("sha256sum", "#!/bin/sh\nfor f in \"$@\"; do printf '%064d  %s\\n' 0 \"$f\"; done\n")
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    for method in ("file", "tar"):
        result = fetch.fetch(None, target, POD, CONTAINER, [str(tmp_path / "x.txt")], params(method=method))
        assert result["files"] == []
        assert "differs" in result["failures"][0]["error"]
    assert [n for _d, _s, names in os.walk(target.root) for n in names] == []


def test_a_file_over_max_bytes_is_refused_before_any_transfer(tmp_path, box):
    (tmp_path / "big.bin").write_bytes(b"x" * 5000)
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(tmp_path / "big.bin")], params(max_bytes=4096))
    assert "is 5000 bytes, over max_bytes 4096" in result["failures"][0]["error"]
    assert not [c for c in box.calls if c[0] in ("tar", "cat")]


def test_a_lying_stat_is_caught_while_streaming(tmp_path, box):
    (tmp_path / "big.bin").write_bytes(b"x" * 5000)
    box.tool("stat", "#!/bin/sh\necho 10\n")
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest"))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(tmp_path / "big.bin")],
                         params(max_bytes=4096, method="file"))
    assert "larger than max_bytes 4096" in result["failures"][0]["error"]
    assert [n for _d, _s, names in os.walk(target.root) for n in names] == []


HOSTILE_TAR = r'''#!%s
import sys, tarfile
out = sys.stdout.buffer
def regular(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.write(info.tobuf(tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) %% 512))
regular("./case/ok.txt", b"ok\n")
regular("./case/../../../escape-dotdot", b"x\n")
regular("/tmp/escape-absolute", b"x\n")
regular("./elsewhere/escape-prefix", b"x\n")
link = tarfile.TarInfo("./case/root")
link.type, link.linkname = tarfile.SYMTYPE, "/"
out.write(link.tobuf(tarfile.GNU_FORMAT))
regular("./case/root/tmp/through-link", b"x\n")
big = tarfile.TarInfo("./case/big")
big.size = 10 * 1024 ** 3
out.write(big.tobuf(tarfile.GNU_FORMAT) + b"\0" * 65536)
''' % sys.executable


def test_a_hostile_tar_writes_nothing_outside_and_every_member_is_accounted_for(tmp_path, box):
    (tmp_path / "remote" / "case").mkdir(parents=True)
    box.tool("tar", HOSTILE_TAR)
    (tmp_path / "dest").mkdir()
    target = bundle_mod.DirectoryTarget(str(tmp_path / "dest" / "inner"))
    result = fetch.fetch(None, target, POD, CONTAINER, [str(tmp_path / "remote" / "case")],
                         params(max_bytes=1024 * 1024, max_total_bytes=4 * 1024 * 1024))
    reasons = dict((s["name"], s["reason"]) for s in result["skipped_members"])
    assert "contains '..'" in reasons["./case/../../../escape-dotdot"]
    assert "absolute" in reasons["/tmp/escape-absolute"]
    assert "not below the requested path" in reasons["./elsewhere/escape-prefix"]
    assert reasons["./case/root"] == "symbolic link recorded, not created"
    assert "exceeds max_bytes" in reasons["./case/big"]
    assert "total cap" in result["failures"][0]["error"]
    written = sorted(f["path"] for f in result["files"])
    base = str(tmp_path / "remote" / "case").lstrip("/")
    assert written == [base + "/ok.txt", base + "/root/tmp/through-link"]
    found = [os.path.join(d, n) for d, _s, names in os.walk(str(tmp_path)) for n in names if "escape" in n]
    assert found == []
    assert not os.path.exists("/tmp/escape-absolute")
    assert not os.path.islink(os.path.join(target.root, base, "root"))


def test_paths_must_be_absolute_and_without_dotdot():
    for bad, words in (("rel/x", "must be absolute"), ("/a/../b", "'..'"), ("/", "root directory"),
                       ("/a\nb", "newline")):
        with pytest.raises(fetch.FetchError) as info:
            fetch.check_paths([bad])
        assert words in str(info.value)
    assert fetch.check_paths(["/var//log/./app/"]) == ["/var/log/app"]


def test_check_mode_runs_nothing(tmp_path, box):
    result = fetch.fetch(None, None, POD, CONTAINER, ["/var/log/app"], params(), check_mode=True)
    assert result["would_copy"] == [{"path": "/var/log/app", "size": None}] and box.calls == []
    json.dumps(result)
