#!/usr/bin/env bash
# on_volume.sh SIZE VOLUME REPORT COMMAND...: run COMMAND in a private mount namespace (unshare -m; needs root) where
#   VOLUME is a tmpfs of SIZE (the evidence volume, as a PVC mounted into an AWX job's container), and TMPDIR,
#   Ansible's local and remote temp directories, /var/tmp and whatever is written to /tmp (an overlay whose upper
#   layer is there) share one 8 MiB tmpfs: a bundle file staged in a temp dir either fails for lack of room or is
#   found there afterwards. write_audit/sitecustomize.py logs every write, mkdir and rename of every Python process
#   (ansible-playbook and its modules) to REPORT.writes.
# Then REPORT (JSON, outside every mount) says what COMMAND left: its exit code, every file and directory under the
# volume with st_dev and mode, what each bundle's manifest says, every file left in the temp dirs, and from the
# audit log the renames that cross the volume's boundary and the writes elsewhere of a file named like one of the
# bundle's. The mounts exist only in this namespace and end with it; nothing outside sees them.
set -euo pipefail
if [[ -z "${TRIAGE_IN_MOUNT_NS:-}" ]]; then
    TRIAGE_IN_MOUNT_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi
size="$1" volume="$2" report="$3"
shift 3
# A checkout under /tmp or /var/tmp (CI's clean clone may be one) stays the real one: the test's output dir
# (REPORT, VOLUME, what the hook ships) and the collection (ansible-test's junit, Python's caches) are in it. A handle
# on its top directory (/tmp/<name>) is kept before /tmp and /var/tmp are covered, and bound back over it afterwards;
# the rest of /tmp stays overlaid. Stray bundle writes into the checkout are still caught by the write audit.
outputs="$(realpath "$(dirname "${report}")")"
checkout=""
case "${outputs}/" in
    /tmp/*/*) checkout="/tmp/$(cut -d/ -f3 <<<"${outputs}")" ;;
    /var/tmp/*/*) checkout="/var/tmp/$(cut -d/ -f4 <<<"${outputs}")" ;;
esac
if [[ -n "${checkout}" ]]; then
    handle="$(mktemp -d /run/triage-bundle-volume.XXXXXX)"
    trap 'umount "${handle}" 2>/dev/null; rmdir "${handle}"' EXIT
    mount --bind "${checkout}" "${handle}"
fi
# The scratch tmpfs replaces /var/tmp here (short paths: ansible-core 2.21 puts a Unix socket under TMPDIR, and a
# socket path has at most 107 bytes); /tmp becomes an overlay whose upper layer is on it.
scratch=/var/tmp
mount -t tmpfs -o size=8m,mode=1777 triage-scratch "${scratch}"
mkdir -p "${scratch}/upper-tmp" "${scratch}/work-tmp"
mount -t overlay triage-tmp -o "lowerdir=/tmp,upperdir=${scratch}/upper-tmp,workdir=${scratch}/work-tmp" /tmp
if [[ -n "${checkout}" ]]; then
    mkdir -p "${checkout}"   # under /var/tmp: a directory of the scratch tmpfs
    mount --bind "${handle}" "${checkout}"
fi
mkdir -p "${scratch}/tmp" "${scratch}/ansible-local" "${scratch}/ansible-remote" "${volume}"
mount -t tmpfs -o "size=${size},mode=0755" triage-evidence "${volume}"
export TMPDIR="${scratch}/tmp" ANSIBLE_LOCAL_TEMP="${scratch}/ansible-local" ANSIBLE_REMOTE_TMP="${scratch}/ansible-remote"
# Every write, mkdir and rename of every Python process below, to ${report}.writes (write_audit/sitecustomize.py).
export TRIAGE_WRITE_LOG="${report}.writes"
audit_dir="$(cd "$(dirname "$0")" && pwd)/write_audit"
export PYTHONPATH="${audit_dir}${PYTHONPATH:+:${PYTHONPATH}}"
rm -f "${TRIAGE_WRITE_LOG}"
rc=0
"$@" || rc=$?
python3 - "${rc}" "${volume}" "${report}" "${scratch}" "${TRIAGE_WRITE_LOG}" <<'PYEOF'
import json
import os
import stat
import sys

rc, report, scratch, write_log = int(sys.argv[1]), sys.argv[3], sys.argv[4], sys.argv[5]
volume = os.path.realpath(sys.argv[2])


def walk(top):
    found = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            found.append({"path": path, "dev": info.st_dev, "mode": "%04o" % stat.S_IMODE(info.st_mode),
                          "type": "dir" if stat.S_ISDIR(info.st_mode) else
                          "file" if stat.S_ISREG(info.st_mode) else "other", "size": info.st_size})
    return found


def manifests(top):
    """What each bundle's manifest says: its state, the artifacts it lists, the failures it records."""
    found = {}
    for root, _dirs, files in os.walk(top):
        if "manifest.json" in files:
            with open(os.path.join(root, "manifest.json")) as handle:
                manifest = json.load(handle)
            found[os.path.basename(root)] = {"state": manifest["state"], "failures": manifest["failures"],
                                             "artifacts": [a["path"] for a in manifest["artifacts"]]}
    return found


def inside(path):
    return path is not None and (path == volume or path.startswith(volume + os.sep))


def writes(names):
    """From the audit log: how many writes landed in the volume, the renames that cross its boundary (or whose
    side is unknown), and the writes elsewhere of a file named like one of the bundle's (or a .partial)."""
    events = []
    if os.path.exists(write_log):
        with open(write_log) as handle:
            events = [json.loads(line) for line in handle]
    crossing = [e for e in events if e["event"] == "rename" and inside(e["src"]) != inside(e["dst"])]
    unknown = [e for e in events if e["event"] == "rename" and None in (e["src"], e["dst"])]
    elsewhere = [e for e in events if e["event"] == "write" and e["path"] is not None and not inside(e["path"])
                 and (os.path.basename(e["path"]) in names or e["path"].endswith(".partial"))]
    return {"in_volume": len([e for e in events if e["event"] == "write" and inside(e["path"])]),
            "renames_in_volume": len([e for e in events if e["event"] == "rename" and inside(e["dst"])]),
            "crossing_renames": crossing + unknown, "bundle_names_elsewhere": elsewhere,
            "module_processes": len({e["pid"] for e in events if e["argv0"].startswith("AnsiballZ_")})}


entries = walk(volume)
# Whatever is left in the temp dirs (the overlays' upper layers hold exactly what was written to /tmp and /var/tmp).
left = [entry for entry in walk(scratch) if entry["type"] != "dir"
        and not entry["path"][len(scratch):].startswith("/work-")]
result = {"rc": rc, "manifests": manifests(volume), "entries": entries, "temp_left": left,
          "writes": writes({os.path.basename(e["path"]) for e in entries if e["type"] == "file"}),
          "volume_dev": os.stat(volume).st_dev, "scratch_dev": os.stat(scratch).st_dev, "tmp_dev": os.stat("/tmp").st_dev}
with open(report, "w") as handle:
    json.dump(result, handle)
PYEOF
