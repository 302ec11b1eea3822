"""Helpers shared by bench.py and bigenv.py (standard library only)."""

import os
import shutil
import sys


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def human_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return "%.1f %s" % (n / size, unit)
    return "%d B" % n


def fmt_s(sec):
    if sec is None:
        return "n/a"
    if sec < 1:
        return "%.1f ms" % (sec * 1000)
    return "%.2f s" % sec


def fmt_delta(sec):
    return ("+" if sec >= 0 else "−") + fmt_s(abs(sec))


def rm(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


def strip(r):
    """Drops captured stderr from measurements before they go to JSON."""
    return {k: ({kk: vv for kk, vv in v.items() if kk != "stderr"} if isinstance(v, dict) else v) for k, v in r.items()}


def tree_stats(root):
    s = {"files": 0, "dirs": 0, "links": 0, "bytes": 0, "alloc": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            st = os.lstat(os.path.join(dirpath, d))
            if os.path.islink(os.path.join(dirpath, d)):
                s["links"] += 1
            else:
                s["dirs"] += 1
            s["alloc"] += st.st_blocks * 512
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            st = os.lstat(p)
            if os.path.islink(p):
                s["links"] += 1
            else:
                s["files"] += 1
                s["bytes"] += st.st_size
            s["alloc"] += st.st_blocks * 512
    s["inodes"] = s["files"] + s["dirs"] + s["links"]
    return s
