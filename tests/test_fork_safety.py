"""Fork safety: a child process forked after the parent ran a parallel (OpenMP) call must not
hang. Such a child runs the core on one thread (one RuntimeWarning); results are the same bits.

Each scenario runs in its own Python process with a hard timeout, so a hang fails the test
instead of hanging the suite. The parent always fits on 2 threads first (which starts
libgomp's thread pool), then starts children that fit; every child's result must equal the
parent's fit of the same data bit for bit.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

TIMEOUT_S = 90

SCRIPT = textwrap.dedent('''
    import multiprocessing, os, pickle, sys, warnings
    import numpy as np
    from genmix import GAN, GaussianMixture, _core

    X = np.random.default_rng(0).normal(size=(4000, 3))
    X[:2000] += 4.0


    def fit(n_threads=None):
        """(means, labels, fork warnings) of a fit and predict in this process."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gm = GaussianMixture(3, random_state=0, n_threads=n_threads).fit(X)
            labels = gm.predict(X)
        n_warn = sum(issubclass(w.category, RuntimeWarning) and "forked" in str(w.message) for w in caught)
        return gm.means_, labels, n_warn


    def fit_gan(n_threads=None):
        gan = GAN(generator_hidden=(16,), discriminator_hidden=(16,), batch_size=64, n_steps=60,
                  calibration_steps=(20,), random_state=0, n_threads=n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gan.fit(X[:500])
        return gan.sample(50, random_state=1)


    def in_fork(fn, *args):
        """fn(*args) in a bare os.fork() child, its result sent back through a pipe."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(w, pickle.dumps((fn(*args), _core.forked_child())))
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        assert os.waitpid(pid, 0)[1] == 0
        return pickle.loads(data)


    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))


    def pool_fits(ctx, forked):
        with multiprocessing.get_context(ctx).Pool(2) as pool:
            results = pool.map(fit, [None, None, 1])
        assert all(same(res, ref) for res in results)
        # a forked worker warns once, whatever number of fits it runs
        n_warn = sum(res[2] for res in results)
        assert (1 <= n_warn <= 2) if forked else n_warn == 0, (ctx, n_warn)


    if __name__ == "__main__":
        scenario = sys.argv[1]
        ref = fit(2)  # starts the parent's OpenMP thread pool
        assert ref[2] == 0 and not _core.forked_child()
        if scenario == "bare_fork":
            for nt, n_warn in ((None, 1), (1, 0), (2, 1)):
                res, forked = in_fork(fit, nt)
                assert forked and same(res, ref) and res[2] == n_warn, (nt, res[2])
            # a grandchild (fork of the forked child) is just as safe
            (res, forked_grandchild), forked = in_fork(in_fork, fit)
            assert forked and forked_grandchild and same(res, ref) and res[2] == 1
        elif scenario == "pools":
            pool_fits("fork", True)
            pool_fits("forkserver", False)
            pool_fits("spawn", False)
        elif scenario == "joblib":
            from joblib import Parallel, delayed, parallel_backend
            from sklearn.model_selection import GridSearchCV
            for backend in ("loky", "multiprocessing"):
                results = Parallel(n_jobs=2, backend=backend)(delayed(fit)() for _ in range(3))
                assert all(same(res, ref) for res in results)
                n_warn = sum(res[2] for res in results)
                assert (1 <= n_warn <= 2) if backend == "multiprocessing" else n_warn == 0, (backend, n_warn)
            grid = {"n_components": [1, 2, 3]}
            serial = GridSearchCV(GaussianMixture(random_state=0), grid, cv=2).fit(X)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # raised in the workers, not here
                with parallel_backend("multiprocessing"):
                    par = GridSearchCV(GaussianMixture(random_state=0), grid, cv=2, n_jobs=2).fit(X)
            assert np.array_equal(serial.cv_results_["mean_test_score"], par.cv_results_["mean_test_score"])
        elif scenario == "gan":
            ref_gan = fit_gan(2)
            res, forked = in_fork(fit_gan)
            assert forked and np.array_equal(res, ref_gan)
        else:
            raise SystemExit(f"unknown scenario {scenario}")
        print("ok")
''')


@pytest.mark.parametrize("scenario", ["bare_fork", "pools", "joblib", "gan"])
def test_child_after_parallel_parent(scenario, tmp_path):
    script = tmp_path / "fork_scenario.py"  # a file, so that spawn / forkserver can import it
    script.write_text(SCRIPT)
    # its own session, so that a hang is ended with every child it forked
    proc = subprocess.Popen([sys.executable, str(script), scenario], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"scenario {scenario!r} hung (no result in {TIMEOUT_S} s)")
    assert proc.returncode == 0, err
    assert err == ""  # no stray output: the one warning per child was caught and counted
    assert out == "ok\n"


def test_no_fork_flag_without_fork():
    from genmix import _core

    assert _core.forked_child() is False
