#!/usr/bin/env python3
"""Benchmark one EM iteration of genmix.GaussianMixture against NumPy and scikit-learn.

For every workload (a random Gaussian mixture, fixed seed) the script reports the time
of one EM iteration (median and min over --repeats) for:

* genmix: ``fit`` with ``warm_start=True, tol=0, max_iter=m`` from fixed parameters,
  divided by m. With warm start, ``GaussianMixture._fit`` skips all initialisation and
  ``_core.gmm.em_fit`` runs exactly m iterations of (one streaming statistics pass +
  M-step), with no final E-step. The only per-call extras are O(n*d) passes (the
  finiteness check of X and the column mean), amortised over the m iterations.
* numpy: ``genmix.reference.e_step`` followed by ``genmix.reference.m_step``.
* sklearn (if installed): ``gm._e_step(X)`` followed by ``gm._m_step(X, log_resp)`` on a
  scikit-learn GaussianMixture holding the same parameters: exactly one sklearn EM
  iteration.

All three start from the same parameters: those of a genmix fit with max_iter=1 and
init_params='random_from_data'. For full covariances it also reports the achieved
GFLOP/s (4*n*k*d^2 per iteration) next to NumPy's matmul GFLOP/s measured in the same
process, and, in a fresh child process, the peak memory beyond X of a genmix fit
(init_params='kmeans', max_iter=2) on diag-1M.

The script never changes environment variables; it prints the BLAS/OpenMP ones, since
e.g. OPENBLAS_CORETYPE may be set on a machine and slow NumPy down.

With --variants it times instead, on full-200k only, one genmix EM iteration in four
forms, interleaved: plain; semi-supervised (semi_supervised=True, labels on 10% of the
rows, the others -1); weighted (sample_weight uniform in [0.5, 1.5]); missing 10%
(missing="em" on a copy of X with 10% of the entries set to NaN completely at random,
fixed seed); and prints each one's ratio to the plain iteration (issue 4's targets:
<= 1.2x semi-supervised and weighted, <= 3x missing). All four start from the same
parameters. Per-call O(n) extras (label, weight and NaN-pattern validation) are amortised
over the m iterations as above.

Usage:
    python bench/bench_gmm.py                      # everything, ~10-20 minutes on 2 cores
    python bench/bench_gmm.py --variants           # semi-supervised / weighted / missing vs plain, full-200k
    python bench/bench_gmm.py --quick              # n / 20, smoke test
    python bench/bench_gmm.py --only full-200k --repeats 3 --no-reference
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import platform
import re
import statistics
import threading
import time
import warnings

import numpy as np

import genmix
from genmix import _core, reference

try:
    import sklearn
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:
    sklearn = None

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


# name -> covariance type, n, d, k, dtype, EM iterations per genmix fit (m)
WORKLOADS = {
    "full-200k": dict(cov="full", n=200_000, d=16, k=16, dtype="float64", iters=5),
    "full-100k-d64": dict(cov="full", n=100_000, d=64, k=32, dtype="float64", iters=3),
    "diag-1M": dict(cov="diag", n=1_000_000, d=32, k=64, dtype="float64", iters=3),
    # a ~0.5 ms iteration: 100 of them, so that the fixed cost of a fit call (validation,
    # waking the thread team) is not counted as iteration time
    "full-20k-d2": dict(cov="full", n=20_000, d=2, k=8, dtype="float64", iters=100),
    "full-200k-f32": dict(cov="full", n=200_000, d=16, k=16, dtype="float32", iters=5),
}
MEMORY_WORKLOAD = "diag-1M"
SEED = 0
PAUSE = 0.3  # seconds before each timed run: OpenBLAS worker threads busy-wait ~0.1 s after a call
ENV_VARS_RE = re.compile(r"BLAS|OMP|MKL|GOTO|NVPL|VECLIB|NUMEXPR")


# ---------------------------------------------------------------------------- data


def make_data(n, d, k, cov, dtype="float64", seed=SEED):
    """n rows from a random mixture of k Gaussians in d dimensions, rows shuffled."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(k, d))
    counts = rng.multinomial(n, rng.dirichlet(np.full(k, 5.0)))
    parts = []
    for j in range(k):
        z = rng.standard_normal((counts[j], d))
        if cov == "full":
            a = rng.normal(size=(d, d)) / np.sqrt(d)
            chol = np.linalg.cholesky(a @ a.T + 0.3 * np.eye(d))
            z = z @ chol.T
        else:
            z *= rng.uniform(0.5, 1.5, size=d)
        parts.append(z + means[j])
    X = np.concatenate(parts)
    X = X[rng.permutation(n)]
    return np.ascontiguousarray(X, dtype=dtype)


