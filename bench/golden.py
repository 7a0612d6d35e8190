"""Golden hashes: a fingerprint of every fitted result, to show that a refactoring changed
no bit.

    python bench/golden.py record golden.json    # on the old tree
    python bench/golden.py check golden.json     # on the new tree, same machine
    python bench/golden.py check golden.json --verbose   # list every case

Covers GaussianMixture (covariance type x soft/hard EM x {plain, sample_weight,
semi-supervised, missing values} x {float32, float64} x {1, 2, 3 threads}: fitted
parameters and lower_bounds_, plus score_samples and predict_proba on the training rows),
CategoricalMixture, GaussianMixtureClassifier, MLP gradients (forward, backward, input
gradient penalty) and GAN states after a few training steps.

The hashes depend on the core variant (instruction set and vector width), so the file
records the variant and `check` refuses a file made by another one; they are not constants
for the test suite. `check` exits with status 1 when any case differs.
"""

import argparse
import hashlib
import json
import sys
import warnings

import numpy as np

import genmix
from genmix import GAN, CategoricalMixture, GaussianMixture, GaussianMixtureClassifier
from genmix import _core
from genmix.nn import MLP

THREADS = (1, 2, 3)


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def gmm_data(dtype, rng):
    X = rng.normal(size=(3000, 5))
    X[:1000] += 4.0
    X[1000:2000, :2] -= 3.0
    return X.astype(dtype)


def gmm_cases():
    for cov in ("full", "tied", "diag", "spherical"):
        for algorithm in ("soft", "hard"):
            for kind in ("plain", "weights", "semi", "missing"):
                for dtype in (np.float32, np.float64):
                    for n_threads in THREADS:
                        yield cov, algorithm, kind, dtype, n_threads


def gmm_case(cov, algorithm, kind, dtype, n_threads):
    rng = np.random.default_rng(0)
    X = gmm_data(dtype, rng)
    kwargs = dict(covariance_type=cov, algorithm=algorithm, random_state=0, n_threads=n_threads, max_iter=30)
    fit = {}
    if kind == "weights":
        fit["sample_weight"] = rng.uniform(0.0, 3.0, size=len(X))
    elif kind == "semi":
        kwargs["semi_supervised"] = True
        y = np.full(len(X), -1)
        y[:50], y[1000:1050], y[2000:2050] = 0, 1, 2
        fit["y"] = y
    elif kind == "missing":
        kwargs["missing"] = "em"
        X = X.copy()
        X[rng.random(X.shape) < 0.1] = np.nan
        X[:, 0] = np.where(np.isnan(X[:, 0]), 0.5, X[:, 0])  # every row keeps an observed feature
    g = GaussianMixture(3 if kind == "semi" else 4, **kwargs).fit(X, **fit)
    Xe = np.nan_to_num(X) if kind == "missing" else X
    return digest(g.weights_, g.means_, g.covariances_, g.precisions_cholesky_, np.array(g.lower_bounds_),
                  g.score_samples(Xe), g.predict_proba(Xe))


def other_cases():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, size=(2000, 6))
    codes[:1000, :3] = rng.integers(0, 2, size=(1000, 3))
    for n_threads in THREADS:
        for algorithm in ("soft", "hard"):
            m = CategoricalMixture(3, algorithm=algorithm, random_state=0, n_threads=n_threads).fit(codes)
            yield (f"categorical {algorithm} threads={n_threads}",
                   lambda m=m: digest(m.weights_, *m.category_probabilities_, np.array(m.lower_bounds_),
                                      m.predict_proba(codes)))
    X = gmm_data(np.float64, np.random.default_rng(2))
    y = (np.arange(len(X)) // 1000).astype(int)
    for n_threads in THREADS:
        clf = GaussianMixtureClassifier(n_components=2, random_state=0, n_threads=n_threads).fit(X, y)
        yield f"classifier threads={n_threads}", lambda clf=clf: digest(clf.predict_proba(X))
    for dtype in (np.float32, np.float64):
        for n_threads in THREADS:
            def nn_case(dtype=dtype, n_threads=n_threads):
                net = MLP((5, 64, 32, 1), activation="leaky_relu", dtype=dtype, random_state=0)
                Xn = np.random.default_rng(3).normal(size=(300, 5)).astype(dtype)
                out = net.forward(Xn, n_threads=n_threads)
                grads = net.backward(Xn, np.ones_like(out) / len(Xn), n_threads=n_threads)
                pen = net.input_gradient_penalty(Xn, center=1.0, n_threads=n_threads)
                return digest(out, *_flatten(grads), *_flatten(pen))
            yield f"mlp {np.dtype(dtype).name} threads={n_threads}", nn_case
    for n_threads in THREADS:
        for update in ("alternating", "simultaneous"):
            def gan_case(n_threads=n_threads, update=update):
                Xg = np.random.default_rng(4).normal(size=(500, 2))
                gan = GAN(generator_hidden=(32,), discriminator_hidden=(32,), n_steps=60, batch_size=64,
                          update=update, calibration_steps=20, random_state=0, n_threads=n_threads).fit(Xg)
                state = gan._state
                return digest(*(state[k] for k in sorted(state)), *(gan.history_[k] for k in sorted(gan.history_)),
                              gan.sample(50, random_state=0, rejection=False))
            yield f"gan {update} threads={n_threads}", gan_case


def _flatten(value):
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _flatten(value[k])]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _flatten(v)]
    return [np.asarray(value)]


def compute():
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in gmm_cases():
            cov, algorithm, kind, dtype, n_threads = case
            name = f"gmm {cov} {algorithm} {kind} {np.dtype(dtype).name} threads={n_threads}"
            results[name] = gmm_case(*case)
        for name, fn in other_cases():
            results[name] = fn()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("path")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    results = compute()
    meta = {"variant": _core.variant, "genmix": genmix.__version__, "numpy": np.__version__}
    if args.action == "record":
        with open(args.path, "w") as f:
            json.dump({"meta": meta, "hashes": results}, f, indent=1, sort_keys=True)
        print(f"recorded {len(results)} cases ({meta['variant']} core) to {args.path}")
        return 0
    with open(args.path) as f:
        golden = json.load(f)
    if golden["meta"]["variant"] != meta["variant"]:
        print(f"{args.path} was recorded with the {golden['meta']['variant']} core; this is {meta['variant']} "
              "(set GENMIX_CORE to match)", file=sys.stderr)
        return 2
    old = golden["hashes"]
    differ = sorted(k for k in old if k in results and old[k] != results[k])
    missing, new = sorted(set(old) - set(results)), sorted(set(results) - set(old))
    for k in sorted(results) if args.verbose else differ:
        print(f"{'DIFFERS' if k in differ else 'same   '} {k}")
    for k in missing:
        print(f"MISSING {k}")
    print(f"{len(old) - len(differ) - len(missing)} of {len(old)} cases identical; {len(differ)} differ, "
          f"{len(missing)} missing, {len(new)} new")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
