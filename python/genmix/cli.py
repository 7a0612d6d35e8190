"""Command line: `genmix demo` fits Gaussian mixtures to the bundled Old Faithful data;
`genmix info` (or `python -m genmix --info`) prints the build and the core variant in use."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np


def demo(max_k: int = 4, covariance_type: str = "full", algorithm: str = "soft", seed: int = 0) -> None:
    from . import ConvergenceWarning, GaussianMixture, _core
    from .datasets import load_faithful

    max_k = _check_max_k(max_k)

    X, names = load_faithful(return_feature_names=True)
    print(f"Old Faithful eruptions: {X.shape[0]} rows, features {', '.join(names)}")
    print(f"GaussianMixture(covariance_type={covariance_type!r}, algorithm={algorithm!r}, n_init=5), "
          f"C++ core {_core.variant} with OpenMP: {_core.has_openmp}\n")
    print(f"{'k':>2} {'log-lik/row':>12} {'BIC':>10} {'AIC':>10} {'iters':>5} {'time ms':>8}")
    rows = []
    for k in range(1, max_k + 1):
        gm = GaussianMixture(k, covariance_type=covariance_type, algorithm=algorithm, n_init=5, random_state=seed)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        ms = 1e3 * (time.perf_counter() - t)
        rows.append((gm.bic(X), k, gm))
        print(f"{k:>2} {gm.score(X):>12.4f} {gm.bic(X):>10.2f} {gm.aic(X):>10.2f} {gm.n_iter_:>5} {ms:>8.2f}")
    _, k, best = min(rows, key=lambda r: r[0])
    print(f"\nBest by BIC: k={k}")
    np.set_printoptions(precision=4, suppress=True)
    for j in np.argsort(best.means_[:, 0]):
        print(f"  weight {best.weights_[j]:.3f}  mean {best.means_[j]}  std {np.sqrt(_variances(best, j))}")


def _variances(gm, j):
    """Per-feature variances of component j, whatever the covariance type."""
    cov, d = gm.covariances_, gm.means_.shape[1]
    return {
        "full": lambda: np.diag(cov[j]),
        "tied": lambda: np.diag(cov),
        "diag": lambda: cov[j],
        "spherical": lambda: np.full(d, cov[j]),
    }[gm.covariance_type]()


# The Old Faithful data has 272 rows and 2 features; beyond a few components BIC only grows.
MAX_DEMO_K = 20


def _check_max_k(max_k):
    from ._validation import as_int

    max_k = as_int(max_k, "max_k", 1)
    if max_k > MAX_DEMO_K:
        raise ValueError(f"max_k must be <= {MAX_DEMO_K}, got {max_k}")
    return max_k


def _max_k(text):
    """argparse type of --max-k: a usage error (no traceback) outside 1 .. MAX_DEMO_K."""
    try:
        return _check_max_k(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="genmix", description=__doc__)
    parser.add_argument("--info", action="store_true", help="print the build and core variant, then exit")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the build: core variant (instruction set), vector width, OpenMP, threads")
    p = sub.add_parser("demo", help="fit mixtures with k = 1..max-k to the Old Faithful data")
    p.add_argument("--max-k", type=_max_k, default=4, help=f"largest k, 1 .. {MAX_DEMO_K} (default 4)")
    p.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--algorithm", default="soft", choices=["soft", "hard"])
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.info or args.command == "info":
        from ._config import show_config

        show_config()
        return 0
    if args.command is None:
        parser.error("a command is required (demo, info)")
    if args.command == "demo":
        demo(args.max_k, args.covariance_type, args.algorithm, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
