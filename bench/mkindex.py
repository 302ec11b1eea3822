"""Writes a PEP 503 simple index of a wheelhouse, as a static tree.

    python3 bench/mkindex.py WHEELHOUSE OUT

OUT/simple/NAME/index.html links each wheel of project NAME by its file://
URL with a #sha256= fragment, as PyPI's pages do. A resolver pointed at
--index-url file://OUT/simple takes the hashes from the page, as it does
from PyPI, where with --find-links WHEELHOUSE it must read every wheel to
hash it for a lock (2.8 GB for the torch stack). OUT/.complete is written
last; an existing one makes this a no-op.
"""

import hashlib
import html
import os
import re
import sys


def main(wheels, out):
    if os.path.exists(os.path.join(out, ".complete")):
        return
    projects = {}
    for name in sorted(os.listdir(wheels)):
        if not name.endswith(".whl"):
            continue
        project = re.sub(r"[-_.]+", "-", name.split("-")[0]).lower()  # PEP 503 normalization
        h = hashlib.sha256()
        with open(os.path.join(wheels, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        url = "file://%s/%s#sha256=%s" % (os.path.abspath(wheels), name, h.hexdigest())
        projects.setdefault(project, []).append((name, url))
    root = os.path.join(out, "simple")
    os.makedirs(root, exist_ok=True)
    page = "<!DOCTYPE html>\n<html><body>\n%s</body></html>\n"
    for project, files in projects.items():
        os.makedirs(os.path.join(root, project), exist_ok=True)
        links = "".join('<a href="%s">%s</a>\n' % (html.escape(u), html.escape(n)) for n, u in files)
        with open(os.path.join(root, project, "index.html"), "w") as f:
            f.write(page % links)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(page % "".join('<a href="%s/">%s</a>\n' % (p, p) for p in projects))
    open(os.path.join(out, ".complete"), "w").close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
