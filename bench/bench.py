#!/usr/bin/env python3
"""senv benchmark harness; bench/run.sh prepares the inputs and calls it.

Every case is timed over several runs after a warm-up; the untimed setup of
each run (removing the previous stage or target dir, sync) happens before
the clock starts. Medians are reported, and every ratio is against a
baseline measured in the same invocation. Results go to stdout as Markdown
tables and to OUT/results.json and OUT/results.md.

Only the standard library is used, so the base interpreter can run it.
"""

import argparse
import contextlib
import concurrent.futures
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import time

from bigenv import BigEnvCases
from common import fmt_delta, fmt_s, human_bytes, log, rm, settle, strip, tree_stats

SCI = ["numpy", "scipy", "pandas", "matplotlib", "scikit-learn"]
IMPORT = "import numpy, scipy, pandas"
STAGED_RE = re.compile(r"cache hit, staged (\d+) files \(([^)]*)\)(?: from \S+)? in ([0-9.]+)(ms|s)")


class Bench(BigEnvCases):
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.runs = a.runs or (3 if a.quick else 5)
        self.warmup = 1
        self.senv = a.senv
        self.python = a.python
        self.uv = shutil.which(a.uv) or a.uv
        self.work = a.work
        self.primary = a.work  # the scratch filesystem most cases run on
        self.out = a.out
        self.cache = os.path.join(a.bench_cache, "run", "cache")
        self.stage = os.path.join(self.work, "stage")
        self.tdir = os.path.join(self.work, "target")
        self.env = dict(os.environ)
        # A batch job does not have it, and it would hide the cost of stale
        # .pyc files (Python would recompile in memory on every run).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.update({
            "SENV_CACHE_DIR": self.cache,
            "SENV_STAGE_DIR": self.stage,
            "SENV_PYTHON": self.python,
            "SENV_LOCK_TIMEOUT": "30m",
            "UV_CACHE_DIR": os.path.join(a.bench_cache, "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CACHE_DIR": os.path.join(self.work, "pip-cache"),
        })
        self.results = {"mode": "quick" if a.quick else "full", "runs": self.runs, "warmup": self.warmup,
                        "machine": {}, "cases": {}, "targets": [], "profile": {}}
        self.md = []

    # ---- running and timing ------------------------------------------

    def run(self, argv, env=None, check=True):
        """Runs argv once; returns (seconds, stderr)."""
        start = time.perf_counter()
        p = subprocess.run(argv, env=env or self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        err = p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (shlex.join(argv), p.returncode, err[-3000:]))
        return elapsed, err

    def measure(self, argv, setup=None, runs=None, warmup=None, env=None, sync=True):
        """Times argv: warm-up runs, then runs; setup() runs untimed before each."""
        return self.measure_group({"x": (argv, setup)}, runs, warmup, env, sync)["x"]

    def measure_group(self, cases, runs=None, warmup=None, env=None, sync=True):
        """Times several commands round-robin (a, b, c, a, b, c, ...), so a
        change of machine load hits them all alike. cases maps a key to
        (argv, setup); setup() runs untimed before each run."""
        runs = runs or self.runs
        warmup = self.warmup if warmup is None else warmup
        res = {k: {"argv": argv, "samples": [], "stderr": []} for k, (argv, _) in cases.items()}
        load = [loadavg()]
        for i in range(warmup + runs):
            for k, (argv, setup) in cases.items():
                if setup:
                    setup()
                if sync:
                    os.sync()
                t, err = self.run(argv, env=env)
                if i >= warmup:
                    res[k]["samples"].append(t)
                    res[k]["stderr"].append(err)
        load.append(loadavg())
        self.results.setdefault("load", []).extend(load)
        for r in res.values():
            xs = r["samples"]
            r.update(median=statistics.median(xs), min=min(xs), max=max(xs), n=len(xs), load=load)
        return res

    def senv_run(self, flags, payload):
        return [self.senv, "run"] + flags + ["--"] + payload

    def reset_stage(self):
        rm(self.stage)

    def reset_target(self):
        rm(self.tdir)

    def reset_all(self):
        rm(self.stage)
        rm(self.tdir)

    # ---- scratch filesystems -----------------------------------------

    def filesystems(self):
        """The scratch dirs the warm starts are measured on: the primary
        (journaled ext4 when bench/run.sh could make one) and tmpfs."""
        return [self.primary] + ([self.a.tmpfs] if self.a.tmpfs else [])

    def fs_label(self, work):
        out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", work], capture_output=True, text=True).stdout.split()
        fstype, src = (out + ["?", "?"])[:2]
        return "%s (%s)" % (fstype, "loop image" if src.startswith("/dev/loop") else src)

    @contextlib.contextmanager
    def on(self, work):
        """Runs the block with the stage dir and targets on scratch work."""
        saved = (self.work, self.stage, self.tdir, self.env["SENV_STAGE_DIR"])
        self.work, self.stage, self.tdir = work, os.path.join(work, "stage"), os.path.join(work, "target")
        self.env["SENV_STAGE_DIR"] = self.stage
        try:
            yield
        finally:
            self.reset_all()
            self.work, self.stage, self.tdir, self.env["SENV_STAGE_DIR"] = saved

    # ---- output --------------------------------------------------------

    def emit(self, line=""):
        print(line, flush=True)
        self.md.append(line)

    def table(self, title, header, rows):
        self.emit("")
        self.emit("### " + title)
        self.emit("")
        self.emit("| " + " | ".join(header) + " |")
        self.emit("|" + "---|" * len(header))
        for r in rows:
            self.emit("| " + " | ".join(str(c) for c in r) + " |")

    def case_row(self, name, m, base=None, extra=""):
        ratio = "%.2f×" % (m["median"] / base["median"]) if base else "1.00× (baseline)"
        return [name, m["n"], fmt_s(m["median"]), "%s – %s" % (fmt_s(m["min"]), fmt_s(m["max"])), ratio, extra]

    def target(self, name, value, limit, ok):
        self.results["targets"].append({"target": name, "value": value, "limit": limit, "met": bool(ok)})

    # ---- machine -------------------------------------------------------

    def machine(self):
        def out(argv):
            try:
                return subprocess.run(argv, capture_output=True, text=True, env=self.env).stdout.strip()
            except OSError:
                return "n/a"

        def fs(path):
            src, fstype, size, opts = out(["findmnt", "-n", "-o", "SOURCE,FSTYPE,SIZE,OPTIONS", "-T", path]).split()[:4]
            return "%s %s, %s, %s" % (src, fstype, size, opts)

        mem = "n/a"
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = human_bytes(int(line.split()[1]) * 1024)
        cpu = "n/a"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        m = {
            "cpu": cpu, "nproc": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "cache fs (stand-in for the shared fs)": fs(self.cache),
            "scratch fs (node-local stage and baseline targets)": fs(self.work),
            "second scratch fs (warm starts, second column)": fs(self.a.tmpfs) if self.a.tmpfs else "none",
            "go": out(["go", "version"]), "python": out([self.python, "--version"]),
            "pip (in a new venv)": out([self.python, "-m", "pip", "--version"]).split(" from ")[0],
            "uv": out([self.uv, "--version"]), "zstd": out(["zstd", "--version"]),
            "tar": out(["tar", "--version"]).splitlines()[0], "senv": out([self.senv, "version"]).replace("\n", " "),
        }
        self.results["machine"] = m
        self.table("Machine", ["what", "value"], [[k, v] for k, v in m.items()])

    # ---- preparation ---------------------------------------------------

    def build_env(self, flags, env=None):
        """Builds flags' env into the cache (untimed); returns its ID and build line."""
        p = subprocess.run([self.senv, "build"] + flags, env=env or self.env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("senv build failed:\n" + p.stderr)
        return p.stdout.strip().split()[-1], p.stderr.strip()

    def entry(self, env_id):
        return os.path.join(self.cache, "v1", "envs", env_id)

    def sci_flags(self):
        flags = ["--manager", "uv", "--find-links", self.a.wheels_sci, "--no-index"]
        for p in SCI:
            flags += ["--pip", p]
        return flags

    def syn_flags(self, name):
        return ["--manager", "uv", "--find-links", self.a.wheels_syn, "--no-index", "--pip", name]

    def warm_uv_cache(self, wheels, pkgs):
        """One untimed uv install so uv's cache holds the unpacked wheels."""
        self.reset_target()
        self.run(self.uv_install(wheels, pkgs, compile_bytecode=False, payload=None))
        self.reset_target()

    def uv_install(self, wheels, pkgs, compile_bytecode, payload):
        t = self.tdir
        cmd = ("%s venv -q -p %s %s && %s pip install -q --offline --no-index --find-links %s --link-mode copy %s--python %s/bin/python %s"
               % (shlex.quote(self.uv), shlex.quote(self.python), shlex.quote(t), shlex.quote(self.uv), shlex.quote(wheels),
                  "--compile-bytecode " if compile_bytecode else "", shlex.quote(t), " ".join(shlex.quote(p) for p in pkgs)))
        if payload:
            cmd += " && %s/bin/python -c %s" % (shlex.quote(t), shlex.quote(payload))
        return ["sh", "-c", cmd]

    def pip_install(self, wheels, pkgs, payload):
        t = self.tdir
        cmd = ("%s -m venv %s && %s/bin/pip install -q --no-index --find-links %s %s"
               % (shlex.quote(self.python), shlex.quote(t), shlex.quote(t), shlex.quote(wheels), " ".join(shlex.quote(p) for p in pkgs)))
        if payload:
            cmd += " && %s/bin/python -c %s" % (shlex.quote(t), shlex.quote(payload))
        return ["sh", "-c", cmd]

    def tar_proxy(self, archive, payload, keep_mtime=True):
        t = self.tdir
        cmd = "mkdir %s && zstd -q -d -c %s | tar -x %s-C %s" % (shlex.quote(t), shlex.quote(archive), "" if keep_mtime else "-m ", shlex.quote(t))
        if payload:
            cmd += " && %s/bin/python -c %s" % (shlex.quote(t), shlex.quote(payload))
        return ["sh", "-c", cmd]

    # ---- cases ---------------------------------------------------------

    def case_warm(self):
        flags = self.sci_flags()
        env_id, _ = self.sci
        archive = os.path.join(self.entry(env_id), "env.tar.zst")
        prefix = os.path.join(self.stage, env_id)
        self.warm_uv_cache(self.a.wheels_sci, SCI)
        group = {
            "tar": (self.tar_proxy(archive, IMPORT), self.reset_target),
            "senv": (self.senv_run(flags, ["python", "-c", IMPORT]), self.reset_stage),
            "tar_m": (self.tar_proxy(archive, IMPORT, keep_mtime=False), self.reset_target),
            "uv": (self.uv_install(self.a.wheels_sci, SCI, False, IMPORT), self.reset_target),
        }
        if not self.quick:
            group["uvc"] = (self.uv_install(self.a.wheels_sci, SCI, True, IMPORT), self.reset_target)
        log("warm start, import payload, round-robin: %s" % ", ".join(group))
        r = self.measure_group(group)
        log("warm start, staging only, round-robin: senv run -- true, tar + zstd; first and second import after staging")
        r.update(self.measure_group({
            "tar_true": (self.tar_proxy(archive, None), self.reset_target),
            "senv_true": (self.senv_run(flags, ["true"]), self.reset_stage),
        }))
        # the payload alone, right after senv staged the env (stale .pyc
        # files are recompiled and rewritten) and once more (they are valid)
        py = [os.path.join(prefix, "bin", "python"), "-c", IMPORT]
        r.update(self.measure_group({
            "import_first": (py, lambda: (self.reset_stage(), self.run(self.senv_run(flags, ["true"])))),
            "import_again": (py, None),
        }))
        pip_runs = 1 if self.quick else self.runs
        log("warm start: per-job venv + pip (%d run%s)" % (pip_runs, "s" if pip_runs > 1 else ""))
        r["pip"] = self.measure(self.pip_install(self.a.wheels_sci, SCI, IMPORT), setup=self.reset_target,
                                runs=pip_runs, warmup=0 if self.quick else 1)
        self.reset_target()
        one_cpu = not self.quick and shutil.which("taskset") and (os.cpu_count() or 1) > 1
        if one_cpu:
            # how each method scales with cores: the same cases on one CPU
            runs1 = max(3, self.runs // 2)
            log("warm start on one CPU (taskset -c 0): tar, senv, per-job pip (%d runs)" % runs1)
            pin = ["taskset", "-c", "0"]
            r.update({k + "_1cpu": v for k, v in self.measure_group({
                "tar": (pin + self.tar_proxy(archive, IMPORT), self.reset_target),
                "senv": (pin + self.senv_run(flags, ["python", "-c", IMPORT]), self.reset_stage),
            }, runs=runs1).items()})
            r["pip_1cpu"] = self.measure(pin + self.pip_install(self.a.wheels_sci, SCI, IMPORT), setup=self.reset_target, runs=runs1, warmup=0)
            self.reset_target()
        staged = [parse_staged(e) for e in r["senv_true"]["stderr"]]
        staged = [s for s in staged if s]
        r["senv_reported_stage"] = statistics.median(s[2] for s in staged) if staged else None
        self.results["cases"]["warm"] = strip(r)

        base = r["tar"]
        man = self.manifest_counts(env_id)
        self.table("1. Warm start, scientific stack (%d files, %s; payload `python -c '%s'`)" % (man[0], human_bytes(man[1]), IMPORT),
                   ["method", "n", "median", "min – max", "vs tar+zstd", "note"], [
                       self.case_row("tar + zstd proxy (`zstd -d -c | tar -x`)", base, None, "load %.1f→%.1f" % tuple(base["load"])),
                       self.case_row("**senv run** (cache hit, staged + verified)", r["senv"], base),
                       self.case_row("tar + zstd proxy with `tar -m` (mtimes not kept, as senv)", r["tar_m"], base, "every .pyc stale"),
                       self.case_row("uv venv + uv pip install, warm cache, --link-mode copy", r["uv"], base, "no .pyc written"),
                   ] + ([self.case_row("… same + --compile-bytecode", r["uvc"], base, "same files as senv")] if "uvc" in r else []) + [
                       self.case_row("per-job python -m venv + pip install --no-index --find-links", r["pip"], base,
                                     "%.1f× senv" % (r["pip"]["median"] / r["senv"]["median"])),
                   ])
        self.table("1b. Warm start, split: staging only (payload `true`) and the payload alone",
                   ["method", "n", "median", "min – max", "vs baseline", "note"], [
                       self.case_row("tar + zstd proxy, extraction only", r["tar_true"]),
                       self.case_row("**senv run -- true**", r["senv_true"], r["tar_true"],
                                     "senv's own `staged … in` line: %s" % fmt_s(r["senv_reported_stage"])),
                       self.case_row("payload again (valid .pyc)", r["import_again"]),
                       self.case_row("payload right after senv staged the env", r["import_first"], r["import_again"],
                                     "%s%s" % (fmt_delta(r["import_first"]["median"] - r["import_again"]["median"]),
                                               ": .pyc recompiled (stale)" if r["import_first"]["median"] - r["import_again"]["median"] > 0.05 else "")),
                   ])
        if one_cpu:
            rows = []
            for name, key in (("tar + zstd proxy", "tar"), ("**senv run**", "senv"), ("per-job venv + pip", "pip")):
                one, two = r[key + "_1cpu"]["median"], r[key]["median"]
                rows.append([name, fmt_s(one), fmt_s(two), "%.2f×" % (one / two)])
            rows.append(["per-job pip / senv", "%.1f×" % (r["pip_1cpu"]["median"] / r["senv_1cpu"]["median"]),
                         "%.1f×" % (r["pip"]["median"] / r["senv"]["median"]), ""])
            self.table("1c. Warm start (import payload) on one CPU (`taskset -c 0`, %d runs) and on both" % r["senv_1cpu"]["n"],
                       ["method", "1 CPU", "%d CPUs" % os.cpu_count(), "speed-up"], rows)
        if self.a.tmpfs:
            self.warm_second_fs(r, archive, flags)
        ratio = r["senv"]["median"] / base["median"]
        self.target("warm start ≤ 1.2× tar+zstd proxy (import payload)", "%.2f×" % ratio, "≤ 1.20×", ratio <= 1.2)
        ratio2 = r["senv_true"]["median"] / r["tar_true"]["median"]
        self.target("warm start ≤ 1.2× tar+zstd proxy (staging only, payload true)", "%.2f×" % ratio2, "≤ 1.20×", ratio2 <= 1.2)
        self.target("warm start faster than uv warm copy-mode install", "%s vs %s" % (fmt_s(r["senv"]["median"]), fmt_s(r["uv"]["median"])),
                    "senv < uv", r["senv"]["median"] < r["uv"]["median"])
        speedup = r["pip"]["median"] / r["senv"]["median"]
        self.target("≥ 20× faster than per-job venv + pip (scientific stack)", "%.1f×" % speedup, "≥ 20×", speedup >= 20)

    def warm_second_fs(self, r, archive, flags):
        """The warm start's main rows again with the stage and targets on the
        second scratch (tmpfs), beside the primary's."""
        with self.on(self.a.tmpfs):
            log("warm start on %s, round-robin: tar + zstd and senv run, import payload and true" % self.a.tmpfs)
            t = self.measure_group({
                "tar": (self.tar_proxy(archive, IMPORT), self.reset_all),
                "senv": (self.senv_run(flags, ["python", "-c", IMPORT]), self.reset_all),
                "tar_true": (self.tar_proxy(archive, None), self.reset_all),
                "senv_true": (self.senv_run(flags, ["true"]), self.reset_all),
            })
        r.update({k + "@tmpfs": v for k, v in t.items()})
        rows = []
        for name, key in (("tar + zstd proxy, then the payload", "tar"), ("**senv run** (import payload)", "senv"),
                          ("tar + zstd proxy, extraction only", "tar_true"), ("**senv run -- true**", "senv_true")):
            rows.append([name, fmt_s(r[key]["median"]), fmt_s(r[key + "@tmpfs"]["median"])])
        for name, a, b in (("senv / tar+zstd (import payload)", "senv", "tar"), ("senv / tar+zstd (staging only)", "senv_true", "tar_true")):
            rows.append([name, "%.2f×" % (r[a]["median"] / r[b]["median"]), "%.2f×" % (r[a + "@tmpfs"]["median"] / r[b + "@tmpfs"]["median"])])
        self.table("1d. Warm start, scientific stack, on each scratch filesystem (medians of %d runs)" % r["senv"]["n"],
                   ["method", self.fs_label(self.primary), self.fs_label(self.a.tmpfs)], rows)

    def case_hot(self):
        flags = self.sci_flags()
        env_id, _ = self.sci
        prefix = os.path.join(self.stage, env_id)
        runs = max(20, 4 * self.runs)
        # the env must be staged: one untimed run
        self.run(self.senv_run(flags, ["true"]))
        # that run and the warm starts before it wrote hundreds of MiB: let
        # their writeback finish before the ms-scale timings
        settle_s = settle()
        log("hot start, round-robin: true, senv run -- true, uv run --with")
        r = self.measure_group({
            "true": (["true"], None),
            "senv": (self.senv_run(flags, ["true"]), None),
            "uvrun": ([self.uv, "run", "--no-project", "--offline", "--no-index", "--find-links", self.a.wheels_sci,
                       "--python", self.python, "--with", ",".join(SCI), "true"], None),
        }, runs=runs, warmup=3, sync=False)
        log("hot start, import payload: senv vs the staged venv's python")
        r.update(self.measure_group({
            "py": ([os.path.join(prefix, "bin", "python"), "-c", IMPORT], None),
            "senv_py": (self.senv_run(flags, ["python", "-c", IMPORT]), None),
        }, warmup=2, sync=False))
        r["settle"] = settle_s
        self.results["cases"]["hot"] = strip(r)
        base = r["true"]
        over = r["senv"]["median"] - base["median"]
        self.table("2. Hot start (env already staged)", ["method", "n", "median", "min – max", "vs baseline", "overhead"], [
            self.case_row("bare `true`", base),
            self.case_row("**senv run -- true**", r["senv"], base, fmt_delta(over)),
            self.case_row("uv run --no-project --with … true (warm cache, offline)", r["uvrun"], base,
                          fmt_delta(r["uvrun"]["median"] - base["median"])),
            self.case_row("staged venv's python -c '%s'" % IMPORT, r["py"]),
            self.case_row("**senv run -- python -c '%s'**" % IMPORT, r["senv_py"], r["py"],
                          fmt_delta(r["senv_py"]["median"] - r["py"]["median"])),
        ])
        self.target("hot start overhead ≤ 20 ms over bare true", fmt_delta(over), "≤ 20 ms", over <= 0.020)

    def case_conda(self):
        """conda family: senv's warm and hot start of a micromamba env vs the
        per-job `micromamba create --file` of the same explicit list (the
        package cache warm, its best case)."""
        mm, channel = self.a.micromamba, self.a.conda_channel
        if not mm or not channel:
            log("conda case skipped: no micromamba or no channel (set SENV_BENCH_MICROMAMBA and SENV_BENCH_CONDA_CHANNEL)")
            return
        env = dict(self.env, SENV_MICROMAMBA=mm)
        pkgs = ["hello-prefix", "demo-noarch", "python", "pip"]
        flags = ["--manager", "micromamba", "--channel", channel]
        for p in pkgs:
            flags += ["--conda", p]
        log("building the conda env into the cache (untimed)")
        env_id, build = self.build_env(flags, env)
        explicit = self.lock_explicit()
        efile = os.path.join(self.work, "explicit.txt")
        with open(efile, "w") as f:
            f.write(explicit)
        pkgs_dir = os.path.join(self.work, "conda-pkgs")
        cenv = dict(env, CONDA_PKGS_DIRS=pkgs_dir, MAMBA_ROOT_PREFIX=os.path.join(self.work, "mamba-root"))
        t = self.tdir
        create = ["sh", "-c", "%s create -y -q -p %s --file %s >/dev/null && %s/bin/demo-noarch"
                  % (shlex.quote(mm), shlex.quote(t), shlex.quote(efile), shlex.quote(t))]
        log("conda warm start, round-robin: senv run -- demo-noarch (env not staged), per-job micromamba create --file")
        r = self.measure_group({
            "senv": (self.senv_run(flags, ["demo-noarch"]), self.reset_stage),
            "create": (create, self.reset_target),
        }, env=cenv)
        self.reset_target()
        self.run(self.senv_run(flags, ["true"]), env=env)
        log("conda hot start: senv run -- demo-noarch (staged)")
        r["hot"] = self.measure(self.senv_run(flags, ["demo-noarch"]), runs=max(10, 2 * self.runs), warmup=2, env=env, sync=False)
        staged = [parse_staged(e) for e in r["senv"]["stderr"]]
        files = staged[0][0] if staged and staged[0] else "?"
        self.results["cases"]["conda"] = strip(r)
        self.table("7. conda family: warm start vs per-job `micromamba create --file` (%s files, %s)" % (files, os.path.basename(mm)),
                   ["method", "n", "median", "min – max", "vs baseline", "note"], [
            self.case_row("per-job `micromamba create --file` + run (package cache warm)", r["create"]),
            self.case_row("**senv run -- demo-noarch**, warm start (from the cache)", r["senv"], r["create"]),
            self.case_row("**senv run -- demo-noarch**, hot start (staged)", r["hot"], r["create"]),
        ])
        self.emit("")
        self.emit("conda env build (untimed setup): `%s`" % build.replace("\n", "` `"))
        ratio = r["create"]["median"] / r["senv"]["median"]
        self.target("conda warm start faster than per-job `micromamba create --file`", "%s vs %s: %.1f×"
                    % (fmt_s(r["senv"]["median"]), fmt_s(r["create"]["median"]), ratio), "> 1×", ratio > 1)

    def lock_explicit(self):
        """The @EXPLICIT list of the micromamba lock the cache recorded."""
        import tomllib
        locks = os.path.join(self.cache, "v1", "locks")
        for name in sorted(os.listdir(locks)):
            with open(os.path.join(locks, name), "rb") as f:
                text = f.read().decode()
            if "@EXPLICIT" not in text:
                continue
            found = []

            def walk(v):
                if isinstance(v, dict):
                    for k, x in v.items():
                        if k == "explicit" and isinstance(x, str):
                            found.append(x)
                        walk(x)
            walk(tomllib.loads(text))
            if found:
                return found[0]
        raise RuntimeError("no conda lock in " + locks)

    def case_check(self):
        script = os.path.join(self.work, "job.sh")
        with open(script, "w") as f:
            f.write("#!/bin/bash\n#SBATCH --time=01:00:00\n#SBATCH --cpus-per-task=4\n#ENV manager uv\n#ENV find-links %s\n"
                    "#ENV no-index\n#ENV pip %s\n#ENV setenv OMP_NUM_THREADS=4\n\npython -c '%s'\n"
                    % (self.a.wheels_sci, " ".join(SCI), IMPORT))
        runs = max(20, 4 * self.runs)
        log("senv check, senv render")
        r = self.measure_group({"true": (["true"], None), "check": ([self.senv, "check", script], None),
                                "render": ([self.senv, "render", script], None)}, runs=runs, warmup=3, sync=False)
        self.results["cases"]["check"] = strip(r)
        self.table("3. senv check / senv render, one script", ["command", "n", "median", "min – max", "vs bare true", ""], [
            self.case_row("bare `true` (process spawn)", r["true"]),
            self.case_row("senv check job.sh", r["check"], r["true"]),
            self.case_row("senv render job.sh", r["render"], r["true"]),
        ])

    def case_herd(self):
        for n in (16,) + (() if self.quick else (64,)):
            self.herd_case(n)

    def herd_case(self, n):
        """n cold starts of one spec, as a job array would start them: on
        one node (shared stage dir), on as many simulated nodes as this
        machine has CPUs (a real node stages on CPUs of its own), and (n=16)
        on n simulated nodes sharing those CPUs. A simulated node is a mount
        namespace where the stage path is bind-mounted from a per-node dir,
        so the tasks of one node share its stage, as on a cluster."""
        if self.quick:
            name, flags, reps = "synthetic 20k files", self.syn_flags("syn20k"), 1
        else:
            name, flags, reps = "scientific stack", self.sci_flags(), self.runs if n <= 16 else 2
        ns = self.a.unshare
        cpus = os.cpu_count() or 1
        layouts = [1] + (sorted(({min(cpus, n)} | ({n} if n <= 16 else set())) - {1}) if ns else [])
        r = {"build": [], "stage": [], "mode": ns or "one node"}
        for k in layouts:
            r["herd%d" % k], r["outcomes%d" % k] = [], []
        if n in layouts:
            r["herd_warm%d" % n] = []
        herd_stage = os.path.join(self.work, "hstage")
        nodes = os.path.join(self.work, "hnodes")
        cache = os.path.join(self.a.bench_cache, "run", "herd-cache")
        env = dict(self.env, SENV_CACHE_DIR=cache, SENV_STAGE_DIR=herd_stage)
        argv = self.senv_run(flags, ["true"])

        def fresh(keep_cache=False):
            if not keep_cache:
                rm(cache)
            rm(herd_stage)
            rm(nodes)
            os.mkdir(herd_stage, 0o700)
            os.mkdir(nodes, 0o700)
            for k in range(n):
                os.mkdir(os.path.join(nodes, str(k)), 0o700)
            os.sync()

        def on_nodes(k):
            if k == 1:
                return [argv] * n
            wrap = ns.split() + ["sh", "-c", 'mount --bind "$1" "$0" && shift && exec "$@"', herd_stage]
            return [wrap + [os.path.join(nodes, str(i % k))] + argv for i in range(n)]

        for rep in range(reps):
            log("herd %d/%d (%s): one build alone, one stage alone, %d concurrent cold starts on %s node(s)"
                % (rep + 1, reps, name, n, ", ".join(map(str, layouts))))
            fresh()
            r["build"].append(self.run(argv, env=env)[0])
            rm(herd_stage)
            os.mkdir(herd_stage, 0o700)
            os.sync()
            r["stage"].append(self.run(argv, env=env)[0])
            for k in layouts:
                if k == n and not self.quick and rep >= 2:
                    continue  # CPU-starved and slow: two reps are enough
                fresh()
                t, errs = self.herd(on_nodes(k), env)
                r["herd%d" % k].append(t)
                r["outcomes%d" % k].append(outcomes(errs))
                if k == n:
                    fresh(keep_cache=True)
                    r["herd_warm%d" % n].append(self.herd(on_nodes(k), env)[0])
        rm(cache)
        rm(herd_stage)
        rm(nodes)
        self.results["cases"]["herd" if n == 16 else "herd%d" % n] = r
        b, s = statistics.median(r["build"]), statistics.median(r["stage"])
        rows = [["one build alone (fresh cache and stage)", len(r["build"]), fmt_s(b), "", ""],
                ["one stage alone (cache hit)", len(r["stage"]), fmt_s(s), "", ""],
                ["build + stage", "", fmt_s(b + s), "1.00× (baseline)", ""]]
        for k in layouts:
            h = statistics.median(r["herd%d" % k])
            if k == 1:
                where = "on one node (shared stage dir)"
            elif k < n:
                where = "on %d simulated nodes, %d tasks each (one node per CPU)" % (k, n // k)
            else:
                where = "on %d simulated nodes, one task each, sharing %d CPUs" % (k, cpus)
            rows.append(["**%d concurrent cold starts %s**" % (n, where), len(r["herd%d" % k]), fmt_s(h),
                         "%.2f×" % (h / (b + s)), r["outcomes%d" % k][0]])
            if k == n:
                w = statistics.median(r["herd_warm%d" % n])
                rows.append(["%d concurrent warm starts on those %d nodes (cache populated)" % (n, n), len(r["herd_warm%d" % n]),
                             fmt_s(w), "%.2f×" % (w / (b + s)), "the stages alone, on %d CPUs" % cpus])
                rows.append(["one build alone + those %d warm starts" % n, "", fmt_s(b + w), "%.2f×" % ((b + w) / (b + s)),
                             "cold herd / this: %.2f×" % (h / (b + w))])
        k = min(cpus, n) if min(cpus, n) in layouts else 1
        h = statistics.median(r["herd%d" % k])
        self.target("herd: %d cold starts on %d node(s) ≤ 1.3× one build + one stage" % (n, k), "%.2f×" % (h / (b + s)), "≤ 1.30×",
                    h / (b + s) <= 1.3)
        self.table("4%s. Herd: %d cold starts of one spec (%s), fresh cache and stage" % ("" if n == 16 else "b", n, name),
                   ["case", "n", "median wall", "vs build + stage", "outcomes (first rep)"], rows)

    def herd(self, argvs, env):
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(len(argvs)) as ex:
            futs = [ex.submit(subprocess.run, a, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL) for a in argvs]
            ps = [f.result() for f in futs]
        elapsed = time.perf_counter() - start
        for p in ps:
            if p.returncode != 0:
                raise RuntimeError("herd member exited %d:\n%s" % (p.returncode, p.stderr.decode(errors="replace")[-3000:]))
        return elapsed, [p.stderr.decode(errors="replace") for p in ps]

    def manifest_counts(self, env_id):
        with open(os.path.join(self.entry(env_id), "manifest.json")) as f:
            m = json.load(f)
        return sum(1 for e in m["files"] if "crc32c" in e), m["bytes"]

    def case_footprint(self):
        rows, data = [], {}
        envs = [("scientific stack", self.sci[0])] + [(n, i) for n, i in self.syn.items()]
        for name, env_id in envs:
            entry = tree_stats(self.entry(env_id))
            prefix = os.path.join(self.stage, env_id)
            if not os.path.isdir(prefix):
                self.run([self.senv, "run"] + (self.sci_flags() if env_id == self.sci[0] else self.syn_flags(name)) + ["--", "true"])
            venv = tree_stats(prefix)
            data[name] = {"entry": entry, "venv": venv}
            rows.append([name, "%d inodes, %s (%s on disk)" % (entry["inodes"], human_bytes(entry["bytes"]), human_bytes(entry["alloc"])),
                         "%d inodes (%d files, %d dirs, %d symlinks), %s" % (venv["inodes"], venv["files"], venv["dirs"], venv["links"], human_bytes(venv["bytes"])),
                         "%.0f×" % (venv["inodes"] / entry["inodes"]), "%.2f×" % (entry["bytes"] / venv["bytes"])])
        self.results["cases"]["footprint"] = data
        self.table("5. Shared-filesystem footprint per env: cache entry vs the unpacked venv",
                   ["env", "cache entry (shared fs)", "unpacked venv", "inodes saved", "bytes, entry / venv"], rows)

    def case_scaling(self):
        rows, data = [], {}
        for name in self.syn:
            env_id = self.syn[name]
            archive = os.path.join(self.entry(env_id), "env.tar.zst")
            files, size = self.manifest_counts(env_id)
            flags = self.syn_flags(name)
            self.warm_uv_cache(self.a.wheels_syn, [name])
            log("scaling %s (%d files): senv, tar + zstd, uv copy" % (name, files))
            group = {"tar": (self.tar_proxy(archive, None), self.reset_target),
                     "senv": (self.senv_run(flags, ["true"]), self.reset_stage),
                     "uv": (self.uv_install(self.a.wheels_syn, [name], False, None), self.reset_target)}
            if not self.quick and name != "syn100k":  # compiling 50k modules: half a minute a run
                group["uvc"] = (self.uv_install(self.a.wheels_syn, [name], True, None), self.reset_target)
            r = self.measure_group(group)
            self.reset_target()
            data[name] = strip(r)
            data[name]["files"] = files
            ratio = r["senv"]["median"] / r["tar"]["median"]
            rows.append([name, files, human_bytes(size), fmt_s(r["tar"]["median"]), fmt_s(r["senv"]["median"]), "%.2f×" % ratio,
                         "%.0f" % (files / r["senv"]["median"]), fmt_s(r["uv"]["median"]),
                         fmt_s(r["uvc"]["median"]) if "uvc" in r else "–"])
            self.target("scaling %s: senv ≤ 1.2× tar+zstd (payload true)" % name, "%.2f×" % ratio, "≤ 1.20×", ratio <= 1.2)
        self.results["cases"]["scaling"] = data
        self.table("6. Scaling: warm start vs env size (synthetic package, payload `true`)",
                   ["env", "files", "bytes", "tar + zstd", "senv run", "senv / tar", "senv files/s", "uv copy", "uv copy + compile"], rows)

    # ---- profile -------------------------------------------------------

    def profile(self):
        flags = self.sci_flags()
        env_id, _ = self.sci
        pdir = os.path.join(self.out, "profile")
        os.makedirs(pdir, exist_ok=True)
        prof = self.results["profile"]
        argv = self.senv_run(flags, ["true"])
        if shutil.which("strace"):
            log("profile: strace -c -f on a warm start")
            self.reset_stage()
            f = os.path.join(pdir, "strace-senv.txt")
            subprocess.run(["strace", "-c", "-f", "-o", f] + argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            prof["strace"] = head_table(f, 14)
        if shutil.which("perf") and subprocess.run(["perf", "stat", "-o", "/dev/null", "true"], capture_output=True).returncode == 0:
            log("profile: perf stat on senv and on tar + zstd")
            for name, cmd, reset in (("senv", argv, self.reset_stage),
                                     ("tar", self.tar_proxy(os.path.join(self.entry(env_id), "env.tar.zst"), None), self.reset_target)):
                reset()
                os.sync()
                f = os.path.join(pdir, "perf-stat-%s.txt" % name)
                subprocess.run(["perf", "stat", "-o", f, "--"] + cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                prof["perf-stat-" + name] = perf_stat_summary(f)
            self.reset_target()
            if not self.quick:
                log("profile: perf record -g on a warm start")
                self.reset_stage()
                os.sync()
                data = os.path.join(pdir, "perf.data")
                subprocess.run(["perf", "record", "-q", "-g", "-o", data, "--"] + argv, env=self.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,dso,sym", "--stdio", "-g", "none"],
                                     capture_output=True, text=True)
                f = os.path.join(pdir, "perf-report-senv.txt")
                with open(f, "w") as fh:
                    fh.write(rep.stdout)
                prof["perf-report"] = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")][:25]
        if not self.quick and shutil.which("go"):
            count = self.runs
            log("profile: go test -bench on envs.Unpack, its steps and the manifest (-count %d, medians)" % count)
            entries = [("scientific stack", self.entry(env_id)), ("syn20k", self.entry(self.syn["syn20k"]))]
            if getattr(self, "torch", None):
                entries.append(("torch stack", os.path.dirname(self.torch["archive"])))
            prof["go-bench"] = []
            for name, entry in entries:
                env = dict(self.env, SENV_BENCH_ENTRY=entry, SENV_BENCH_SCRATCH=self.work)
                p = subprocess.run(["go", "test", "./bench/unpack", "-run", "^$", "-bench", "^BenchmarkUnpack$" if name == "torch stack" else "^Benchmark(Unpack|Steps|Manifest)$",
                                    "-benchtime", "2x", "-count", str(2 if name == "torch stack" else count)], env=env, capture_output=True, text=True, cwd=self.a.repo)
                with open(os.path.join(pdir, "go-bench-%s.txt" % name.replace(" ", "-")), "w") as fh:
                    fh.write(p.stdout + p.stderr)
                prof["go-bench"] += ["%s: %s" % (name, ln) for ln in bench_medians(p.stdout)]
            log("profile: envs.Unpack alone under -cpuprofile")
            cpu = os.path.join(pdir, "unpack-cpu.pprof")
            binp = os.path.join(pdir, "unpack.test")
            env = dict(self.env, SENV_BENCH_ENTRY=self.entry(env_id), SENV_BENCH_SCRATCH=self.work)
            subprocess.run(["go", "test", "./bench/unpack", "-run", "^$", "-bench", "^BenchmarkUnpack$", "-benchtime", "%dx" % (2 * count),
                            "-cpuprofile", cpu, "-o", binp], env=env, capture_output=True, text=True, cwd=self.a.repo)
            top = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=25", binp, cpu], capture_output=True, text=True, cwd=self.a.repo)
            with open(os.path.join(pdir, "unpack-pprof-top.txt"), "w") as fh:
                fh.write(top.stdout)
            prof["pprof-top"] = top.stdout.splitlines()[:32]
        self.emit("")
        self.emit("### Profile of the warm start (scientific stack)")
        for k, v in prof.items():
            self.emit("")
            self.emit("`%s`:" % k)
            self.emit("")
            self.emit("```")
            for ln in v:
                self.emit(ln)
            self.emit("```")

    # ---- main ----------------------------------------------------------

    def main(self):
        for d in (os.path.join(self.a.bench_cache, "run"), self.stage, self.tdir, os.path.join(self.work, "hstage")) + \
                tuple(os.path.join(self.a.tmpfs, x) for x in ("stage", "target") if self.a.tmpfs):
            rm(d)
        os.makedirs(self.cache, exist_ok=True)
        os.makedirs(self.out, exist_ok=True)
        self.machine()
        t0 = time.perf_counter()
        cases = self.a.cases.split(",")
        self.emit("")
        self.emit("Mode: %s, %d timed runs per case after %d warm-up (unless a row says otherwise); medians."
                  % (self.results["mode"], self.runs, self.warmup))
        if "all" in cases or set(cases) & {"warm", "hot", "herd", "footprint", "scaling", "entries", "profile"}:
            log("building the scientific-stack env into the cache (untimed)")
            self.sci = self.build_env(self.sci_flags())
            self.syn = {}
            for name in ["syn1k", "syn5k", "syn20k"] + ([] if self.quick else ["syn100k"]):
                log("building the %s env into the cache (untimed)" % name)
                self.syn[name] = self.build_env(self.syn_flags(name))[0]
            self.results["builds"] = {"sci": self.sci[1]}
            self.emit("Scientific-stack build (untimed setup): `%s`" % self.sci[1].replace("\n", "` `"))
        big = ("torch", "mount", "size")  # the torch stack: left out of --quick unless named
        for name, fn in (("warm", self.case_warm), ("hot", self.case_hot), ("check", self.case_check), ("herd", self.case_herd),
                         ("footprint", self.case_footprint), ("scaling", self.case_scaling), ("conda", self.case_conda),
                         ("entries", self.case_entries), ("torch", self.case_torch), ("mount", self.case_mount),
                         ("size", self.case_size), ("profile", self.profile)):
            if name in cases or ("all" in cases and not (self.quick and name in big)):
                fn()
        rows = [[t["target"], t["value"], t["limit"], "PASS" if t["met"] else "MISS"] for t in self.results["targets"]]
        self.table("Targets (reported, not asserted)", ["target", "measured", "target", "result"], rows)
        self.results["seconds"] = time.perf_counter() - t0
        self.emit("")
        loads = self.results.get("load") or [0.0]
        self.emit("Benchmark wall time: %.0f s; 1-minute load average at the start and end of each timed group: %.1f to %.1f "
                  "(%d CPUs; anything above the benchmark's own load is other work on the machine). Results: %s"
                  % (self.results["seconds"], min(loads), max(loads), os.cpu_count(), self.out))
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write("\n".join(self.md) + "\n")
        for d in (self.stage, self.tdir, os.path.join(self.work, "pip-cache"), os.path.join(self.a.bench_cache, "run")):
            rm(d)
        if os.path.exists(os.path.join(self.work, "job.sh")):
            os.remove(os.path.join(self.work, "job.sh"))


def bench_medians(out):
    """Median ms per benchmark over -count repetitions, as lines."""
    runs = {}
    for ln in out.splitlines():
        f = ln.split()
        if not ln.startswith("Benchmark") or len(f) < 4:
            continue
        name = re.sub(r"-\d+$", "", f[0])
        if f[3] == "ns/op":
            runs.setdefault(name, []).append(float(f[2]))
    return ["%-45s %8.1f ms/op (median of %d)" % (k, statistics.median(v) / 1e6, len(v)) for k, v in runs.items()]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def parse_staged(stderr):
    m = STAGED_RE.search(stderr)
    if not m:
        return None
    t = float(m.group(3)) / (1000 if m.group(4) == "ms" else 1)
    return int(m.group(1)), m.group(2), t


def outcomes(stderrs):
    built = sum(1 for e in stderrs if " built in " in e)
    hit = sum(1 for e in stderrs if "cache hit" in e)
    waited = sum(1 for e in stderrs if "waiting for" in e)
    return "%d built, %d staged from cache, %d reused, %d waited" % (built, hit, len(stderrs) - built - hit, waited)


def head_table(path, n):
    with open(path) as f:
        return [ln.rstrip() for ln in f][:n]


def perf_stat_summary(path):
    keep = ("task-clock", "context-switches", "cpu-migrations", "page-faults", "seconds time elapsed", "seconds user", "seconds sys")
    with open(path) as f:
        return [ln.strip() for ln in f if any(k in ln for k in keep)]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer runs and smaller herd: under 3 minutes")
    p.add_argument("--runs", type=int, default=0, help="timed runs per case (default 5, quick 3)")
    p.add_argument("--cases", default="all",
                   help="comma-separated: warm,hot,check,herd,footprint,scaling,conda,entries,torch,mount,size,profile")
    p.add_argument("--senv", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--uv", default="uv")
    p.add_argument("--repo", required=True)
    p.add_argument("--bench-cache", required=True)
    p.add_argument("--work", required=True, help="node-local scratch: stage dir and baseline targets")
    p.add_argument("--out", required=True)
    p.add_argument("--wheels-sci", required=True)
    p.add_argument("--wheels-syn", required=True)
    p.add_argument("--wheels-torch", default="", help="wheelhouse of torch and its dependencies (torch, mount, size)")
    p.add_argument("--index-torch", default="", help="PEP 503 index of that wheelhouse with hashes (bench/mkindex.py), that senv builds from")
    p.add_argument("--tmpfs", default="", help="second scratch dir, on tmpfs, for the warm starts' second column ('' for none)")
    p.add_argument("--micromamba", default="", help="micromamba binary for the conda case ('' skips it)")
    p.add_argument("--conda-channel", default="", help="conda channel URL for the conda case (the senv test channel)")
    p.add_argument("--unshare", default="", help="command prefix giving each herd task its own mount namespace, e.g. 'unshare -m'")
    Bench(p.parse_args()).main()


if __name__ == "__main__":
    main()
