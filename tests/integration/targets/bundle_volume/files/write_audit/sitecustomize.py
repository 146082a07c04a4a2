# Loaded by every Python process that on_volume.sh starts (PYTHONPATH): ansible-playbook and each module it runs.
# A sys.addaudithook hook appends one JSON line per file opened for writing, directory made and rename, with the
# process's pid and argv[0], to TRIAGE_WRITE_LOG. Rename directories given as dir_fd are resolved through
# /proc/self/fd, so every rename has absolute paths on both sides. Test-only; nothing in the collection uses it.
import json
import os
import sys

_LOG = os.environ.get("TRIAGE_WRITE_LOG")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_busy = []


def _where(path, dir_fd=None):
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return None
    if os.path.isabs(path):
        return os.path.normpath(path)
    if dir_fd is None:
        return None  # relative to a directory the event does not name (open with dir_fd): not located
    try:
        return os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), path)
    except OSError:
        return None


def _record(entry):
    entry.update(pid=os.getpid(), argv0=os.path.basename(sys.argv[0]) if sys.argv else "")
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def _hook(event, args):
    if _busy or event not in ("open", "os.rename", "os.mkdir"):
        return
    _busy.append(1)
    try:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not isinstance(path, int):
                _record({"event": "write", "path": _where(path), "given": os.fsdecode(path)})
        elif event == "os.rename":
            src, dst, src_dir_fd, dst_dir_fd = args
            _record({"event": "rename", "src": _where(src, src_dir_fd), "dst": _where(dst, dst_dir_fd)})
        else:
            path, _mode, dir_fd = args
            _record({"event": "mkdir", "path": _where(path, dir_fd), "given": os.fsdecode(path)})
    except Exception:  # noqa: BLE001 - an audit hook must never break the process it watches
        pass
    finally:
        _busy.pop()


if _LOG:
    sys.addaudithook(_hook)
