# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What never ships, from its one source: build_ignore in galaxy.yml.

  never_ships.py filter [--keep PREFIX]...  NUL-separated paths on stdin; prints (NUL-separated) those that ship,
                                            plus the ones under a kept prefix. hack/lib.sh builds the ansible-test
                                            copy with it (keeping hack/, so sanity still checks the scripts).
  never_ships.py check TARBALL              prints the members of a built artifact that build_ignore names;
                                            exit 1 when there is any (hack/build-check.sh).

A path is ignored when it, or one of its parent directories, matches a pattern with fnmatch, as
ansible-galaxy collection build applies build_ignore.
"""

import fnmatch
import os
import sys
import tarfile

import yaml

GALAXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "galaxy.yml")


def patterns():
    with open(GALAXY, encoding="utf-8") as handle:
        return list(yaml.safe_load(handle).get("build_ignore") or [])


def never_ships(path, ignore):
    parts = path.strip("/").split("/")
    for end in range(1, len(parts) + 1):
        candidate = "/".join(parts[:end])
        if any(fnmatch.fnmatch(candidate, pattern) for pattern in ignore):
            return True
    return False


def main(argv):
    ignore = patterns()
    if argv[:1] == ["filter"]:
        keep = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--keep"]
        paths = sys.stdin.buffer.read().split(b"\0")
        out = sys.stdout.buffer
        for raw in paths:
            if not raw:
                continue
            path = raw.decode("utf-8", "surrogateescape")
            if not never_ships(path, ignore) or any(path.startswith(prefix) for prefix in keep):
                out.write(raw + b"\0")
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        with tarfile.open(argv[1]) as tar:
            found = [m.name for m in tar.getmembers() if never_ships(m.name, ignore)]
        for name in found:
            print(name)
        return 1 if found else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
