"""Run a command and write "<wall seconds> <peak RSS KiB>" of its process tree to a file.

A process started straight from the harness reports the harness's own RSS as its peak: exec folds the high-water
mark of the address space it replaces, the parent's under vfork/fork, into ru_maxrss. This wrapper is a small,
site-less Python process, so the command's figure starts from the wrapper's few MiB, not from the harness's.
ru_maxrss of a reaped child covers its own reaped descendants (ansible-playbook's workers and module processes).

    python -S rusage_wrapper.py OUT_FILE COMMAND [ARGS...]
"""
import os
import sys
import time


def main():
    out, argv = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    with open(out, "w") as f:
        f.write(f"{wall:.6f} {usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


main()
