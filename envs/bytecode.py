# senv's bytecode step, one worker (see envs/bytecode.go): compile each .py
# file named in the NUL-separated list file argv[1] to its .pyc, as pip and
# uv do at the end of an install. Like them, it writes the .pyc a job's
# import reads (optimization 0, in the source's __pycache__, whatever
# PYTHONOPTIMIZE or PYTHONPYCACHEPREFIX say; timestamp-checked unless
# SOURCE_DATE_EPOCH asks for hashes), keeps a .pyc that is already
# current, and passes over a file it cannot compile (vendored Python 2
# code, templates, a name too long for its .pyc). Unlike them, it fails
# when the filesystem is out of room or broken: the env would ship without
# its bytecode.
import errno
import importlib.util
import os
import py_compile
import sys
import warnings

FATAL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def current(src, pyc):
    try:
        with open(pyc, "rb") as f:
            head = f.read(16)
        st = os.stat(src)
    except OSError:
        return False
    return (len(head) == 16 and head[:4] == importlib.util.MAGIC_NUMBER
            and head[4:8] == b"\0\0\0\0"  # timestamp-checked
            and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF)


sys.pycache_prefix = None
warnings.simplefilter("ignore")  # SyntaxWarnings of the packages' code
with open(sys.argv[1], "rb") as f:
    paths = [os.fsdecode(p) for p in f.read().split(b"\0") if p]
for src in paths:
    pyc = importlib.util.cache_from_source(src, optimization="")
    if current(src, pyc):
        continue
    try:
        py_compile.compile(src, cfile=pyc, doraise=True, optimize=0)
    except py_compile.PyCompileError:
        pass
    except OSError as e:
        if e.errno in FATAL:
            sys.exit("senv: cannot write %s: %s" % (pyc, e.strerror))
