#!/usr/bin/env python3
"""Solve time per conda-family tool on a large synthetic channel (issue 10).

Writes a channel of N records (noarch packages, two versions each, each
depending on a few earlier packages) and times one dry-run solve of the same
request with every tool found: micromamba 2.x and 1.5, mamba 2.x, conda with
--solver=libmamba and --solver=classic (the last under a time limit). A
dry-run solve reads only repodata.json, so no package files are needed.
Reported, not asserted; prints a Markdown table.

    . /opt/senv-conda-tools/env.sh; python3 bench/conda_solve.py [--records 20000] [--limit 120]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time


def make_channel(root, names, seed=1):
    rng = random.Random(seed)
    packages = {}
    for i in range(names):
        deps = sorted({"pkg%d" % rng.randrange(i) for _ in range(min(i, 3))})
        for version in ("1.0", "2.0"):
            fn = "pkg%d-%s-0.tar.bz2" % (i, version)
            packages[fn] = {
                "name": "pkg%d" % i, "version": version, "build": "0", "build_number": 0,
                "depends": deps, "subdir": "noarch", "noarch": "generic",
                "md5": "0" * 32, "sha256": "0" * 64, "size": 1, "license": "MIT", "timestamp": 0,
            }
    for subdir, pkgs in (("noarch", packages), ("linux-64", {})):
        os.makedirs(os.path.join(root, subdir), exist_ok=True)
        with open(os.path.join(root, subdir, "repodata.json"), "w") as f:
            json.dump({"info": {"subdir": subdir}, "packages": pkgs, "packages.conda": {}, "repodata_version": 1}, f)
    return len(packages)


def solve(argv, env, limit):
    start = time.monotonic()
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, "over %d s" % limit
    took = time.monotonic() - start
    try:
        out = json.loads(p.stdout[p.stdout.index("{"):])
        link = out.get("actions", {}).get("LINK", [])
        return took, "%d packages" % len(link) if p.returncode == 0 else "failed: %s" % p.stderr.strip()[-200:]
    except ValueError:
        return took, "failed: %s" % (p.stderr or p.stdout).strip()[-200:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--limit", type=int, default=120, help="seconds a solve may take")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="senv-bench-solve-")
    try:
        channel = os.path.join(work, "channel")
        n = make_channel(channel, args.records // 2)
        request = ["pkg%d" % i for i in range(args.records // 2 - 5, args.records // 2)]
        tools = []
        for name, binary in (("micromamba 2", shutil.which("micromamba")), ("mamba 2", shutil.which("mamba")),
                             ("micromamba 1.5", os.environ.get("SENV_TEST_MICROMAMBA15"))):
            if binary:
                tools.append((name, [binary, "create", "--dry-run", "--json", "-y"]))
        conda = shutil.which("conda")
        if conda:
            for s in ("libmamba", "classic"):
                tools.append(("conda --solver=" + s, [conda, "create", "--dry-run", "--json", "-y", "--solver=" + s]))
        print("Synthetic channel: %d records (%d names x 2 versions, up to 3 dependencies each); request: %s" %
              (n, args.records // 2, " ".join(request)))
        print()
        print("| tool | solve (dry run) | result |")
        print("|---|---|---|")
        for name, base in tools:
            env = dict(os.environ, MAMBA_ROOT_PREFIX=os.path.join(work, "root-" + name.replace(" ", "_")),
                       CONDA_PKGS_DIRS=os.path.join(work, "pkgs-" + name.replace(" ", "_")), CONDARC=os.devnull)
            prefix = os.path.join(work, "prefix")
            took, result = solve(base + ["-p", prefix, "--override-channels", "-c", "file://" + channel] + request, env, args.limit)
            print("| %s | %s | %s |" % (name, "%.2f s" % took if took is not None else "-", result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