def start_model(X, w, threads):
    """A genmix model after one EM iteration from random rows: everyone starts here."""
    gm = genmix.GaussianMixture(w["k"], covariance_type=w["cov"], max_iter=1,
                                init_params="random_from_data", random_state=SEED, n_threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genmix.ConvergenceWarning)
        gm.fit(X)
    return gm


# ---------------------------------------------------------------------------- timings
# Each returns the seconds per EM iteration of one timed run from the parameters of `start`.


def genmix_run(X, start, iters, threads):
    gm = copy.deepcopy(start)
    gm.set_params(warm_start=True, tol=0.0, max_iter=iters, n_threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genmix.ConvergenceWarning)
        t0 = time.perf_counter()
        gm.fit(X)
        elapsed = time.perf_counter() - t0
    assert gm.n_iter_ == iters, gm.n_iter_
    return elapsed / iters


def reference_run(X, start):
    dt = X.dtype
    w, m, pc = (np.asarray(a, dtype=dt) for a in (start.weights_, start.means_, start.precisions_cholesky_))
    t0 = time.perf_counter()
    _, resp = reference.e_step(X, w, m, pc, start.covariance_type)
    reference.m_step(X, resp, start.covariance_type, reg_covar=start.reg_covar)
    return time.perf_counter() - t0


def sklearn_model(start, dtype):
    """A scikit-learn GaussianMixture holding the parameters of the genmix model `start`."""
    sk = SkGaussianMixture(start.n_components, covariance_type=start.covariance_type,
                           reg_covar=start.reg_covar)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        setattr(sk, name, np.array(getattr(start, name), dtype=dtype))
    sk.converged_, sk.n_iter_, sk.lower_bound_ = True, 1, start.lower_bound_
    sk.n_features_in_ = start.n_features_in_
    return sk


def sklearn_run(X, start):
    sk = sklearn_model(start, X.dtype)
    t0 = time.perf_counter()
    _, log_resp = sk._e_step(X)  # exactly one scikit-learn EM iteration
    sk._m_step(X, log_resp)
    return time.perf_counter() - t0


def with_missing_entries(X, fraction=0.1):
    """A copy of X with `fraction` of the entries set to NaN, completely at random (fixed seed)."""
    rng = np.random.default_rng(SEED + 2)
    X = X.copy()
    X[rng.random(X.shape) < fraction] = np.nan
    assert not np.isnan(X).all(axis=1).any()  # (at d=16 and 10% a row loses everything with p = 1e-16)
    return X


def variant_starts(X, start, label_fraction=0.1):
    """(semi-supervised start model, y with labels on `label_fraction` of the rows, weights)."""
    rng = np.random.default_rng(SEED + 1)
    k = start.n_components
    y = np.full(len(X), -1, dtype=np.int64)
    labelled = rng.random(len(X)) < label_fraction
    y[labelled] = start.predict(X[labelled])  # labels that agree with the start's components
    semi = copy.deepcopy(start)
    semi.set_params(semi_supervised=True)
    semi.classes_ = np.arange(k)
    semi.component_class_ = np.arange(k)
    sample_weight = rng.uniform(0.5, 1.5, len(X))
    return semi, y, sample_weight


