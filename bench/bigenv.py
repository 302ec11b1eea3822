"""The big-env cases of senv's benchmark: the torch stack (build, warm and
hot start, throughput against the machine's limits), mounting an image of
the env instead of extracting it, cost against env size and file count, and
a cache of 1,000 entries. bench.py's Bench mixes them in; see BENCHMARKS.md.
"""

import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import time

from common import fmt_delta, fmt_s, human_bytes, log, rm, settle, strip, tree_stats

TORCH_IMPORT = "import torch"
# Subsets of the torch stack's own wheels, as envs of growing size (the
# sizes are measured and reported; these are what the names aim at).
SIZES = [
    ("0.1 GB: sympy, networkx", ["sympy", "networkx"]),
    ("1 GB: triton", ["triton"]),
    ("2 GB: cuDNN, cuBLAS", ["nvidia-cudnn-cu13"]),
    ("torch stack", ["torch"]),
]


def gbps(nbytes, sec):
    return "%.2f GB/s" % (nbytes / sec / 1e9) if sec else "n/a"


def cpu_of(fn):
    """Runs fn(); returns (wall seconds, CPU seconds of the children it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def drop_cached(path):
    """Drops path's pages from the page cache (clean pages: the images are
    written and synced long before)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_fully(path):
    """Reads path to the end, so it is in the page cache."""
    buf = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def cache_only(own, others):
    """Leaves own (a path, or None) in the page cache and others out of it,
    untimed, so a case reads its own file from memory whichever case ran
    before it: the images together are bigger than this machine's memory
    and would otherwise evict each other."""
    for p in others:
        if p != own:
            drop_cached(p)
    if own:
        read_fully(own)


