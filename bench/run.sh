#!/usr/bin/env bash
# bench/run.sh — senv's benchmarks (`make bench`). See BENCHMARKS.md.
#
#   bash bench/run.sh            full run: 5 timed runs per case after a warm-up (about an hour on 2 CPUs, most of it the torch cases)
#   bash bench/run.sh --quick    3 runs, one pip run, small herd, no perf record (< 3 min)
#   bash bench/run.sh --cases warm,hot --runs 7
#
# Inputs are prepared once and kept OUTSIDE the repo, in $SENV_BENCH_CACHE
# (default /var/tmp/senv-bench): the scientific-stack wheelhouse downloaded
# from PyPI, the synthetic wheels, uv's cache, the senv binary, and every
# run's results (results/DATE/results.{md,json} and profile/).
#
# Environment:
#   SENV_BENCH_CACHE    where inputs and results live (default /var/tmp/senv-bench)
#   SENV_BENCH_SCRATCH  node-local scratch for the stage dir and the baselines'
#                       targets. Default, as root: a journaled ext4 filesystem on
#                       a sparse image file, loop-mounted by this script at
#                       $SENV_BENCH_CACHE/ext4 (compute nodes stage onto ext4 or
#                       xfs with a journal; this VM's own disk has none). Not
#                       root: $SENV_BENCH_CACHE/work, on whatever that is.
#   SENV_BENCH_TMPFS    second scratch, reported as a second column for the warm
#                       starts (default: a dir on /dev/shm when it is tmpfs with
#                       12 GiB free; "none" skips it)
#   SENV_BENCH_PYTHON   base interpreter (default /usr/bin/python3)
#   SENV_BENCH_UV       uv binary (default: uv on PATH)
#   SENV_BENCH_MICROMAMBA, SENV_BENCH_CONDA_CHANNEL
#                       micromamba and a channel with hello-prefix, demo-noarch, python
#                       and pip for the conda case (default: micromamba on PATH and
#                       $SENV_TEST_CHANNEL, see e2e/testbed/install-conda.sh); else skipped
#
# The torch cases (torch, mount, size) download torch and its CUDA wheels
# from PyPI once (about 2.8 GB) and need about 40 GB free under
# $SENV_BENCH_CACHE; the mount case needs root, squashfs-tools, erofs-utils
# and squashfuse (`apt-get install squashfs-tools erofs-utils squashfuse`).
# --quick leaves them out unless --cases names them.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SENV_BENCH_CACHE:-/var/tmp/senv-bench}
python=${SENV_BENCH_PYTHON:-/usr/bin/python3}
uv=${SENV_BENCH_UV:-$(command -v uv || true)}
micromamba=${SENV_BENCH_MICROMAMBA:-$(command -v micromamba || true)}
conda_channel=${SENV_BENCH_CONDA_CHANNEL:-${SENV_TEST_CHANNEL:-}}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in go zstd tar sync; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -x "$python" ] || die "no base interpreter at $python (set SENV_BENCH_PYTHON)"
if [ -z "$uv" ] || [ ! -x "$uv" ]; then
	die "uv not found (install it with: $python -m pip install uv, or set SENV_BENCH_UV)"
fi

mkdir -p "$cache/bin"

# Scratch: node-local, owned by us, not world-writable (senv refuses others).
ext4_img=$cache/scratch-ext4.img
ext4_mnt=$cache/ext4
scratch=${SENV_BENCH_SCRATCH:-}
if [ -z "$scratch" ]; then
	scratch=$cache/work
	if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
		if ! mountpoint -q "$ext4_mnt"; then
			# discard: what the benchmark deletes is given back to the image file
			say "making a journaled ext4 scratch filesystem: $ext4_img on $ext4_mnt"
			mkdir -p "$ext4_mnt"
			rm -f "$ext4_img"
			truncate -s 48G "$ext4_img"
			mkfs.ext4 -q -F -O has_journal "$ext4_img"
			mount -o loop,discard "$ext4_img" "$ext4_mnt"
		fi
		scratch=$ext4_mnt/work
	else
		say "not root: scratch is $scratch on $(stat -f -c %T "$cache"), not a journaled ext4 image"
	fi
fi
mkdir -p "$scratch"
chmod 0700 "$scratch"