def genmix_variant_run(X, start, iters, threads, **fit_kwargs):
    gm = copy.deepcopy(start)
    gm.set_params(warm_start=True, tol=0.0, max_iter=iters, n_threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genmix.ConvergenceWarning)
        t0 = time.perf_counter()
        gm.fit(X, **fit_kwargs)
        elapsed = time.perf_counter() - t0
    assert gm.n_iter_ == iters, gm.n_iter_
    return elapsed / iters


def time_variants(X, start, w, repeats, threads):
    """{variant: [seconds per iteration] * repeats}, variants interleaved."""
    semi, y, sample_weight = variant_starts(X, start)
    X_missing = with_missing_entries(X)
    missing = copy.deepcopy(start)
    missing.set_params(missing="em")
    runs = {
        "plain": lambda: genmix_variant_run(X, start, w["iters"], threads),
        "semi-supervised 10%": lambda: genmix_variant_run(X, semi, w["iters"], threads, y=y),
        "weighted": lambda: genmix_variant_run(X, start, w["iters"], threads, sample_weight=sample_weight),
        "missing 10%": lambda: genmix_variant_run(X_missing, missing, w["iters"], threads),
    }
    for run in runs.values():  # warm-up
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(PAUSE)
            times[name].append(run())
    return times


def main_variants(args):
    w = dict(WORKLOADS["full-200k"])
    if args.quick:
        w["n"] //= 20
    print("\n".join(machine_info(args.threads)))
    idle_before = cpu_idle_percent()
    print(f"[full-200k variants] cov={w['cov']} n={w['n']} d={w['d']} k={w['k']} {w['dtype']}, m={w['iters']}, "
          f"repeats={args.repeats}; ms per EM iteration, median / min", flush=True)
    X = make_data(w["n"], w["d"], w["k"], w["cov"], w["dtype"])
    start = start_model(X, w, args.threads)
    res = time_variants(X, start, w, args.repeats, args.threads)
    idle_after = cpu_idle_percent()
    rows = [[name, ms(t), f"{statistics.median(t) / statistics.median(res['plain']):.2f}x"]
            for name, t in res.items()]
    print()
    print_table(["variant", "genmix ms/it", "ratio to plain (median)"], rows)
    print(f"CPU idle over 1 s at start {_pct(idle_before)}, at end {_pct(idle_after)} "
          "(lower values mean other users loaded the machine)")


def time_workload(X, start, w, impls, repeats, threads):
    """{impl: [seconds per iteration] * repeats}. The repeats of the implementations are
    interleaved, so that a change of machine load hits all of them alike."""
    runs = {
        "genmix": lambda Xs: genmix_run(Xs, start, w["iters"], threads),
        "numpy": lambda Xs: reference_run(Xs, start),
        "sklearn": lambda Xs: sklearn_run(Xs, start),
    }
    for impl in impls:  # untimed warm-up on a slice: lazy imports, thread pools
        runs[impl](X[:2000])
    times = {impl: [] for impl in impls}
    for _ in range(repeats):
        for impl in impls:
            time.sleep(PAUSE)  # let the previous run's spinning BLAS/OpenMP threads go idle
            times[impl].append(runs[impl](X))
    return times


def matmul_gflops(size=2048, repeats=3):
    """Best-of-`repeats` GFLOP/s of a size x size float64 NumPy matmul."""
    a = np.random.default_rng(1).standard_normal((size, size))
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def cpu_idle_percent(seconds=1.0):
    """Idle share of all CPUs over `seconds` while this process sleeps (Linux): what other
    users leave free. None where /proc/stat is missing."""
    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values[:8])  # idle + iowait, total (without guest)
    try:
        idle0, total0 = snapshot()
        time.sleep(seconds)
        idle1, total1 = snapshot()
    except OSError:
        return None
    return 100.0 * (idle1 - idle0) / max(total1 - total0, 1)


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------- memory


