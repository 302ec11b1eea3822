# senv's bytecode step, one worker (see envs/bytecode.go): compile each .py
# file named in the NUL-separated list file argv[1] to its .pyc, as pip and
# uv do at the end of an install. Like them, it writes the default .pyc
# (optimization 0; timestamp-checked unless SOURCE_DATE_EPOCH asks for
# hashes), keeps a .pyc that is already current, and leaves a file that does
# not compile (vendored Python 2 code, templates) as source. Unlike
# compileall, an error writing a .pyc (a full disk) fails the step.
import importlib.util
import os
import py_compile
import sys
import warnings


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


warnings.simplefilter("ignore")  # SyntaxWarnings of the packages' code
with open(sys.argv[1], "rb") as f:
    paths = [os.fsdecode(p) for p in f.read().split(b"\0") if p]
for src in paths:
    pyc = importlib.util.cache_from_source(src)
    if current(src, pyc):
        continue
    try:
        py_compile.compile(src, cfile=pyc, doraise=True)
    except py_compile.PyCompileError:
        pass
