#!/usr/bin/env python3
"""Time each core variant of one genmix installation on the EM and GAN workloads, in one run.

genmix ships one build of its C++ core per instruction-set level (sse42 = x86-64-v2,
avx2 = x86-64-v3, avx512 = x86-64-v4; `native` too when built with
GENMIX_VARIANTS="sse42;avx2;avx512;native"). This script starts one worker process per
variant (GENMIX_CORE=<variant>), gives every worker the same data, and interleaves the
timed runs round by round (variant A, B, C, then A, B, C again...), so that a busy or
throttled moment of a shared machine hits every variant alike. It prints the median over
the rounds and each variant's ratio to the first one listed.

Timed: one EM iteration (a warm-started fit of `iters` iterations divided by `iters`, as
in bench_gmm.py), a whole default fit (fit-*: initialisation included), and one GAN
training step (D step + G step, as in bench_gan.py).

Usage:
    python bench/bench_variants.py                         # every variant this CPU runs
    python bench/bench_variants.py --variants native,avx512,avx2 --rounds 7
    python bench/bench_variants.py --only full-200k,toy --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> what the worker builds (kind, parameters)
WORKLOADS = {
    "full-200k": ("gmm", dict(cov="full", n=200_000, d=16, k=16, dtype="float64", iters=5)),
    "full-200k-f32": ("gmm", dict(cov="full", n=200_000, d=16, k=16, dtype="float32", iters=5)),
    "full-100k-d64": ("gmm", dict(cov="full", n=100_000, d=64, k=32, dtype="float64", iters=2)),
    "diag-1M": ("gmm", dict(cov="diag", n=1_000_000, d=32, k=64, dtype="float64", iters=2)),
    "full-20k-d2": ("gmm", dict(cov="full", n=20_000, d=2, k=8, dtype="float64", iters=100)),
    # what a user runs: GaussianMixture(k, random_state=0).fit(X) with the defaults (k-means
    # initialisation included), timed whole
    "fit-full-200k": ("fit", dict(cov="full", n=200_000, d=16, k=16, dtype="float64")),
    "toy": ("gan", dict(latent=2, hidden=(128, 128), dim=2, batch=512, penalty=None, steps=50)),
    "toy-r1": ("gan", dict(latent=2, hidden=(128, 128), dim=2, batch=512, penalty="r1", steps=50)),
    "medium": ("gan", dict(latent=64, hidden=(512, 512), dim=64, batch=256, penalty=None, steps=20)),
    "large": ("gan", dict(latent=100, hidden=(1024, 1024), dim=784, batch=128, penalty=None, steps=10)),
}


# ---------------------------------------------------------------------------- worker side


def _worker(threads):
    """Reads workload names on stdin, answers the seconds of one timed run on stdout."""
    import time
    import warnings

    import numpy as np

    sys.path.insert(0, HERE)
    import bench_gmm  # the same data and start model as the GMM benchmark

    import genmix
    from genmix import _core

    ready = {}

    def prepare(name):
        kind, w = WORKLOADS[name]
        if kind == "gmm":
            X = bench_gmm.make_data(w["n"], w["d"], w["k"], w["cov"], w["dtype"])
            start = bench_gmm.start_model(X, w, threads)

            def run():
                return bench_gmm.genmix_run(X, start, w["iters"], threads)
        elif kind == "fit":
            X = bench_gmm.make_data(w["n"], w["d"], w["k"], w["cov"], w["dtype"])

            def run():
                gm = genmix.GaussianMixture(w["k"], covariance_type=w["cov"], random_state=0, n_threads=threads)
                t = time.perf_counter()
                gm.fit(X)
                return time.perf_counter() - t
        else:
            X = np.random.RandomState(0).normal(size=(4096, w["dim"])).astype(np.float32)
            gan = genmix.GAN(latent_dim=w["latent"], generator_hidden=w["hidden"], discriminator_hidden=w["hidden"],
                             activation="relu", loss="non-saturating", penalty=w["penalty"], penalty_weight=10.0,
                             update="alternating", optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999),
                             batch_size=w["batch"], n_steps=w["steps"], ema=None, calibration_steps=0,
                             random_state=0, n_threads=threads, log_every=w["steps"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gan.fit(X)  # warm-up

            def run():
                t = time.perf_counter()
                gan.fit(X, resume=True)
                return (time.perf_counter() - t) / w["steps"]
        run()  # warm-up
        return run

    print(json.dumps({"variant": _core.variant}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        if name not in ready:
            ready[name] = prepare(name)
        print(json.dumps({"seconds": ready[name]()}), flush=True)


# ---------------------------------------------------------------------------- parent side


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=None, help="comma-separated (default: every variant this CPU runs)")
    p.add_argument("--only", default=None, help="comma-separated workloads (default: all)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args.threads)
        return

    import platform

    import genmix
    from genmix import _core

    variants = args.variants.split(",") if args.variants else [
        v for v in ("native", "avx512", "avx2", "sse42", "generic")
        if v in _core.built_variants() and (v == "native" or _core.runs_here(v))]
    names = args.only.split(",") if args.only else list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            p.error(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    print(f"genmix {genmix.__version__}; CPU: {cpu}; features: "
          f"{' '.join(k for k, v in _core.cpu_features().items() if v)}")
    print(f"{args.threads} threads, median of {args.rounds} interleaved rounds; ratio = time / time of {variants[0]}")

    workers = {}
    for v in variants:
        env = dict(os.environ, GENMIX_CORE=v)
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(args.threads)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(proc.stdout.readline())
        assert hello["variant"] == v, hello
        workers[v] = proc

    def ask(v, name):
        workers[v].stdin.write(name + "\n")
        workers[v].stdin.flush()
        return json.loads(workers[v].stdout.readline())["seconds"]

    header = f"{'workload':<15}" + "".join(f"{v:>12}" for v in variants) + "".join(
        f"{v + '/' + variants[0]:>16}" for v in variants[1:])
    print(header)
    try:
        for name in names:
            for v in variants:  # set-up and warm-up outside the timed rounds
                ask(v, name)
            times = {v: [] for v in variants}
            for _ in range(args.rounds):
                for v in variants:
                    times[v].append(ask(v, name))
            med = {v: statistics.median(t) for v, t in times.items()}
            unit = {"gmm": "ms/it", "fit": "ms/fit", "gan": "ms/step"}[WORKLOADS[name][0]]
            scale = 1e3
            row = f"{name:<15}" + "".join(f"{med[v] * scale:12.2f}" for v in variants)
            row += "".join(f"{med[v] / med[variants[0]]:16.3f}" for v in variants[1:])
            print(row + f"   ({unit})", flush=True)
    finally:
        for proc in workers.values():
            proc.stdin.close()
            proc.wait()


if __name__ == "__main__":
    main()