def _rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_child(impl, w, threads):
    """Runs in a fresh process: peak RSS growth during one fit, beyond X and imports."""
    if threads and threadpoolctl:
        threadpoolctl.threadpool_limits(threads)
    X = make_data(w["n"], w["d"], w["k"], w["cov"], w["dtype"])
    kwargs = dict(covariance_type=w["cov"], init_params="kmeans", max_iter=2, random_state=SEED)
    if impl == "genmix":
        make = lambda k: genmix.GaussianMixture(k, n_threads=threads, **kwargs)  # noqa: E731
    else:
        make = lambda k: SkGaussianMixture(k, **kwargs)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make(2).fit(X[:1000])  # warm-up: load code, start thread pools
        baseline = _rss_bytes()
        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _rss_bytes())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        make(w["k"]).fit(X)
        elapsed = time.perf_counter() - t0
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _rss_bytes())
    return dict(x_mb=X.nbytes / 2**20, extra_mb=(peak[0] - baseline) / 2**20, seconds=elapsed)


def measure_memory(impl, w, threads):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_memory_child, (impl, w, threads))


# ---------------------------------------------------------------------------- report


def machine_info(threads):
    lines = []
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    lines.append(f"CPU: {cpu} ({platform.machine()}), nproc={len(os.sched_getaffinity(0))}, "
                 f"os.cpu_count()={os.cpu_count()}")
    lines.append(f"Python {platform.python_version()}, numpy {np.__version__}, "
                 f"scikit-learn {sklearn.__version__ if sklearn else 'not installed'}, "
                 f"threadpoolctl {threadpoolctl.__version__ if threadpoolctl else 'not installed'}")
    lines.append(f"genmix {genmix.__version__}: OpenMP {'on' if _core.has_openmp else 'OFF'}, "
                 f"n_threads={threads if threads else 'None (all cores / OMP_NUM_THREADS)'}")
    if threadpoolctl:
        for info in threadpoolctl.threadpool_info():
            lines.append(f"  threadpool: {info['user_api']}/{info['internal_api']} "
                         f"{info.get('version') or ''} arch={info.get('architecture', '-')} "
                         f"num_threads={info['num_threads']} ({os.path.basename(info['filepath'])})")
    env = {k: v for k, v in os.environ.items() if ENV_VARS_RE.search(k)}
    env.setdefault("OPENBLAS_CORETYPE", "<unset>")
    lines.append("env: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())))
    lines.append("  (note: OPENBLAS_CORETYPE may be set on this machine and slows NumPy; "
                 "this script does not change env vars)")
    return lines


def _pct(value):
    return "?" if value is None else f"{value:.0f}%"


def ms(times):
    return f"{1e3 * statistics.median(times):.1f} / {1e3 * min(times):.1f}" if times else "-"


def ratio(slow, fast):
    return f"{statistics.median(slow) / statistics.median(fast):.1f}x" if slow and fast else "-"


def print_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  ".join(str(x).rjust(wd) for x, wd in zip(row, widths))  # noqa: E731
    print(fmt(header))
    print("  ".join("-" * wd for wd in widths))
    for row in rows:
        print(fmt(row))


# ---------------------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=list(WORKLOADS), metavar="NAME",
                   help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per implementation (default 5)")
    p.add_argument("--quick", action="store_true", help="divide every n by 20 (smoke test)")
    p.add_argument("--threads", type=int, default=None,
                   help="genmix n_threads, and the BLAS thread limit via threadpoolctl (default: all cores)")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    p.add_argument("--no-reference", action="store_true", help="skip the NumPy reference")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--variants", action="store_true",
                   help="only time plain vs semi-supervised (10%% labels) vs weighted vs missing (10%% NaN) EM "
                        "on full-200k")
    p.add_argument("--sklearn-memory", action="store_true",
                   help="also measure scikit-learn's fit memory (slow: n x k float64 arrays)")
    return p.parse_args()


