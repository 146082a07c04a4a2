"""A hostile `tar` for the pod_fetch traversal suite: ignores what it is asked and writes a crafted archive.

The case is the last argument (`./<case>`, what pod_fetch asks for with `tar cf - -C <dir> ./<case>`). Every
name meant to escape starts with the run's mark (env ESCAPE_MARK, `triage-escape-<number>`), so a scan of the
filesystem can find any file that got out, and only this run's.
"""
import os
import sys
import tarfile

mark = os.environ.get("ESCAPE_MARK", "triage-escape")

out = sys.stdout.buffer
case = sys.argv[-1].lstrip("./")


def header(name, size=0, kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mode, info.mtime = size, kind, target, 0o644, 1700000000
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def regular(name, data):
    out.write(header(name, len(data)) + data + b"\0" * (-len(data) % 512))


def end():
    out.write(b"\0" * 1024)


prefix = "./" + case + "/"
if case == "dotdot":
    regular(prefix + "ok.txt", b"fine\n")
    regular(prefix + "../../../../" + mark + "-dotdot", b"escaped\n")
    regular("../../" + mark + "-dotdot2", b"escaped\n")
    end()
elif case == "absolute":
    regular("/etc/" + mark + "-absolute", b"escaped\n")
    regular("/tmp/" + mark + "-absolute", b"escaped\n")
    end()
elif case == "symlink":
    out.write(header(prefix + "root", kind=tarfile.SYMTYPE, target="/"))
    regular(prefix + "root/tmp/" + mark + "-symlink", b"through the link\n")
    end()
elif case == "hardlink":
    out.write(header(prefix + "passwd", kind=tarfile.LNKTYPE, target="/etc/passwd"))
    regular(prefix + "after.txt", b"after the link\n")
    end()
elif case == "huge":
    out.write(header(prefix + "big", 10 * 1024 ** 3))
    block = b"\0" * 65536
    while True:
        out.write(block)
elif case == "truncated":
    regular(prefix + "whole.txt", b"whole\n")
    out.write(header(prefix + "cut.bin", 100000) + b"x" * 5000)
    out.flush()
elif case == "newline":
    regular(prefix + "evil\nname", b"newline in the name\n")
    end()
else:
    sys.stderr.write("hostile tar: unknown case %r\n" % case)
    sys.exit(2)
out.flush()
