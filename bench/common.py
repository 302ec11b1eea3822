"""Helpers shared by bench.py and bigenv.py (standard library only)."""

import os
import shutil
import sys
import time


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


def dirty_bytes():
    """Dirty + Writeback from /proc/meminfo: page-cache data not yet on disk."""
    n = 0
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Dirty", "Writeback"):
                n += int(rest.split()[0]) * 1024  # the kernel reports kB
    return n


def settle(limit=64 << 20, deadline=120.0, poll=0.2):
    """Waits until the kernel has written back what earlier cases wrote, so
    its writeback does not disturb the ms-scale timings that follow: sync,
    then poll until Dirty + Writeback are below limit (or the deadline
    passes; a fixed sleep would be too long or too short). The poll, not
    sync alone: sync may return while the loop-mounted scratch's backing
    file still holds dirty pages. Returns the seconds it waited, sync
    included."""
    start = time.perf_counter()
    os.sync()
    while True:
        left, waited = dirty_bytes(), time.perf_counter() - start
        if left < limit:
            log("settled in %.1f s (%s dirty or under writeback)" % (waited, human_bytes(left)))
            return waited
        if waited >= deadline:
            log("warning: not settled after %.0f s, %s still dirty or under writeback" % (waited, human_bytes(left)))
            return waited
        time.sleep(poll)


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