def time_rounds(cases, runs, warmup, before):
    """Times cases round-robin (a, b, c, a, b, c, ...): wall and the CPU of
    the processes. cases maps a key to (argv, env); before(key) runs untimed
    before each run, then sync."""
    samples = {k: {"wall": [], "cpu": []} for k in cases}
    for i in range(warmup + runs):
        for k, (argv, env) in cases.items():
            before(k)
            os.sync()
            wall, cpu = cpu_of(lambda: subprocess.run(argv, env=env, check=True,
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if i >= warmup:
                samples[k]["wall"].append(wall)
                samples[k]["cpu"].append(cpu)
    return {k: {"median": statistics.median(s["wall"]), "min": min(s["wall"]), "max": max(s["wall"]),
                "cpu": statistics.median(s["cpu"]), "n": len(s["wall"])} for k, s in samples.items()}


class BigEnvCases:
    """Cases for envs the size of real GPU jobs' (issue 13)."""

    def torch_flags(self, pkgs):
        # an index, as PyPI: the hashes for the lock come from its pages
        flags = ["--manager", "uv", "--index-url", self.a.index_torch]
        for p in pkgs:
            flags += ["--pip", p]
        return flags

    def have_torch(self):
        if not self.a.wheels_torch or not os.path.isfile(os.path.join(self.a.wheels_torch, ".complete")):
            raise RuntimeError("no torch wheelhouse at %r: bench/run.sh downloads it unless --quick" % self.a.wheels_torch)
        if not self.a.index_torch.startswith("file://"):
            raise RuntimeError("no index of the torch wheelhouse (--index-torch): bench/run.sh writes it with bench/mkindex.py")

    def meta(self, cache, env_id):
        with open(os.path.join(cache, "v1", "envs", env_id, "meta.json")) as f:
            return json.load(f)

    def lock_file(self, cache):
        locks = os.path.join(cache, "v1", "locks")
        names = sorted(os.listdir(locks))
        if len(names) != 1:
            raise RuntimeError("want one lock in %s, found %s" % (locks, names))
        return os.path.join(locks, names[0])

    # ---- 8. the torch stack -------------------------------------------

    def torch_env(self):
        """Builds the torch stack into its cache (untimed), for the cases
        that need it when case 8 did not run."""
        self.have_torch()
        flags = self.torch_flags(["torch"])
        cache = os.path.join(self.a.bench_cache, "run", "torch-cache")
        env = dict(self.env, SENV_CACHE_DIR=cache)
        log("building the torch stack into the cache (untimed)")
        p = subprocess.run([self.senv, "build"] + flags, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("senv build torch failed:\n" + p.stderr)
        env_id = p.stdout.strip().split()[-1]
        m = self.meta(cache, env_id)
        self.torch = {"id": env_id, "cache": cache, "flags": flags, "archive": os.path.join(cache, "v1", "envs", env_id, "env.tar.zst"),
                      "prefix": os.path.join(self.stage, env_id),
                      "meta": {k: m.get(k, 0) for k in ("files", "bytes", "archive_bytes", "build_seconds", "compile_seconds", "pack_seconds")}}

    def case_torch(self):
        self.have_torch()
        w, flags = self.a.wheels_torch, self.torch_flags(["torch"])
        cache = os.path.join(self.a.bench_cache, "run", "torch-cache")
        env = dict(self.env, SENV_CACHE_DIR=cache)
        build = [self.senv, "build"] + flags
        runs = self.a.runs or 2  # each run is a minute or more; the ratios are round-robin
        r = {}
        self.warm_uv_cache(w, ["torch"])

        def fresh_cache():
            rm(cache)
            self.reset_stage()
            self.reset_target()

        def fresh_env():  # the lock stays: build + pack only
            rm(os.path.join(cache, "v1", "envs"))
            self.reset_stage()
            self.reset_target()

        log("torch: one cold build to record the lock (untimed)")
        fresh_cache()
        self.run(build, env=env)
        pylock = os.path.join(self.work, "lock", "pylock.toml")  # uv wants this name
        os.makedirs(os.path.dirname(pylock), exist_ok=True)
        shutil.copy(self.lock_file(cache), pylock)
        t = self.tdir
        uv_lock = "%s venv -q -p %s %s && %s pip install -q --offline --link-mode copy %s--python %s/bin/python -r %s" % (
            shlex.quote(self.uv), shlex.quote(self.python), shlex.quote(t), shlex.quote(self.uv), "%s",
            shlex.quote(t), shlex.quote(pylock))
        log("torch build, round-robin (%d runs): cold senv build, senv build with the lock, uv pip install -r the lock" % runs)
        r.update(self.measure_group({
            "cold": (build, fresh_cache),
            "locked": (build, fresh_env),
            "uv": (["sh", "-c", uv_lock % ""], self.reset_target),
            "uvc": (["sh", "-c", uv_lock % "--compile-bytecode "], self.reset_target),
        }, runs=runs, warmup=0, env=env))
        r["sbatch"] = self.time_sbatch(flags, env, runs, fresh_cache)
        # the ID is the last word of `senv build`'s stdout: once more, a cache hit
        p = subprocess.run(build, env=env, capture_output=True, text=True, check=True)
        env_id = p.stdout.strip().split()[-1]
        m = self.meta(cache, env_id)
        r["meta"] = {k: m.get(k, 0) for k in ("files", "bytes", "archive_bytes", "build_seconds", "compile_seconds", "pack_seconds")}
        archive = os.path.join(cache, "v1", "envs", env_id, "env.tar.zst")

        # warm start, on each scratch filesystem
        for fs in self.filesystems():
            with self.on(fs):
                env = dict(self.env, SENV_CACHE_DIR=cache)
                t = self.tdir
                log("torch warm start on %s, round-robin: tar + zstd, senv run (import torch, then true), uv copy install" % fs)
                g = {
                    "tar": (self.tar_proxy(archive, TORCH_IMPORT), self.reset_all),
                    "senv": (self.senv_run(flags, ["python", "-c", TORCH_IMPORT]), self.reset_all),
                    "tar_true": (self.tar_proxy(archive, None), self.reset_all),
                    "senv_true": (self.senv_run(flags, ["true"]), self.reset_all),
                }
                if fs == self.primary:
                    g["uv"] = (["sh", "-c", uv_lock % "" + " && %s/bin/python -c %s" % (shlex.quote(t), shlex.quote(TORCH_IMPORT))],
                               self.reset_all)
                res = self.measure_group(g, runs=runs, warmup=0, env=env)  # the archive is in the page cache already
                r.update({k + "@" + fs: v for k, v in res.items()})
                self.reset_all()
        env = dict(self.env, SENV_CACHE_DIR=cache)
        t = self.tdir
        pip_runs = 1 if self.quick else 2
        log("torch warm start: per-job venv + pip install (%d run%s)" % (pip_runs, "s" if pip_runs > 1 else ""))
        r["pip"] = self.measure(self.pip_install(w, ["torch"], TORCH_IMPORT), setup=self.reset_all, runs=pip_runs, warmup=0, env=env)
        self.reset_all()

        # hot start
        self.run(self.senv_run(flags, ["true"]), env=env)
        # staging just wrote 5.2 GiB onto the loop-mounted scratch: its
        # writeback would land in the ms-scale timings below
        r["settle_hot"] = settle()
        log("torch hot start: true, senv run -- true, staged python -c 'import torch', senv run -- python -c 'import torch'")
        prefix = os.path.join(self.stage, env_id)
        r.update(self.measure_group({
            "true": (["true"], None),
            "hot": (self.senv_run(flags, ["true"]), None),
        }, runs=max(20, 4 * self.runs), warmup=3, env=env, sync=False))
        r.update(self.measure_group({
            "py": ([os.path.join(prefix, "bin", "python"), "-c", TORCH_IMPORT], None),
            "hot_py": (self.senv_run(flags, ["python", "-c", TORCH_IMPORT]), None),
        }, runs=self.runs, warmup=1, env=env, sync=False))

        # the machine's limits: decompression alone, and writing the files alone
        log("torch: the machine's limits: zstd -d to /dev/null, tar -x of the uncompressed tar")
        raw_tar = os.path.join(self.a.bench_cache, "run", "torch.tar")
        subprocess.run(["sh", "-c", "zstd -q -d -c %s > %s" % (shlex.quote(archive), shlex.quote(raw_tar))], check=True)
        t_ = self.tdir
        r.update(self.measure_group({
            "unzstd": (["sh", "-c", "zstd -q -d -c %s > /dev/null" % shlex.quote(archive)], None),
            "untar": (["sh", "-c", "mkdir %s && tar -x -f %s -C %s" % (shlex.quote(t_), shlex.quote(raw_tar), shlex.quote(t_))],
                      self.reset_all),
        }, runs=runs, env=env))
        os.remove(raw_tar)
        self.reset_all()
        entry = tree_stats(os.path.join(cache, "v1", "envs", env_id))
        self.run(self.senv_run(flags, ["true"]), env=env)
        venv = tree_stats(prefix)
        r["footprint"] = {"entry": entry, "venv": venv}
        self.torch = {"id": env_id, "cache": cache, "flags": flags, "archive": archive, "prefix": prefix, "meta": r["meta"]}
        self.results["cases"]["torch"] = strip(r)
        self.torch_tables(r)

    def time_sbatch(self, flags, env, runs, setup):
        """The wait at submit: `senv sbatch --hold` of a cold spec, timed to
        the job ID on its stdout (senv submits once the env is installed)
        and to its exit (after the pack); the held job is cancelled. None
        without a Slurm that takes jobs (bash e2e/testbed/start.sh)."""
        probe = subprocess.run(["sbatch", "--hold", "--parsable", "--wrap", "true"], capture_output=True, text=True) \
            if shutil.which("sbatch") else None
        if not probe or probe.returncode != 0:
            log("torch: no Slurm to submit to: the senv sbatch row is left out")
            return None
        subprocess.run(["scancel", probe.stdout.strip().split(";")[0]], check=False)
        log("torch: senv sbatch --hold, cold (%d runs): to the job ID, then to its exit" % runs)
        queued, total = [], []
        for _ in range(runs):
            setup()
            os.sync()
            start = time.perf_counter()
            p = subprocess.Popen([self.senv, "sbatch"] + flags + ["--parsable", "--hold", "--wrap", "true"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            job = p.stdout.readline().strip()
            queued.append(time.perf_counter() - start)
            _, err = p.communicate()
            total.append(time.perf_counter() - start)
            if job:
                subprocess.run(["scancel", job.split(";")[0]], check=False)
            if p.returncode != 0 or not job:
                raise RuntimeError("senv sbatch exited %d, job %r:\n%s" % (p.returncode, job, err[-3000:]))
        return {k: {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}
                for k, xs in (("queued", queued), ("total", total))}

    def torch_tables(self, r):
        m, p0 = r["meta"], self.primary
        fss = self.filesystems()
        self.table("8. The torch stack (%d files, %s installed; archive %s): build" % (m["files"], human_bytes(m["bytes"]),
                                                                                     human_bytes(m["archive_bytes"])),
                   ["method", "n", "median", "min – max", "vs uv pip install -r the lock", "note"], [
            self.case_row("uv venv + uv pip install -r the lock (pylock.toml), warm uv cache, copy", r["uv"], None, "no .pyc"),
            self.case_row("… same + --compile-bytecode", r["uvc"], r["uv"], "the files senv ships"),
            self.case_row("**senv build**, lock recorded (build + pack)", r["locked"], r["uv"],
                          "%.2f× the compiling install" % (r["locked"]["median"] / r["uvc"]["median"])),
            self.case_row("**senv build**, cold (solve + build + pack)", r["cold"], r["uv"],
                          "%.2f× the compiling install" % (r["cold"]["median"] / r["uvc"]["median"])),
        ] + ([self.case_row("**senv sbatch --hold**, cold: until the job is queued (solve + install + submit)", r["sbatch"]["queued"],
                            r["uv"], "then compiles and packs: exits after %s; run after the round-robin"
                            % fmt_s(r["sbatch"]["total"]["median"]))] if r.get("sbatch") else []))
        self.emit("")
        self.emit("senv's own account of one build: installed in %.1f s, compiled its bytecode in %.1f s, then packed in %.1f s (%s of files in, %s out)."
                  % (m["build_seconds"], m["compile_seconds"], m["pack_seconds"], gbps(m["bytes"], m["pack_seconds"]),
                     gbps(m["archive_bytes"], m["pack_seconds"])))
        rows = []
        for name, key in (("tar + zstd proxy (`zstd -d -c | tar -x`), then `import torch`", "tar"),
                          ("**senv run -- python -c 'import torch'** (cache hit: stage + verify + import)", "senv"),
                          ("tar + zstd proxy, extraction only", "tar_true"),
                          ("**senv run -- true** (staging only)", "senv_true")):
            row = [name]
            for fs in fss:
                x = r[key + "@" + fs]
                row.append("%s (%s – %s)" % (fmt_s(x["median"]), fmt_s(x["min"]), fmt_s(x["max"])))
            rows.append(row)
        rows.append(["uv venv + uv pip install -r the lock, warm cache, copy, then `import torch`",
                     fmt_s(r["uv@" + p0]["median"])] + ["–"] * (len(fss) - 1))
        rows.append(["per-job python -m venv + pip install, then `import torch`", fmt_s(r["pip"]["median"])] + ["–"] * (len(fss) - 1))
        ratio = ["senv / tar+zstd (import)"] + ["%.2f×" % (r["senv@" + fs]["median"] / r["tar@" + fs]["median"]) for fs in fss]
        ratio2 = ["senv / tar+zstd (staging only)"] + ["%.2f×" % (r["senv_true@" + fs]["median"] / r["tar_true@" + fs]["median"]) for fs in fss]
        pip = ["per-job pip / senv"] + ["%.1f×" % (r["pip"]["median"] / r["senv@" + p0]["median"])] + ["–"] * (len(fss) - 1)
        self.table("8b. The torch stack: warm start (env not staged), %d runs each" % r["senv@" + p0]["n"],
                   ["method"] + [self.fs_label(fs) for fs in fss], rows + [ratio, ratio2, pip])
        over = r["hot"]["median"] - r["true"]["median"]
        self.table("8c. The torch stack: hot start (env staged)", ["method", "n", "median", "min – max", "vs baseline", "overhead"], [
            self.case_row("bare `true`", r["true"]),
            self.case_row("**senv run -- true**", r["hot"], r["true"], fmt_delta(over)),
            self.case_row("staged venv's python -c 'import torch'", r["py"]),
            self.case_row("**senv run -- python -c 'import torch'**", r["hot_py"], r["py"],
                          fmt_delta(r["hot_py"]["median"] - r["py"]["median"])),
        ])
        nproc = os.cpu_count() or 1
        unz, untar, st = r["unzstd"]["median"], r["untar"]["median"], r["senv_true@" + p0]["median"]
        limit = max(unz / nproc, untar, (unz + untar) / nproc)
        self.table("8d. The torch stack: throughput (%s; bytes are the installed bytes)" % self.fs_label(p0),
                   ["what", "median", "throughput", "note"], [
            ["pack (senv's own timing, one build)", fmt_s(m["pack_seconds"]), gbps(m["bytes"], m["pack_seconds"]),
             "%d CPUs; pieces of big files at zstd's fastest level, the rest at its default" % nproc],
            ["`zstd -d -c archive > /dev/null` (one core)", fmt_s(unz), gbps(m["bytes"], unz), "decompression alone"],
            ["`tar -x` of the uncompressed tar (page cache → scratch)", fmt_s(untar), gbps(m["bytes"], untar), "writing the files alone"],
            ["machine limit: max(zstd / %d, tar -x, (zstd + tar -x) / %d)" % (nproc, nproc), fmt_s(limit), gbps(m["bytes"], limit),
             "every core decompressing or writing, nothing else"],
            ["**senv stage (senv run -- true)**", fmt_s(st), gbps(m["bytes"], st), "%.2f× the limit" % (st / limit)],
        ])
        fp = r["footprint"]
        self.emit("")
        self.emit("Footprint: the cache entry is %d inodes, %s on the shared filesystem; the staged env %d inodes (%d files), %s on the node."
                  % (fp["entry"]["inodes"], human_bytes(fp["entry"]["bytes"]), fp["venv"]["inodes"], fp["venv"]["files"],
                     human_bytes(fp["venv"]["bytes"])))
        ratio_tar = r["senv@" + p0]["median"] / r["tar@" + p0]["median"]
        self.target("torch warm start ≤ 1.0× tar+zstd (import torch, %s)" % self.fs_label(p0), "%.2f×" % ratio_tar, "≤ 1.00×", ratio_tar <= 1.0)
        sp = r["pip"]["median"] / r["senv@" + p0]["median"]
        self.target("torch warm start ≥ 20× faster than per-job venv + pip", "%.1f×" % sp, "≥ 20×", sp >= 20)
        self.target("torch hot start ≤ +10 ms over bare true", fmt_delta(over), "≤ 10 ms", over <= 0.010)
        b = r["cold"]["median"] / r["uv"]["median"]
        self.target("cold senv build ≤ 1.3× uv pip install of the same lock", "%.2f× (%.2f× with the lock recorded)"
                    % (b, r["locked"]["median"] / r["uv"]["median"]), "≤ 1.30×", b <= 1.3)
        if r.get("sbatch"):
            q = r["sbatch"]["queued"]["median"] / r["uv"]["median"]
            self.target("wait at submit (senv sbatch, cold, until the job is queued) ≤ 1.3× uv pip install of the same lock",
                        "%.2f× (%.2f× uv with --compile-bytecode)" % (q, r["sbatch"]["queued"]["median"] / r["uvc"]["median"]),
                        "≤ 1.30×", q <= 1.3)
        self.target("torch stage throughput within 1.5× of the machine's limit", "%.2f×" % (st / limit), "≤ 1.50×", st / limit <= 1.5)

    # ---- 9. mounting an image instead of extracting ---------------------

    def case_mount(self):
        """Time to first `import torch` from a kernel-mounted squashfs or
        erofs image, or a squashfuse mount, of the env, against staging it;
        CPU of the whole start, node-local disk used. Then senv's mount mode:
        per job, on a node that keeps the image mounted, and its start cost
        alone (ms, a quiet group of its own)."""
        if not getattr(self, "torch", None):
            self.torch_env()
        tools = {"mksquashfs": shutil.which("mksquashfs"), "mkfs.erofs": shutil.which("mkfs.erofs"),
                 "squashfuse": shutil.which("squashfuse")}
        if os.geteuid() != 0 or not all(tools.values()):
            log("mount case skipped: needs root and %s" % ", ".join(k for k, v in tools.items() if not v))
            return
        tc, env = self.torch, dict(self.env, SENV_CACHE_DIR=self.torch["cache"])
        self.reset_all()
        self.run(self.senv_run(tc["flags"], ["true"]), env=env)
        src = tc["prefix"]
        imgdir = os.path.join(self.a.bench_cache, "run", "images")
        os.makedirs(imgdir, exist_ok=True)
        nproc = str(os.cpu_count() or 1)
        images = {
            "squashfs-zstd": (["mksquashfs", src, None, "-comp", "zstd", "-Xcompression-level", "3", "-b", "1M", "-noappend", "-quiet", "-processors", nproc], "squashfs"),
            "squashfs-lz4": (["mksquashfs", src, None, "-comp", "lz4", "-b", "1M", "-noappend", "-quiet", "-processors", nproc], "squashfs"),
            "erofs-lz4": (["mkfs.erofs", "-zlz4", "--quiet", None, src], "erofs"),
            "erofs-plain": (["mkfs.erofs", "--quiet", None, src], "erofs"),  # no compression: reads are copies
        }
        r = {"images": {}}
        for name, (argv, _) in images.items():
            img = os.path.join(imgdir, name + ".img")
            argv = [img if a is None else a for a in argv]
            log("mount: building %s (untimed setup, its time reported)" % name)
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            r["images"][name] = {"seconds": time.perf_counter() - t0, "bytes": os.path.getsize(img), "path": img}
        # senv's mount mode: its own image (senv build --image into the cache, named a site
        # cache), `senv mount` as the Prolog does it, and the job's `senv run` from the mount
        smnt = os.path.join(self.work, "senv-mnt")
        senv_env = dict(env, SENV_SITE_CACHE=tc["cache"], SENV_MOUNT_DIR=smnt)
        log("mount: senv build --image (timed: senv's image made at publish)")
        shutil.rmtree(os.path.join(tc["cache"], "v1", "envs", tc["id"], "image"), ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([self.senv, "build", "--image"] + tc["flags"], env=senv_env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        simg = os.path.join(tc["cache"], "v1", "envs", tc["id"], "image", "env.sqfs")
        r["images"]["senv"] = {"seconds": time.perf_counter() - t0, "bytes": os.path.getsize(simg), "path": simg}
        stamp = os.path.join(smnt, ".senv", tc["id"] + ".verified")
        # a small env (filelock, 0.1 MiB) with its image: the start cost against size
        small_flags = self.torch_flags(["filelock"])
        p = subprocess.run([self.senv, "build", "--image"] + small_flags, env=senv_env, check=True, capture_output=True, text=True)
        small_id = p.stdout.strip().split()[-1]
        self.reset_all()
        mnt = os.path.join(self.work, "mnt")
        os.makedirs(mnt, exist_ok=True)
        q = shlex.quote

        def senv_mounted(payload, flags=tc["flags"], env_id=tc["id"]):
            run = shlex.join(self.senv_run(flags, payload))
            return ["sh", "-c", "%s mount %s >/dev/null && %s; rc=$?; %s umount %s; exit $rc"
                    % (q(self.senv), env_id, run, q(self.senv), env_id)]

        def mounted(mount, payload):
            return ["sh", "-c", "%s && %s/bin/python -c %s; rc=$?; umount %s; exit $rc" % (mount, q(mnt), q(payload), q(mnt))]

        # the file each case reads, held in the page cache before its run
        # (see cache_only); staged reads the staged env, no image
        small_img = os.path.join(tc["cache"], "v1", "envs", small_id, "image", "env.sqfs")
        own = {name: r["images"][name]["path"] for name in images}
        own.update({"squashfuse-zstd": own["squashfs-zstd"], "senv-mount-first": simg, "senv-mount": simg,
                    "senv": tc["archive"], "staged": None, "mount-only": simg,
                    "senv-mount-true": simg, "senv-mount-true-small": small_img})
        every_image = [v["path"] for v in r["images"].values()] + [small_img]

        def before(k, others=every_image):
            if k == "senv":
                self.reset_stage()
            elif k == "senv-mount-first" and os.path.exists(stamp):
                os.remove(stamp)
            elif k == "staged" and not os.path.isdir(src):
                self.run(self.senv_run(tc["flags"], ["true"]), env=env)
            cache_only(own[k], others)

        # the first import per method; squashfuse next to the kernel mount of
        # the same image, so that image is read from disk once for both
        cases = {}
        for name, (_, fstype) in images.items():
            img = r["images"][name]["path"]
            cases[name] = (mounted("mount -t %s -o loop,ro %s %s" % (fstype, q(img), q(mnt)), TORCH_IMPORT), env)
            # erofs mounts a regular file without a loop device where the kernel has
            # CONFIG_EROFS_FS_BACKED_BY_FILE (6.12 and later)
            if fstype == "erofs" and subprocess.run(["sh", "-c", "mount -t erofs -o ro %s %s && umount %s" % (q(img), q(mnt), q(mnt))],
                                                    stderr=subprocess.DEVNULL).returncode == 0:
                cases[name + "-file"] = (mounted("mount -t erofs -o ro %s %s" % (q(img), q(mnt)), TORCH_IMPORT), env)
                own[name + "-file"] = img
            if name == "squashfs-zstd":
                cases["squashfuse-zstd"] = (mounted("squashfuse %s %s" % (q(img), q(mnt)), TORCH_IMPORT), env)
        cases["senv-mount-first"] = (senv_mounted(["python", "-c", TORCH_IMPORT]), senv_env)  # the node's first: sha256 of the image
        cases["senv-mount"] = (senv_mounted(["python", "-c", TORCH_IMPORT]), senv_env)  # a later job: the check is recorded
        cases["senv"] = (self.senv_run(tc["flags"], ["python", "-c", TORCH_IMPORT]), env)
        cases["staged"] = ([os.path.join(src, "bin", "python"), "-c", TORCH_IMPORT], env)
        runs = self.a.runs or 3
        log("mount: first import torch per method, round-robin (%d runs, the case's own file alone in the page cache): %s"
            % (runs, ", ".join(cases)))
        r.update(time_rounds(cases, runs, 1, before))

        # the start cost alone (ms): a group of its own, many runs, on a quiet
        # machine (the senv case above staged 5.2 GiB); its three images fit in
        # memory together, so only the images it does not use are dropped (else
        # each run would read 3.3 GiB from disk first)
        self.reset_all()
        r["settle_start"] = settle()
        cases = {
            "mount-only": (["sh", "-c", "mount -t squashfs -o loop,ro %s %s && umount %s" % (q(own["mount-only"]), q(mnt), q(mnt))], env),
            "senv-mount-true": (senv_mounted(["true"]), senv_env),
            "senv-mount-true-small": (senv_mounted(["true"], small_flags, small_id), senv_env),
        }
        unused = [p for p in every_image if p not in {own[k] for k in cases}]
        sruns = max(10 if self.quick else 20, 4 * runs)
        log("mount: the start cost, round-robin (%d runs after 2 warm-ups): %s" % (sruns, ", ".join(cases)))
        r.update(time_rounds(cases, sruns, 2, lambda k: before(k, unused)))

        r["senv-mount-kept"] = self.mount_kept(tc, senv_env, simg, every_image, runs)
        self.results["cases"]["mount"] = r
        self.mount_tables(r, list(images))

    def mount_kept(self, tc, senv_env, simg, images, runs):
        """A later job on a node that keeps an idle image mounted (senv's
        mount_keep): `senv mount` once, one untimed import (the image's pages
        read once, as an earlier job would have), then the timed imports with
        no umount between them, then `senv umount`."""
        argv = self.senv_run(tc["flags"], ["python", "-c", TORCH_IMPORT])
        self.run([self.senv, "mount", tc["id"]], env=senv_env)
        try:
            err = self.run(argv, env=senv_env)[1]
            if " mounted at " not in err:  # senv staged the env instead: the row would not be what it says
                raise RuntimeError("senv run did not use the mounted image:\n" + err[-3000:])
            log("mount: a later job while the image stays mounted (%d runs, no umount between them)" % runs)
            return time_rounds({"kept": (argv, senv_env)}, runs, 0, lambda k: cache_only(simg, images))["kept"]
        finally:
            p = subprocess.run([self.senv, "umount", tc["id"]], env=senv_env, capture_output=True, text=True)
            if p.returncode != 0:
                log("warning: senv umount %s failed: %s" % (tc["id"], p.stderr.strip()))

    def mount_tables(self, r, images):
        staged_bytes = self.torch["meta"]["bytes"]
        rows = [["**senv run** (stage onto %s, then import)" % self.fs_label(self.primary), r["senv"]["n"], fmt_s(r["senv"]["median"]),
                 fmt_s(r["senv"]["cpu"]), human_bytes(staged_bytes), "1.00×"],
                ["import from the staged env (hot, for reference)", r["staged"]["n"], fmt_s(r["staged"]["median"]),
                 fmt_s(r["staged"]["cpu"]), "(staged)", "%.2f×" % (r["staged"]["median"] / r["senv"]["median"])]]
        for name in [n for i in images for n in (i, i + "-file") if n in r] + ["squashfuse-zstd"]:
            img = r["images"]["squashfs-zstd" if name == "squashfuse-zstd" else name.replace("-file", "")]
            how = {"squashfuse-zstd": "squashfuse (user-space) "}.get(name, "kernel mount (file-backed, no loop device) of "
                                                                     if name.endswith("-file") else "kernel mount (loop) of ")
            rows.append(["%s%s image (%s, made in %.0f s)" % (how, name.replace("squashfuse-", "squashfs-").replace("-file", ""),
                                                             human_bytes(img["bytes"]), img["seconds"]),
                         r[name]["n"], fmt_s(r[name]["median"]), fmt_s(r[name]["cpu"]), "0 (image on the shared fs)",
                         "%.2f×" % (r[name]["median"] / r["senv"]["median"])])
        rows.append(["mount + umount alone (senv's image, squashfs-lz4)", r["mount-only"]["n"], fmt_s(r["mount-only"]["median"]),
                     fmt_s(r["mount-only"]["cpu"]), "0", ""])
        si = r["images"]["senv"]
        per_run = "(`senv mount` as the Prolog does, `senv run`, `senv umount`)"
        for k, how, what in (("senv-mount-first", per_run, "first job on the node: sha256 of the image, mount, import"),
                             ("senv-mount", per_run, "later job: mount (check recorded), import"),
                             ("senv-mount-kept", "(`senv mount` once, one untimed job, then `senv run` per job, no umount between)",
                              "later job, image kept mounted (mount_keep): import"),
                             ("senv-mount-true", per_run, "later job, payload `true`: the start cost alone"),
                             ("senv-mount-true-small", per_run, "the same for a 0.1 MiB env (filelock)")):
            rows.append(["**senv mount mode** %s: %s" % (how, what),
                         r[k]["n"], fmt_s(r[k]["median"]), fmt_s(r[k]["cpu"]), "0 (image on the shared fs)",
                         "%.2f×" % (r[k]["median"] / r["senv"]["median"])])
        rows.append(["senv's image (`senv build --image`: unpack relocated + mksquashfs lz4 + sha256)", "1", fmt_s(si["seconds"]), "",
                     human_bytes(si["bytes"]) + " on the shared fs", ""])
        self.table("9. The torch stack: first `import torch` from a mounted image vs staging (each case's own image or archive in the page cache)",
                   ["method", "n", "median wall", "CPU (user+sys of the processes)", "node-local disk", "vs senv run"], rows)
        self.emit("")
        self.emit("Before each timed run the case's own file (its image; senv run: the archive; the staged import: none) is read into "
                  "the page cache and the other images are dropped from it (`posix_fadvise DONTNEED`), untimed. The start-cost rows "
                  "(mount + umount alone, payload `true`) are a round-robin of their own, %d runs after 2 warm-ups, once writeback "
                  "had settled (%.1f s); the images they do not use are dropped. The kept-mounted row: one `senv mount`, one untimed "
                  "job, then %d timed jobs, then `senv umount`." % (r["mount-only"]["n"], r["settle_start"], r["senv-mount-kept"]["n"]))
        sm = r["senv-mount"]["median"] / r["staged"]["median"]
        self.target("senv mount mode: first import torch within 1.2× of a staged one (a later job; the node's first: %.2f×)"
                    % (r["senv-mount-first"]["median"] / r["staged"]["median"]), "%.2f× the hot import" % sm, "≤ 1.20×", sm <= 1.2)
        sk = r["senv-mount-kept"]["median"] / r["staged"]["median"]
        self.target("senv mount mode: import torch in a later job while the image stays mounted (mount_keep) within 1.2× of a staged one",
                    "%.2f× the hot import" % sk, "≤ 1.20×", sk <= 1.2)
        big, small = r["senv-mount-true"]["median"], r["senv-mount-true-small"]["median"]
        self.target("senv mount mode: start cost independent of env size (payload `true`, 5.2 GiB torch vs 0.1 MiB)",
                    "%s vs %s: %.2f×" % (fmt_s(big), fmt_s(small), big / small), "≤ 1.50×", big / small <= 1.5)
        best = min((r[n]["median"], n) for i in images for n in (i, i + "-file") if n in r)
        self.target("mounted image (%s): first import torch within 1.2× of a staged one" % best[1],
                    "%.2f× the hot import" % (best[0] / r["staged"]["median"]), "≤ 1.20×", best[0] / r["staged"]["median"] <= 1.2)

    # ---- 10. cost against env size --------------------------------------

    def case_size(self):
        self.have_torch()
        cache = os.path.join(self.a.bench_cache, "run", "size-cache")
        env = dict(self.env, SENV_CACHE_DIR=cache)
        rm(cache)
        rows, data = [], {}
        for label, pkgs in SIZES:
            flags = self.torch_flags(pkgs)
            if pkgs == ["torch"] and getattr(self, "torch", None):
                cache_, flags = self.torch["cache"], self.torch["flags"]
                env_ = dict(self.env, SENV_CACHE_DIR=cache_)
                env_id = self.torch["id"]
            else:
                cache_, env_ = cache, env
                log("size: building %s (untimed; senv's pack time reported)" % label)
                p = subprocess.run([self.senv, "build"] + flags, env=env_, capture_output=True, text=True)
                if p.returncode != 0:
                    raise RuntimeError("senv build %s failed:\n%s" % (label, p.stderr))
                env_id = p.stdout.strip().split()[-1]
            m = self.meta(cache_, env_id)
            archive = os.path.join(cache_, "v1", "envs", env_id, "env.tar.zst")
            tw = self.results["cases"].get("torch", {})
            if pkgs == ["torch"] and "senv_true@" + self.primary in tw:  # measured in case 8 already
                res = {"tar": tw["tar_true@" + self.primary], "senv": tw["senv_true@" + self.primary]}
            else:
                log("size: %s (%s, %d files): senv run -- true vs tar + zstd" % (label, human_bytes(m["bytes"]), m["files"]))
                res = self.measure_group({"tar": (self.tar_proxy(archive, None), self.reset_all),
                                          "senv": (self.senv_run(flags, ["true"]), self.reset_all)},
                                         runs=2 if pkgs == ["torch"] else self.runs, env=env_)
                self.reset_all()
            data[label] = {"meta": m, "warm": strip(res)}
            s, t = res["senv"]["median"], res["tar"]["median"]
            rows.append([label, m["files"], human_bytes(m["bytes"]), human_bytes(m["archive_bytes"]),
                         "%s (%s)" % (fmt_s(m["pack_seconds"]), gbps(m["bytes"], m["pack_seconds"])),
                         fmt_s(t), "%s (%s)" % (fmt_s(s), gbps(m["bytes"], s)), "%.2f×" % (s / t)])
        rm(cache)
        self.results["cases"]["size"] = data
        self.table("10. Cost against env size (real wheels of the torch stack, %s, payload `true`)" % self.fs_label(self.primary),
                   ["env", "files", "installed", "archive", "pack (senv's timing)", "tar + zstd", "senv run (stage)", "senv / tar"], rows)

    # ---- 11. a cache of 1,000 entries -------------------------------------

    def case_entries(self):
        """senv ls, gc and a lookup with 1,000 entries in the cache, against
        the same with one. The 999 extra entries are copies of a real one
        under new IDs (what senv reads of an entry is the same)."""
        n = 1000
        one = os.path.join(self.a.bench_cache, "run", "entries-1")
        many = os.path.join(self.a.bench_cache, "run", "entries-%d" % n)
        flags = self.syn_flags("syn1k")
        for c in (one, many):
            rm(c)
        env1, envn = dict(self.env, SENV_CACHE_DIR=one), dict(self.env, SENV_CACHE_DIR=many)
        env_id = self.build_env(flags, env1)[0]
        shutil.copytree(one, many, symlinks=True)
        src = os.path.join(many, "v1", "envs", env_id)
        log("entries: copying entry %s to %d IDs" % (env_id, n - 1))
        for i in range(n - 1):
            new = "%016x" % (0x5e0000000000 + i)
            dst = os.path.join(many, "v1", "envs", new)
            shutil.copytree(src, dst, symlinks=True)
            mp = os.path.join(dst, "meta.json")
            with open(mp) as f:
                meta = json.load(f)
            meta["id"] = new
            with open(mp, "w") as f:
                json.dump(meta, f)
        self.reset_all()
        self.run(self.senv_run(flags, ["true"]), env=env1)  # staged: the lookups are hot starts
        r = {}
        for label, env in (("1", env1), (str(n), envn)):
            log("entries: senv ls, senv gc --dry-run, hot start with %s entr%s" % (label, "y" if label == "1" else "ies"))
            res = self.measure_group({
                "ls": ([self.senv, "ls"], None),
                "ls_json": ([self.senv, "ls", "--json"], None),
                "gc": ([self.senv, "gc", "--dry-run", "--older-than", "0", "--max-size", "1T"], None),
                "hot": (self.senv_run(flags, ["true"]), None),
                "warm": (self.senv_run(flags, ["true"]), self.reset_stage),
            }, runs=max(10, 2 * self.runs), warmup=2, env=env, sync=False)
            r[label] = strip(res)
        self.reset_all()
        rm(one)
        rm(many)
        self.results["cases"]["entries"] = r
        rows = []
        for key, name in (("ls", "senv ls"), ("ls_json", "senv ls --json"), ("gc", "senv gc --dry-run --older-than 0 --max-size 1T"),
                          ("hot", "senv run -- true, hot (env staged)"), ("warm", "senv run -- true, warm (syn1k staged)")):
            a, b = r["1"][key]["median"], r[str(n)][key]["median"]
            rows.append([name, fmt_s(a), fmt_s(b), "%.2f×" % (b / a), "%s per entry" % fmt_delta((b - a) / (n - 1))])
        self.table("11. A cache of %d entries (copies of one syn1k entry) vs one entry" % n,
                   ["command", "1 entry", "%d entries" % n, "ratio", "cost per extra entry"], rows)