def main():
    args = parse_args()
    if args.variants:
        limiter = threadpoolctl.threadpool_limits(args.threads) if args.threads and threadpoolctl else None
        main_variants(args)
        if limiter is not None:
            limiter.restore_original_limits()
        return
    impls = ["genmix"] + ([] if args.no_reference else ["numpy"])
    impls += [] if sklearn is None or args.no_sklearn else ["sklearn"]
    names = args.only or list(WORKLOADS)
    workloads = {name: dict(WORKLOADS[name]) for name in names}
    if args.quick:
        for w in workloads.values():
            w["n"] //= 20

    limiter = None
    if args.threads and threadpoolctl:
        limiter = threadpoolctl.threadpool_limits(args.threads)
    elif args.threads:
        print("note: threadpoolctl not installed, --threads does not limit NumPy's BLAS")

    print("\n".join(machine_info(args.threads)))
    idle_before = cpu_idle_percent()
    peak_before = matmul_gflops()
    print(f"NumPy float64 matmul 2048x2048, best of 3: {peak_before:.1f} GFLOP/s")
    print(f"repeats={args.repeats}{' (QUICK: n/20)' if args.quick else ''}; "
          "times are ms per EM iteration, median / min\n")

    results = {}
    for name, w in workloads.items():
        print(f"[{name}] cov={w['cov']} n={w['n']} d={w['d']} k={w['k']} {w['dtype']} ...", flush=True)
        X = make_data(w["n"], w["d"], w["k"], w["cov"], w["dtype"])
        start = start_model(X, w, args.threads)
        res = time_workload(X, start, w, impls, args.repeats, args.threads)
        for impl, times in res.items():
            print(f"    {impl:8s}{ms(times)} ms", flush=True)
        results[name] = res
        del X, start
    peak_after = matmul_gflops()
    idle_after = cpu_idle_percent()

    header = ["workload", "cov", "n", "d", "k", "dtype", "m", "genmix ms/it", "numpy ms/it", "sklearn ms/it",
              "speedup/sklearn", "speedup/numpy", "genmix GFLOP/s", "matmul GFLOP/s"]
    rows = []
    for name, w in workloads.items():
        res = results[name]
        gflops = matmul = "-"
        if w["cov"] == "full":
            gflops = f"{4 * w['n'] * w['k'] * w['d'] ** 2 / statistics.median(res['genmix']) / 1e9:.1f}"
            matmul = f"{peak_before:.1f}"
        rows.append([name, w["cov"], w["n"], w["d"], w["k"], w["dtype"], w["iters"], ms(res["genmix"]),
                     ms(res.get("numpy")), ms(res.get("sklearn")), ratio(res.get("sklearn"), res["genmix"]),
                     ratio(res.get("numpy"), res["genmix"]), gflops, matmul])
    print()
    print_table(header, rows)
    print("(ms/it: median / min over repeats; speedup/X: X's median time / genmix's median time; "
          "GFLOP/s = 4*n*k*d^2 / median time)")
    print(f"NumPy matmul GFLOP/s at start {peak_before:.1f}, at end {peak_after:.1f}; CPU idle over 1 s at start "
          f"{_pct(idle_before)}, at end {_pct(idle_after)} (lower values mean other users loaded the machine)")

    if "full-200k" in results and "full-200k-f32" in results:
        for impl in results["full-200k"]:
            t64, t32 = results["full-200k"][impl], results["full-200k-f32"].get(impl)
            if t32:
                print(f"float64/float32 time ratio on full-200k, {impl}: "
                      f"{statistics.median(t64) / statistics.median(t32):.2f}")

    if not args.no_memory:
        w = dict(WORKLOADS[MEMORY_WORKLOAD])
        if args.quick:
            w["n"] //= 20
        impls = ["genmix"] + (["sklearn"] if args.sklearn_memory and sklearn is not None else [])
        print(f"\nPeak memory beyond X during fit(init_params='kmeans', max_iter=2) on {MEMORY_WORKLOAD} "
              f"(n={w['n']}), fresh process, VmRSS sampled every 5 ms:")
        for impl in impls:
            mem = measure_memory(impl, w, args.threads)
            print(f"  {impl:8s} X = {mem['x_mb']:.0f} MB, peak beyond X = {mem['extra_mb']:.1f} MB "
                  f"(fit took {mem['seconds']:.1f} s)")

    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