tmpfs=${SENV_BENCH_TMPFS:-}
if [ -z "$tmpfs" ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null || true)" = tmpfs ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((12 << 20)) ]; then
	tmpfs=/dev/shm/senv-bench-$(id -u)
fi
[ "$tmpfs" = none ] && tmpfs=""
if [ -n "$tmpfs" ]; then
	mkdir -p "$tmpfs"
	chmod 0700 "$tmpfs"
fi

say "building senv"
# as `make build`, with the commit stamped (senv version in the machine table)
commit=$(cd "$repo" && c=$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null || c=$c-dirty; echo "$c"; }) || commit=
(cd "$repo" && go build -tags urfave_cli_no_docs ${commit:+-ldflags "-X main.commit=$commit"} -o "$cache/bin/senv" ./cmd/senv)

# `--cases conda` alone needs neither the Python wheelhouses nor PyPI.
only_conda=0
case " $* " in *" --cases conda "*) only_conda=1 ;; esac

pyver=$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
sci=$cache/wheels-sci-$pyver
syn=$cache/wheels-syn
if [ "$only_conda" = 0 ]; then
	if [ ! -f "$sci/.complete" ]; then
		say "downloading the scientific stack from PyPI into $sci"
		rm -rf "$sci"
		"$python" -m pip download --disable-pip-version-check --quiet --only-binary=:all: --dest "$sci" \
			numpy scipy pandas matplotlib scikit-learn
		touch "$sci/.complete"
	fi
	say "writing the synthetic wheels (~1k, 5k, 20k, 100k files once installed with bytecode)"
	(cd "$repo" && go run ./bench/mkwheels -dir "$syn" syn1k=500 syn5k=2500 syn20k=10000 syn100k=50000)
fi

# The torch stack: what `pip install torch` downloads for this interpreter.
torch_whl=$cache/wheels-torch-$pyver
want_torch=1
case " $* " in
*" --cases "*) case " $* " in *torch* | *mount* | *size* | *" all "*) ;; *) want_torch=0 ;; esac ;;
*" --quick "*) want_torch=0 ;;
esac
if [ "$want_torch" = 1 ] && [ ! -f "$torch_whl/.complete" ]; then
	say "downloading torch and its dependencies from PyPI into $torch_whl (about 2.8 GB, once)"
	rm -rf "$torch_whl"
	"$python" -m pip download --disable-pip-version-check --quiet --only-binary=:all: --dest "$torch_whl" torch
	touch "$torch_whl/.complete"
fi
# senv builds it from a PEP 503 index of that wheelhouse with each wheel's
# sha256 on its page, as from PyPI (see bench/mkindex.py)
torch_index=$cache/index-torch-$pyver
if [ "$want_torch" = 1 ]; then
	"$python" "$repo/bench/mkindex.py" "$torch_whl" "$torch_index"
fi

# The herd simulates one node per task with a private mount namespace, so
# each task has its own stage dir at the same path, as on a real cluster.
unshare_cmd=""
probe=$(mktemp -d "$scratch/probe.XXXXXX")
for candidate in "unshare -m" "unshare -rm"; do
	# shellcheck disable=SC2086,SC2016 # the candidate is a command and its flags; $0 is sh's
	if command -v unshare >/dev/null &&
		$candidate sh -c 'mount -t tmpfs senv-bench "$0"' "$probe" 2>/dev/null; then
		unshare_cmd=$candidate
		break
	fi
done
rmdir "$probe"
[ -n "$unshare_cmd" ] || say "no mount namespaces here: the herd runs as 16 tasks on one node"

out=$cache/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
say "scratch $scratch ($(stat -f -c %T "$scratch")), second scratch ${tmpfs:-none}, results in $out"
cd "$repo"
exec "$python" bench/bench.py "$@" \
	--senv "$cache/bin/senv" --python "$python" --uv "$uv" --repo "$repo" \
	--bench-cache "$cache" --work "$scratch" --out "$out" \
	--wheels-sci "$sci" --wheels-syn "$syn" --wheels-torch "$torch_whl" --index-torch "file://$torch_index/simple" --tmpfs "$tmpfs" --unshare "$unshare_cmd" \
	--micromamba "$micromamba" --conda-channel "$conda_channel"
